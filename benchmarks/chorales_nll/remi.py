"""Token-level NLL and perplexity on the engine's own data: the REMI-tokenized music21 chorales
(data_manifests/bach_chorales.json, music21's split, not the JSB one).

The models are the library's, trained and scored exactly as a user would: `symbolic prepare` with
the `remi` preset, `symbolic train --preset demo` (or `tiny` with --quick), then `symbolic eval`
on valid and test. The unit is nats per REMI token, so these figures are not comparable with the
voice-token ones: a REMI token is a Bar, Position, Program, Pitch, Velocity or Duration event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from symbolic.cli import DEFAULT_MANIFEST
from symbolic.data.batches import load_split
from symbolic.demo import prepare_once
from symbolic.training import config as config_lib
from symbolic.training import trainer
from symbolic.training.baselines import unigram_nll
from symbolic.training.evaluation import evaluate_lm_run

MODELS = ("transformer", "lstm")
TOKENIZER = "remi"


def train_and_score(
    work_dir: Path, preset: str, steps: int | None, log: Callable[[str], None] = print
) -> dict:
    """Prepare (once), train (or resume) both models with `preset`, score valid and test.

    Returns flat results: remi_{valid,test}_{nll,perplexity}_{model} and the unigram baseline.
    """
    data_dir = work_dir / "data"
    meta = prepare_once(DEFAULT_MANIFEST, TOKENIZER, data_dir)
    results: dict = {
        "remi_vocab_size": meta.vocab_size,
        "remi_preset": preset,
        "remi_data_dir": str(data_dir),
        **{f"remi_{split}_works": c.works for split, c in meta.counts.items()},
    }
    train = load_split(data_dir, "train")
    for split in ("valid", "test"):
        targets = load_split(data_dir, split).tokens[1:]
        nll = unigram_nll(train.tokens, targets, meta.vocab_size)
        results[f"remi_{split}_nll_unigram"] = nll
        results[f"remi_{split}_perplexity_unigram"] = math.exp(nll)
        results[f"remi_{split}_tokens"] = len(targets)
    for model in MODELS:
        run_dir = work_dir / model
        config = config_lib.resolve(model, preset, steps=steps)
        log(f"remi {model}: preset {preset}, {config.train.steps} steps -> {run_dir}")
        summary = trainer.train(config, data_dir, run_dir, progress=False)
        results[f"remi_{model}_steps"] = int(summary["steps"])
        results[f"remi_{model}_tokens_per_s"] = float(summary["tokens_per_s"])
        for split in ("valid", "test"):
            record = evaluate_lm_run(run_dir, data_dir, split)
            results[f"remi_{split}_nll_{model}"] = record["nll"]
            results[f"remi_{split}_perplexity_{model}"] = record["perplexity"]
            log(f"  {split}: nll {record['nll']:.4f}, perplexity {record['perplexity']:.3f}")
    return results
