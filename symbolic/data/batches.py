"""Batches from prepared token arrays (numpy only, no jax).

Training batches are random windows of the flat token stream (nanoGPT's scheme), drawn from a
generator seeded by (seed, step): a resumed run sees exactly the batches it would have seen. Eval
batches tile the whole split with non-overlapping windows and a mask for the padded tail, so every
target token is scored exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Batch = dict[str, np.ndarray]  # inputs, targets: [B, T] int32; mask: [B, T] float32


@dataclass(frozen=True)
class Split:
    """One split of a prepared data set: the flat stream [N] int32 and sequence starts [S + 1]."""

    name: str
    tokens: np.ndarray
    offsets: np.ndarray


def load_split(data_dir: Path, name: str) -> Split:
    """Memory-map `{name}.npy` and its offsets from a prepared data directory."""
    data_dir = Path(data_dir)
    path = data_dir / f"{name}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing split {name!r}")
    tokens = _load_array(path, mmap_mode="r")
    offsets = _load_array(data_dir / f"{name}_offsets.npy")
    return Split(name, tokens, offsets)


def _load_array(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    """np.load, a damaged file (truncated, or not an array) being a one-line error naming it:
    numpy's own, "mmap length is greater than file size", names neither."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise ValueError(
            f"{path}: damaged or not a NumPy array ({err}); run `symbolic prepare` again"
        ) from None


def _check_length(split: Split, seq_len: int) -> None:
    if len(split.tokens) < seq_len + 1:
        raise ValueError(
            f"split {split.name!r} has {len(split.tokens)} tokens, fewer than seq_len + 1 = "
            f"{seq_len + 1}; lower train.seq_len"
        )


def train_batch(split: Split, batch_size: int, seq_len: int, seed: int, step: int) -> Batch:
    """Random windows for training step `step`: deterministic in (seed, step)."""
    _check_length(split, seq_len)
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(split.tokens) - seq_len, size=batch_size)
    windows = np.stack([np.asarray(split.tokens[s : s + seq_len + 1]) for s in starts])
    windows = windows.astype(np.int32)
    return {
        "inputs": windows[:, :-1],
        "targets": windows[:, 1:],
        "mask": np.ones((batch_size, seq_len), np.float32),
    }


def eval_batches(
    split: Split, batch_size: int, seq_len: int, max_windows: int = 0, pad_id: int = 0
) -> Iterator[Batch]:
    """Non-overlapping windows tiling the split (the first `max_windows` if > 0), padded to full
    batches; padded positions have mask 0."""
    tokens = np.asarray(split.tokens, dtype=np.int32)
    num_targets = len(tokens) - 1
    starts = np.arange(0, num_targets, seq_len)
    if max_windows > 0:
        starts = starts[:max_windows]
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        inputs = np.full((batch_size, seq_len), pad_id, np.int32)
        targets = np.full((batch_size, seq_len), pad_id, np.int32)
        mask = np.zeros((batch_size, seq_len), np.float32)
        for row, start in enumerate(chunk):
            n = min(seq_len, num_targets - start)
            inputs[row, :n] = tokens[start : start + n]
            targets[row, :n] = tokens[start + 1 : start + 1 + n]
            mask[row, :n] = 1.0
        yield {"inputs": inputs, "targets": targets, "mask": mask}
