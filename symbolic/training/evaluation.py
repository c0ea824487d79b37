"""`symbolic eval`: score a trained run's best checkpoint on a held-out split."""

from __future__ import annotations

import math
from pathlib import Path

from symbolic.data.batches import eval_batches, load_split
from symbolic.data.meta import DataMeta, encoding_mismatch, load_meta
from symbolic.training import checkpoint, trainer


def evaluate_lm_run(run_dir: Path, data_dir: Path, split: str = "test") -> dict:
    """NLL (nats/token), perplexity and next-token accuracy of RUN_DIR's best parameters over
    every target token of DATA_DIR's `split`; the record is appended to RUN_DIR/metrics.jsonl."""
    config, params, meta = checkpoint.load_run(run_dir)
    data_meta = load_meta(data_dir)
    mismatch = encoding_mismatch(meta, data_meta)
    if mismatch or not isinstance(data_meta, DataMeta):  # not VAE segments
        raise ValueError(
            f"{data_dir}: tokenized differently from the data {run_dir} was trained on "
            f"({mismatch or 'no token data'})"
        )
    scored = load_split(data_dir, split)
    if len(scored.tokens) < 2:  # no target to score: say which split, not a KeyError
        raise ValueError(f"{data_dir}: split {split!r} is empty; score another --split")
    compiled = trainer.compile_steps(config)
    tcfg = config.train
    pad_id = meta.special_ids.pad
    batches = eval_batches(scored, tcfg.batch_size, tcfg.seq_len, 0, pad_id)
    metrics = trainer.evaluate(compiled, params, batches)
    record = {"event": "eval", "split": split, **metrics, "perplexity": math.exp(metrics["nll"])}
    trainer.MetricsLog.of_run(run_dir).write(record)
    return record
