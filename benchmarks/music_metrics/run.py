"""Collect pieces from every source, compute the metrics, compare with the real chorales, and
write results.json and results.md.

    python -m benchmarks.music_metrics            # 85 held-out chorales, 64 pieces per source
    python -m benchmarks.music_metrics --quick    # 24 chorales, 12 pieces per source

The Transformer and LSTM runs are read from --transformer-run / --lstm-run (default
runs/demo_transformer and runs/demo_lstm: `symbolic train --model M --data data/remi --workdir
runs/demo_M --preset demo`). A missing run is trained there with the demo preset first; with
--quick, a missing run is trained for only QUICK_TRAIN_STEPS steps under runs/benchmarks/ instead.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.common import REPO_ROOT, command_line, environment, write_results
from benchmarks.music_metrics import compare, report, sources
from symbolic.music.metrics import compute_metrics

MODULE = "benchmarks.music_metrics"
RESULTS_DIR = Path(__file__).resolve().parent
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
QUICK_RUNS = REPO_ROOT / "runs" / "benchmarks" / "music_metrics_quick"  # /runs/ is git-ignored
QUICK_TRAIN_STEPS = 150
MODELS = ("transformer", "lstm")
TOP_P = 0.95  # the demo's nucleus setting, for the extra transformer_top_p source


@dataclass(frozen=True)
class Settings:
    """How many pieces a run uses (the full run or --quick)."""

    real_works: int | None  # held-out works read (None: all valid and test works)
    num: int  # pieces per generated source
    splits: int  # seeded half splits of the real set for the reference band


FULL = Settings(real_works=None, num=64, splits=10)
QUICK = Settings(real_works=24, num=12, splits=3)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--quick", action="store_true", help="fewer pieces, a few minutes")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "remi")
    parser.add_argument("--transformer-run", type=Path, default=REPO_ROOT / "runs/demo_transformer")
    parser.add_argument("--lstm-run", type=Path, default=REPO_ROOT / "runs" / "demo_lstm")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--seed", type=int, default=0, help="sampling and split seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args()


def ensure_data(data_dir: Path, manifest: Path) -> None:
    """Prepare the REMI chorales into DATA_DIR unless they are there already."""
    from symbolic.demo import prepare_once

    prepare_once(manifest, "remi", data_dir)


def ensure_run(model: str, run_dir: Path, data_dir: Path, quick: bool) -> Path:
    """RUN_DIR if it holds a finished run; else train one (demo preset; --quick: a short run under
    runs/benchmarks/) and return where it is."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    if (run_dir / "summary.json").is_file():
        return run_dir
    steps = QUICK_TRAIN_STEPS if quick else None
    if quick:
        run_dir = QUICK_RUNS / model
        if (run_dir / "summary.json").is_file():
            return run_dir
    print(f"training {model} into {run_dir} (demo preset{f', {steps} steps' if steps else ''})")
    trainer.train(config_lib.resolve(model, "demo", steps=steps), data_dir, run_dir)
    return run_dir


def run_valid_nll(run_dir: Path) -> float:
    """The run's best validation NLL (nats/token), from its summary.json."""
    return float(json.loads((run_dir / "summary.json").read_text())["best_valid_nll"])


def collect(
    args: argparse.Namespace, settings: Settings, max_tokens: int
) -> tuple[dict[str, list], dict[str, Path]]:
    """Pieces of every source ({source: [Notes]}, the real ones first) and the runs sampled."""
    real = sources.real_pieces(args.manifest, settings.real_works)
    common = dict(num=settings.num, max_tokens=max_tokens, seed=args.seed)
    runs = {"transformer": args.transformer_run, "lstm": args.lstm_run}
    pieces = {"real": real}
    for model in MODELS:
        runs[model] = ensure_run(model, runs[model], args.data, args.quick)
        pieces[model] = sources.run_pieces(runs[model], **common)
    pieces["transformer_top_p"] = sources.run_pieces(runs["transformer"], **common, top_p=TOP_P)
    pieces["ngram"] = sources.ngram_pieces(args.data, **common)
    pieces["random"] = sources.random_note_pieces(real, num=settings.num, seed=args.seed)
    pieces["random_tokens"] = sources.random_token_pieces(args.data, **common)
    return pieces, runs


def evaluate(pieces: dict[str, list], settings: Settings, seed: int) -> dict[str, dict]:
    """{source: summary (+ OA/KL against the real halves; the band for `real`)}."""
    values = {name: compute_metrics(p) for name, p in pieces.items()}
    halves = compare.half_splits(len(pieces["real"]), settings.splits, seed)
    band = compare.reference_band(values["real"], halves)
    out = {"real": {**compare.summarize(values["real"]), **band}}
    for name, generated in values.items():
        if name != "real":
            comparison = compare.against_real(values["real"], generated, halves, band)
            out[name] = {**compare.summarize(generated), **comparison}
    return out


def main() -> None:
    args = parse_args()
    settings = QUICK if args.quick else FULL
    started = time.time()
    ensure_data(args.data, args.manifest)
    max_tokens = sources.held_out_median_tokens(args.data)
    pieces, runs = collect(args, settings, max_tokens)
    per_source = evaluate(pieces, settings, args.seed)
    results = {**environment(), "quick": args.quick}
    for package in ("music21", "miditok", "symusic"):
        results[f"{package}_version"] = metadata.version(package)
    results.update(
        command=command_line(MODULE),
        seed=args.seed,
        max_tokens=max_tokens,
        band_splits=settings.splits,
        **{f"{m}_run": os.path.relpath(runs[m], REPO_ROOT) for m in MODELS},
        **{f"{m}_valid_nll": run_valid_nll(runs[m]) for m in MODELS},
        wall_s=round(time.time() - started, 1),
    )
    results.update(per_source)
    markdown = report.markdown(results)
    json_path, _ = write_results(args.out, results, markdown)
    print(markdown)
    print(f"wrote {json_path}")
