"""Train the library's sequence models on the voice-token sequences and score them.

The jitted steps, optimizer, initialisation and shardings are `symbolic.train.trainer.compile_steps`,
unchanged. The loop is our own only because the batches differ from the trainer's: its random
windows over the flat token stream cross chorale boundaries and start at any token, so absolute
positions would carry no voice or time information; ours are step-aligned windows inside one
chorale (see windows.py). Early stopping follows the TrainConfig cadence (`eval_every`,
`patience`) on the masked validation NLL, and the best parameters are the ones scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from benchmarks.chorales_nll.windows import eval_batches, train_batch
from symbolic.train import parallel
from symbolic.train.config import RunConfig
from symbolic.train.losses import mean_metrics
from symbolic.train.trainer import Compiled, compile_steps


@dataclass(frozen=True)
class EvalWindows:
    """How a model is scored: windows of `seq_len` tokens, `stride` apart, `batch_size` a batch."""

    seq_len: int
    stride: int
    batch_size: int = 16


def score(compiled: Compiled, params, sequences: list[np.ndarray], windows: EvalWindows) -> dict:
    """Masked NLL over the voice tokens of `sequences`: {"nll" (nats/voice-token), "accuracy",
    "tokens"}."""
    totals: dict[str, float] = {}
    for batch in eval_batches(sequences, windows.batch_size, windows.seq_len, windows.stride):
        sums = compiled.evaluate(params, parallel.shard_batch(batch, compiled.mesh))
        for key, value in jax.device_get(sums).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    return mean_metrics(totals)


class EarlyStopping:
    """Keeps a host copy of the best parameters; says when `patience` evaluations passed
    without improvement (patience 0 never stops)."""

    def __init__(self, patience: int):
        self.patience, self.bad = patience, 0
        self.best_nll, self.best_step, self.params = None, 0, None

    def update(self, nll: float, step: int, params) -> bool:
        """Record an evaluation; True when training should stop."""
        if self.best_nll is None or nll < self.best_nll - 1e-4:
            # A host copy: the train step donates the state's buffers.
            self.best_nll, self.best_step, self.params = nll, step, jax.device_get(params)
            self.bad = 0
            return False
        self.bad += 1
        return 0 < self.patience <= self.bad


def train_and_score(
    config: RunConfig,
    sequences: dict[str, list[np.ndarray]],
    windows: EvalWindows,
    log: Callable[[str], None] = print,
) -> dict:
    """Train `config` on sequences["train"] with early stopping on valid; score the best
    parameters on valid and test. Returns flat metrics (nats per voice-token)."""
    tcfg = config.train
    compiled = compile_steps(config)
    state = compiled.init()
    stopper = EarlyStopping(tcfg.patience)
    started, step, loss = time.time(), 0, float("nan")
    while step < tcfg.steps:
        batch = train_batch(sequences["train"], tcfg.batch_size, tcfg.seq_len, tcfg.seed, step)
        state, metrics = compiled.train(state, parallel.shard_batch(batch, compiled.mesh))
        step += 1
        if step % tcfg.log_every == 0:
            loss = float(metrics["loss"])
        if step % tcfg.eval_every == 0 or step == tcfg.steps:
            valid = score(compiled, state.params, sequences["valid"], windows)["nll"]
            stop = stopper.update(valid, step, state.params)
            log(
                f"  step {step}: train loss {loss:.4f}, valid nll {valid:.4f} (best "
                f"{stopper.best_nll:.4f} at {stopper.best_step}; {time.time() - started:.0f}s)"
            )
            if stop:
                break
    train_s = time.time() - started
    results = {
        "steps": step,
        "best_step": stopper.best_step,
        "train_s": round(train_s, 1),
        "params": int(sum(x.size for x in jax.tree.leaves(stopper.params))),
    }
    for split in ("valid", "test"):
        metrics = score(compiled, stopper.params, sequences[split], windows)
        results[f"{split}_nll"] = metrics["nll"]
        results[f"{split}_accuracy"] = metrics["accuracy"]
        results[f"{split}_tokens"] = int(metrics["tokens"])
    return results
