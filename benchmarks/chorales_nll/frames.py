"""Frame-level NLL on the quarter-note piano rolls: the unit of the RNN-RBM / RNN-NADE / LSTM / TCN
tables (nats per frame, the sum of 88 Bernoulli NLLs).

The model is an LSTM over frames with independent sigmoid outputs for the 88 keys of the next
frame, as in Bai et al.'s polyphonic-music benchmark code: frame t + 1 is predicted from frames
0..t, the first frame of a chorale is context only (not scored), and the NLL is averaged over all
scored frames of the split. It trains on the engine: `compile_model` with the "frames" objective
(`symbolic.training.losses.frame_objective`) and the one `TrainLoop`, as neural.py does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from benchmarks.chorales_nll.data import PIANO_KEYS
from benchmarks.chorales_nll.neural import scored, train_in_memory
from symbolic.models.lstm import LSTMLayer
from symbolic.training.config import TrainConfig
from symbolic.training.losses import OBJECTIVES
from symbolic.training.trainer import compile_model, evaluate

Batch = dict[str, np.ndarray]  # inputs, targets: [B, T, 88] float32; mask: [B, T] float32
EVAL_BATCH_SIZE = 32


@dataclass(frozen=True)
class FrameModelConfig:
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.3


class FrameLSTM(nn.Module):
    """rolls [B, T, 88] float32 (frames 0..T-1) -> logits [B, T, 88] for frames 1..T."""

    config: FrameModelConfig

    @nn.compact
    def __call__(self, rolls: jax.Array, *, train: bool = False) -> jax.Array:
        cfg = self.config
        drop = nn.Dropout(cfg.dropout, deterministic=not train)
        x = nn.Dense(cfg.hidden_size, name="embed")(rolls)
        zeros = jnp.zeros((rolls.shape[0], cfg.hidden_size), jnp.float32)
        for i in range(cfg.num_layers):
            x, _ = LSTMLayer(cfg.hidden_size, name=f"lstm_{i}")(drop(x), (zeros, zeros))
        return nn.Dense(PIANO_KEYS, name="head")(drop(x))


def pad_batch(rolls: list[np.ndarray], length: int, rows: int | None = None) -> Batch:
    """Chorales [frames, 88] -> inputs = frames 0..n-2, targets = frames 1..n-1, padded to
    `length` frames and `rows` rows (default: one per chorale) with mask 0."""
    rows = len(rolls) if rows is None else rows
    batch = {
        "inputs": np.zeros((rows, length, PIANO_KEYS), np.float32),
        "targets": np.zeros((rows, length, PIANO_KEYS), np.float32),
        "mask": np.zeros((rows, length), np.float32),
    }
    for row, roll in enumerate(rolls):
        n = len(roll) - 1
        batch["inputs"][row, :n], batch["targets"][row, :n] = roll[:-1], roll[1:]
        batch["mask"][row, :n] = 1.0
    return batch


class FrameRolls:
    """The engine's batch source over piano rolls by split: every batch holds whole chorales,
    padded to the longest of all splits. A training batch is `batch_size` distinct training
    chorales drawn from one generator seeded with `train.seed`, the draw the committed figures
    were measured with; so `train_batch` takes the steps in order, once each, as `TrainLoop`
    asks for them (this source is never resumed)."""

    def __init__(self, rolls: dict[str, list[np.ndarray]], train: TrainConfig):
        self.rolls, self.batch_size = rolls, train.batch_size
        self.length = max(len(r) for split in rolls.values() for r in split) - 1
        self._rng, self._next_step = np.random.default_rng(train.seed), 0

    def train_batch(self, step: int) -> Batch:
        if step != self._next_step:
            raise ValueError(
                f"FrameRolls draws steps in order: asked {step}, next {self._next_step}"
            )
        self._next_step += 1
        chosen = self._rng.choice(len(self.rolls["train"]), size=self.batch_size, replace=False)
        return pad_batch([self.rolls["train"][i] for i in chosen], self.length)

    def eval_batches(self, split: str = "valid") -> Iterator[Batch]:
        rolls = self.rolls[split]
        for first in range(0, len(rolls), EVAL_BATCH_SIZE):
            chunk = rolls[first : first + EVAL_BATCH_SIZE]
            yield pad_batch(chunk, self.length, EVAL_BATCH_SIZE)


def train_and_score(
    model_cfg: FrameModelConfig,
    train_cfg: TrainConfig,
    rolls: dict[str, list[np.ndarray]],
    log: Callable[[str], None] = print,
) -> dict:
    """Train on whole training chorales (random batches), early-stop on valid frame NLL, and
    score the best parameters on valid and test (nats per frame)."""
    source = FrameRolls(rolls, train_cfg)
    example = jax.ShapeDtypeStruct((1, source.length, PIANO_KEYS), jnp.float32)
    compiled = compile_model(FrameLSTM(model_cfg), OBJECTIVES["frames"], train_cfg, example)
    outcome, best, records = train_in_memory(compiled, source, train_cfg, log)
    results = scored(outcome, best, records)
    for split in ("valid", "test"):
        results[f"{split}_nll"] = evaluate(compiled, best.params, source.eval_batches(split))["nll"]
    return results
