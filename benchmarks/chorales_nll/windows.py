"""Training and evaluation windows over whole-chorale sequences (numpy only).

Every window starts at a step boundary: at BOS (token 0) or at token 4k, the bass of step k - 1,
so that the first target is always a soprano and window position p always predicts voice p % 4.
That keeps the meaning of absolute positions the same in training and evaluation, which the
learned-position Transformer needs; windows never cross from one chorale into the next.

Evaluation scores every voice token exactly once (BOS, EOS and padding are never scored). A
chorale that fits in one window is scored with full left context from its start; a longer one is
covered by windows `stride` tokens apart, each scoring only the targets the previous window did
not reach, so every target keeps at least `seq_len - stride` tokens of left context.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.chorales_nll.data import NUM_VOICES, PAD, is_voice_token

if TYPE_CHECKING:  # numpy only at run time: the config module pulls in the models
    from symbolic.training.config import TrainConfig

Batch = dict[str, np.ndarray]  # inputs, targets: [B, T] int32; mask: [B, T] float32


def _empty(rows: int, seq_len: int) -> Batch:
    return {
        "inputs": np.full((rows, seq_len), PAD, np.int32),
        "targets": np.full((rows, seq_len), PAD, np.int32),
        "mask": np.zeros((rows, seq_len), np.float32),
    }


def train_batch(
    sequences: list[np.ndarray], batch_size: int, seq_len: int, seed: int, step: int
) -> Batch:
    """Random step-aligned windows, deterministic in (seed, step). Chorales are drawn in
    proportion to their length; every real target (voice tokens and EOS) is trained on."""
    rng = np.random.default_rng([seed, step])
    lengths = np.array([len(s) for s in sequences], np.float64)
    chosen = rng.choice(len(sequences), size=batch_size, p=lengths / lengths.sum())
    batch = _empty(batch_size, seq_len)
    for row, index in enumerate(chosen):
        sequence = sequences[index]
        last_start = max(0, len(sequence) - 1 - seq_len) // NUM_VOICES
        start = NUM_VOICES * int(rng.integers(0, last_start + 1))
        window = sequence[start : start + seq_len + 1]
        n = len(window) - 1
        batch["inputs"][row, :n] = window[:-1]
        batch["targets"][row, :n] = window[1:]
        batch["mask"][row, :n] = 1.0
    return batch


def eval_rows(sequence: np.ndarray, seq_len: int, stride: int) -> Iterator[Batch]:
    """Windows [1, seq_len] covering one sequence; the masks together select each voice target
    exactly once."""
    if stride % NUM_VOICES or not 0 < stride <= seq_len:
        raise ValueError(f"stride {stride} must be a multiple of {NUM_VOICES} in (0, seq_len]")
    last_target = len(sequence) - 1
    start, scored_up_to = 0, 0  # targets 1..scored_up_to are done
    while scored_up_to < last_target:
        window = sequence[start : start + seq_len + 1]
        n = len(window) - 1
        row = _empty(1, seq_len)
        row["inputs"][0, :n], row["targets"][0, :n] = window[:-1], window[1:]
        target_index = start + 1 + np.arange(n)  # position of each target in the sequence
        new = target_index > scored_up_to
        row["mask"][0, :n] = new & is_voice_token(window[1:])
        yield row
        scored_up_to = start + n
        start += stride


def eval_batches(
    sequences: list[np.ndarray], batch_size: int, seq_len: int, stride: int
) -> Iterator[Batch]:
    """All evaluation windows of `sequences`, in batches of `batch_size` (the last one padded
    with empty, fully masked rows)."""
    rows = [row for sequence in sequences for row in eval_rows(sequence, seq_len, stride)]
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        chunk += [_empty(1, seq_len)] * (batch_size - len(chunk))
        yield {key: np.concatenate([r[key] for r in chunk]) for key in chunk[0]}


@dataclass(frozen=True)
class EvalWindows:
    """How a model is scored: windows of `seq_len` tokens, `stride` apart, `batch_size` a batch."""

    seq_len: int
    stride: int
    batch_size: int = 16


@dataclass(frozen=True)
class ChoraleWindows:
    """The engine's batch source (`symbolic.training.trainer.BatchSource`) over whole-chorale
    sequences by split: training windows as `train_batch` draws them, `eval_batches` on valid."""

    sequences: dict[str, list[np.ndarray]]
    train: TrainConfig
    windows: EvalWindows

    def train_batch(self, step: int) -> Batch:
        t = self.train
        return train_batch(self.sequences["train"], t.batch_size, t.seq_len, t.seed, step)

    def eval_batches(self, split: str = "valid") -> Iterator[Batch]:
        w = self.windows
        return eval_batches(self.sequences[split], w.batch_size, w.seq_len, w.stride)
