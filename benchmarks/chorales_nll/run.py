"""Run the benchmark: n-gram baselines, the four sequence models on the SATB voice tokens (three
Transformers: relative attention, RoPE, learned absolute positions; an LSTM), and the frame-level
model on the quarter-note piano rolls; write results.json, results.md and the learning curves.

    python -m benchmarks.chorales_nll                  # every part (a few hours on 2 CPU cores)
    python -m benchmarks.chorales_nll --only relative  # one part, merged into the results
    python -m benchmarks.chorales_nll --quick          # tiny models, a few minutes

`--only` (repeatable, or a comma list) runs just those parts and merges their figures into the
results already in the output folder, keeping the other parts' keys; the summary keys (the best
Transformer, the best model) are recomputed over every part present.

It also trains the library's demo Transformer and LSTM on the REMI-tokenized music21 chorales and
reports their token-level NLL and perplexity (remi.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.chorales_nll import curves, data, frames, neural, ngram, remi, report
from benchmarks.chorales_nll.windows import EvalWindows
from benchmarks.common import REPO_ROOT, command_line, environment, write_results
from symbolic.models.lstm import LSTMConfig
from symbolic.models.transformer import TransformerConfig
from symbolic.training.config import RunConfig, TrainConfig

MODULE = "benchmarks.chorales_nll"
RESULTS_DIR = Path(__file__).resolve().parent
RUNS_DIR = REPO_ROOT / "runs" / "benchmarks"  # /runs/ is git-ignored
QUICK_DIR = RUNS_DIR / "chorales_nll_quick"
TRANSFORMERS = ("relative", "rope", "learned")  # the position schemes, one part each
SEQUENCE_MODELS = (*TRANSFORMERS, "lstm")
PARTS = ("ngram", *SEQUENCE_MODELS, "frames", "remi")


@dataclass(frozen=True)
class Settings:
    """Model sizes and schedules of one run (the full run or --quick)."""

    transformer: TransformerConfig
    transformer_train: TrainConfig
    lstm: LSTMConfig
    lstm_train: TrainConfig
    transpose: int  # training chorales are augmented by transpositions up to this many semitones
    eval_stride: int  # Transformer eval windows: seq_len tokens, this many apart
    lstm_eval_len: int  # the LSTM reads each chorale whole: longer than any chorale
    frame_model: frames.FrameModelConfig
    frame_train: TrainConfig
    remi_preset: str  # `symbolic train --preset` for the REMI models
    remi_steps: int | None  # None: the preset's own
    remi_dir: Path  # prepared REMI data and the two runs (reused and resumed)


FULL = Settings(
    transformer=TransformerConfig(
        vocab_size=data.VOCAB_SIZE,
        d_model=128,
        num_layers=3,
        num_heads=4,
        d_ff=512,
        dropout=0.1,
        max_len=256,
    ),
    transformer_train=TrainConfig(
        batch_size=8,
        seq_len=256,
        steps=5000,
        learning_rate=3e-3,
        warmup_steps=100,
        eval_every=250,
        patience=4,
        log_every=10,
    ),
    lstm=LSTMConfig(
        vocab_size=data.VOCAB_SIZE, embed_dim=128, hidden_size=256, num_layers=2, dropout=0.2
    ),
    lstm_train=TrainConfig(
        batch_size=16,
        seq_len=256,
        steps=3000,
        learning_rate=3e-3,
        warmup_steps=100,
        eval_every=250,
        patience=4,
        log_every=10,
    ),
    transpose=5,
    eval_stride=128,
    lstm_eval_len=2624,
    frame_model=frames.FrameModelConfig(hidden_size=256, num_layers=2, dropout=0.3),
    frame_train=TrainConfig(
        batch_size=16, steps=1500, learning_rate=2e-3, warmup_steps=50, eval_every=50, patience=6
    ),
    remi_preset="demo",
    remi_steps=None,
    remi_dir=RUNS_DIR / "chorales_nll_remi",
)

QUICK = Settings(
    transformer=TransformerConfig(
        vocab_size=data.VOCAB_SIZE,
        d_model=64,
        num_layers=2,
        num_heads=4,
        d_ff=256,
        dropout=0.0,
        max_len=128,
    ),
    transformer_train=TrainConfig(
        batch_size=8,
        seq_len=128,
        steps=300,
        learning_rate=3e-3,
        warmup_steps=20,
        eval_every=100,
        patience=0,
        log_every=10,
    ),
    lstm=LSTMConfig(
        vocab_size=data.VOCAB_SIZE, embed_dim=64, hidden_size=128, num_layers=1, dropout=0.0
    ),
    lstm_train=TrainConfig(
        batch_size=8,
        seq_len=128,
        steps=300,
        learning_rate=3e-3,
        warmup_steps=20,
        eval_every=100,
        patience=0,
        log_every=10,
    ),
    transpose=0,
    eval_stride=64,
    lstm_eval_len=2624,
    frame_model=frames.FrameModelConfig(hidden_size=64, num_layers=1, dropout=0.0),
    frame_train=TrainConfig(
        batch_size=16, steps=300, learning_rate=3e-3, warmup_steps=10, eval_every=100, patience=0
    ),
    remi_preset="tiny",
    remi_steps=100,
    remi_dir=RUNS_DIR / "chorales_nll_remi_quick",
)


def model_runs(settings: Settings) -> dict[str, tuple[RunConfig, EvalWindows]]:
    """The sequence models, by part name: (config, how they are scored). The Transformers differ
    only in their position scheme and train on the same budget; relative attention learns one
    embedding per distance inside the training window (no clipping)."""
    t, lt = settings.transformer_train, settings.lstm_train
    transformer_windows = EvalWindows(t.seq_len, settings.eval_stride)
    lstm_windows = EvalWindows(settings.lstm_eval_len, settings.lstm_eval_len, 8)
    positions = {
        "relative": {"position": "relative", "max_relative_distance": t.seq_len},
        "rope": {"position": "rope"},
        "learned": {"position": "learned"},
    }
    runs = {
        name: (
            RunConfig("transformer", "chorales_nll", replace(settings.transformer, **changes), t),
            transformer_windows,
        )
        for name, changes in positions.items()
    }
    runs["lstm"] = (RunConfig("lstm", "chorales_nll", settings.lstm, lt), lstm_windows)
    return runs


def run_ngrams(grids: dict) -> dict:
    results = ngram.baselines(grids)
    best = min(("unigram", "bigram", "bigram_above"), key=lambda n: results[f"valid_nll_{n}"])
    results.update(
        ngram_best=best,
        valid_nll_ngram=results[f"valid_nll_{best}"],
        test_nll_ngram=results[f"test_nll_{best}"],
    )
    return results


def _named(metrics: dict, name: str) -> dict:
    """{"valid_nll": x, "steps": n} -> {"valid_nll_NAME": x, "NAME_steps": n}."""
    return {
        (f"{key}_{name}" if key.startswith(("valid_", "test_")) else f"{name}_{key}"): value
        for key, value in metrics.items()
    }


def sequences_of(grids: dict, transpose: int) -> dict[str, list]:
    """Voice-token sequences per split; the training chorales are augmented with their
    transpositions by up to `transpose` semitones (valid and test are used as given)."""
    sequences = {split: [data.encode(g) for g in grids[split]] for split in ("valid", "test")}
    sequences["train"] = [
        data.encode(t) for g in grids["train"] for t in data.transpositions(g, transpose)
    ]
    return sequences


def run_model(name: str, config: RunConfig, windows: EvalWindows, sequences: dict) -> dict:
    print(f"{name}: {config.model}", flush=True)
    return _named(neural.train_and_score(config, sequences, windows, log=_log), name)


def summary(results: dict) -> dict:
    """The keys over all parts present: the best Transformer (whatever its position scheme) as
    `*_nll_transformer`, and the best sequence model (on valid) as `*_nll_best`."""
    present = [name for name in SEQUENCE_MODELS if f"valid_nll_{name}" in results]
    transformers = [name for name in present if name in TRANSFORMERS]
    out = {}
    if transformers:
        best = min(transformers, key=lambda name: results[f"valid_nll_{name}"])
        out.update(
            transformer_best=best,
            valid_nll_transformer=results[f"valid_nll_{best}"],
            test_nll_transformer=results[f"test_nll_{best}"],
        )
    if present:
        best = min(present, key=lambda name: results[f"valid_nll_{name}"])
        out.update(
            best_model=best,
            valid_nll_best=results[f"valid_nll_{best}"],
            test_nll_best=results[f"test_nll_{best}"],
        )
    return out


def run_frames(settings: Settings) -> dict:
    print(f"frame lstm: {settings.frame_model}", flush=True)
    metrics = frames.train_and_score(
        settings.frame_model, settings.frame_train, data.load_frames(), log=_log
    )
    results = {
        "valid_frame_nll_lstm": metrics.pop("valid_nll"),
        "test_frame_nll_lstm": metrics.pop("test_nll"),
    }
    return {**results, **{f"frame_lstm_{key}": value for key, value in metrics.items()}}


def run_remi(settings: Settings) -> dict:
    print(f"remi: preset {settings.remi_preset} in {settings.remi_dir}", flush=True)
    return remi.train_and_score(
        settings.remi_dir, settings.remi_preset, settings.remi_steps, log=_log
    )


def _log(line: str) -> None:
    print(line, flush=True)


def parse_parts(values: list[str] | None) -> list[str]:
    """--only values (repeated, or comma lists) -> the parts in run order; none: every part."""
    if not values:
        return list(PARTS)
    named = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(named - set(PARTS))
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {unknown}; choose from {list(PARTS)}")
    return [part for part in PARTS if part in named]


def previous_results(out: Path, quick: bool) -> dict:
    """OUT/results.json to merge into ({} if there is none); a quick run never merges into a
    full one's figures, nor the other way round."""
    path = out / "results.json"
    if not path.is_file():
        return {}
    previous = json.loads(path.read_text())
    if previous.get("quick", quick) != quick:
        kind = "--quick" if previous["quick"] else "full"
        raise SystemExit(f"{path}: holds a {kind} run's figures; merge the same kind (or --out)")
    return previous


def run_part(part: str, settings: Settings, runs: dict, grids: dict) -> dict:
    if part == "ngram":
        return run_ngrams(grids)
    if part == "frames":
        return run_frames(settings)
    if part == "remi":
        return run_remi(settings)
    config, windows = runs[part]
    sequences = sequences_of(grids, settings.transpose)
    return {
        "transpose": settings.transpose,
        "train_sequences": len(sequences["train"]),
        **run_model(part, config, windows, sequences),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models and few steps")
    parser.add_argument(
        "--only",
        action="append",
        metavar="PART",
        help=f"run only these parts ({', '.join(PARTS)}; repeatable or comma-separated) and "
        "merge their figures into the output folder's results",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results folder (default: this benchmark's folder, or {QUICK_DIR} with --quick)",
    )
    args = parser.parse_args(argv)
    parts = parse_parts(args.only)
    try:
        grids = data.load_grids()
    except data.DataMissing as err:
        sys.exit(str(err))
    settings = QUICK if args.quick else FULL
    runs = model_runs(settings)
    out = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    results = previous_results(out, args.quick) if args.only else {}
    started_all, env = time.time(), environment()
    results.update(command=command_line(MODULE), quick=args.quick, **env)
    results["vocab_size"] = data.VOCAB_SIZE
    part_commits, part_wall_s = results.get("part_commits", {}), results.get("part_wall_s", {})
    for part in parts:
        started = time.time()
        results.update(run_part(part, settings, runs, grids))
        part_wall_s[part] = round(time.time() - started, 1)
        part_commits[part] = env["git_commit"]
    results.update(part_commits=part_commits, part_wall_s=part_wall_s)
    results.update(summary(results))
    results.update(report.published())
    results["wall_s"] = round(time.time() - started_all, 1)  # this command's parts only
    json_path, md_path = write_results(out, results, report.markdown(results, settings, runs))
    figure = curves.plot(results, out / curves.FILE)
    print(f"wrote {json_path} and {md_path}" + (f" and {figure}" if figure else ""))
