"""Train the library's sequence models on the voice-token sequences and score them.

Everything is the engine's: `symbolic.training.trainer.compile_steps` (optimizer, initialisation,
jitted steps) and its `TrainLoop` (early stopping on the masked validation NLL at the TrainConfig
cadence, `eval_every` and `patience`), kept in memory (`BestInMemory`) instead of a run
directory. Only the batches are ours: the trainer's random windows over a flat token stream cross
chorale boundaries and start at any token, so absolute positions would carry no voice or time
information; ours are step-aligned windows inside one chorale (windows.ChoraleWindows). The best
validation parameters are the ones scored, and the validation NLL of every evaluation is kept as
the learning curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.chorales_nll.windows import ChoraleWindows, EvalWindows
from symbolic.training.config import RunConfig, TrainConfig
from symbolic.training.trainer import (
    BatchSource,
    BestInMemory,
    Compiled,
    MetricsLog,
    Outcome,
    TrainLoop,
    compile_steps,
    evaluate,
    num_params,
)


def train_in_memory(
    compiled: Compiled, source: BatchSource, train_cfg: TrainConfig, log: Callable[[str], None]
) -> tuple[Outcome, BestInMemory, MetricsLog]:
    """Run the engine's `TrainLoop` on `source` without a run directory; the best validation
    parameters come back in the `BestInMemory`, the session's records in the `MetricsLog`."""
    best, records = BestInMemory(), MetricsLog(None)

    def echo(line: str) -> None:
        log(f"  {line}")  # indented under the model's name

    loop = TrainLoop(train_cfg, compiled, source, best, records, echo=echo)
    return loop.run(), best, records


def scored(outcome: Outcome, best: BestInMemory, records: MetricsLog) -> dict:
    """The training facts a result row reports, and the learning curve: {step: valid NLL}
    (string keys, as results.json stores them)."""
    curve = {str(r["step"]): r["nll"] for r in records.records if r.get("split") == "valid"}
    return {
        "steps": int(outcome.state.step),
        "best_step": outcome.stopping.best_step,
        "train_s": round(outcome.wall_s, 1),
        "params": num_params(best.params),
        "valid_curve": curve,
    }


def train_and_score(
    config: RunConfig,
    sequences: dict[str, list[np.ndarray]],
    windows: EvalWindows,
    log: Callable[[str], None] = print,
) -> dict:
    """Train `config` on sequences["train"] with early stopping on valid; score the best
    parameters on valid and test. Returns flat metrics (nats per voice-token)."""
    compiled = compile_steps(config)
    source = ChoraleWindows(sequences, config.train, windows)
    outcome, best, records = train_in_memory(compiled, source, config.train, log)
    results = scored(outcome, best, records)
    for split in ("valid", "test"):
        metrics = evaluate(compiled, best.params, source.eval_batches(split))
        results[f"{split}_nll"] = metrics["nll"]
        results[f"{split}_accuracy"] = metrics["accuracy"]
        results[f"{split}_tokens"] = int(metrics["tokens"])
    return results
