"""Collect pieces from every source, compute the metrics, compare with the real chorales, and
write results.json and results.md.

    python -m benchmarks.music_metrics            # 85 held-out chorales, 64 pieces per source
    python -m benchmarks.music_metrics --quick    # 24 chorales, 12 pieces per source

The Transformer and LSTM runs are read from --transformer-run / --lstm-run (default
runs/demo_transformer and runs/demo_lstm: `symbolic train --model M --data data/remi --workdir
runs/demo_M --preset demo`). A missing run is trained there with the demo preset first; with
--quick, a missing run is trained for only QUICK_TRAIN_STEPS steps under runs/benchmarks/ instead.
The `tuned` source is the best of them by validation NLL (or --best-run) at the temperature and
top-p that `tuning` picks on the validation works.

The VAE (--vae-run, default the `benchmarks.vae_reconstruction` run) and GAN (--gan-run) are
compared with real excerpts of their own form (see `sources`), each with its own half-vs-half
band; a missing run is trained first with its preset for a short, labelled budget
(EXCERPT_TRAIN_STEPS), its data prepared as `symbolic vae prepare` / `symbolic gan prepare` do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    write_results,
)
from benchmarks.music_metrics import compare, report, sources, tuning
from symbolic.music.metrics import METRICS, compute_metrics

MODULE = "benchmarks.music_metrics"
RESULTS_DIR = Path(__file__).resolve().parent
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
QUICK_RUNS = REPO_ROOT / "runs" / "benchmarks" / "music_metrics_quick"  # /runs/ is git-ignored
QUICK_TRAIN_STEPS = 150
MODELS = ("transformer", "lstm")
TOP_P = 0.95  # the demo's nucleus setting, for the extra transformer_top_p source
BENCH_RUNS = REPO_ROOT / "runs" / "benchmarks"
GAN_TRACKS = ("soprano", "alto", "tenor", "bass")
GAN_TRANSPOSE = (-5, 6)  # as the gan preset's prepare command
VAE_TRANSPOSE = (-5, 5)  # as benchmarks.vae_reconstruction
EXCERPT_TRAIN_STEPS = {"vae": 2000, "gan": 150}  # short budgets (presets: 6,000 and 1,200)
QUICK_EXCERPT_TRAIN_STEPS = {"vae": 20, "gan": 5}
EXCERPT_PRESETS = {"vae": "vae_melody_2bar", "gan": "gan"}
# Each excerpt source and the real excerpts (of the same form) it is measured against.
EXCERPT_REFERENCES = {"vae_prior": "real_soprano_2bar", "gan": "real_satb_4bar"}


@dataclass(frozen=True)
class Settings:
    """How many pieces a run uses (the full run or --quick)."""

    real_works: int | None  # held-out works read (None: all valid and test works)
    num: int  # pieces per generated source
    splits: int  # seeded half splits of the real set for the reference band
    valid_works: int | None  # valid works the sampling settings are tuned on (None: all)
    tune_num: int  # pieces per tuning setting
    real_excerpts: int  # held-out real excerpts per excerpt reference


FULL = Settings(
    real_works=None, num=64, splits=10, valid_works=None, tune_num=24, real_excerpts=128
)
QUICK = Settings(real_works=24, num=12, splits=3, valid_works=12, tune_num=6, real_excerpts=24)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--quick", action="store_true", help="fewer pieces, a few minutes")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "remi")
    parser.add_argument("--transformer-run", type=Path, default=REPO_ROOT / "runs/demo_transformer")
    parser.add_argument("--lstm-run", type=Path, default=REPO_ROOT / "runs" / "demo_lstm")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="the chorale runs to sample, comma-separated (default: transformer,lstm)",
    )
    parser.add_argument("--num", type=int, default=None, help="pieces per generated source")
    parser.add_argument("--tune-num", type=int, default=None, help="pieces per tuning setting")
    parser.add_argument("--notes", type=Path, default=None, help="Markdown appended to results.md")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite results.md from results.json"
    )
    parser.add_argument("--best-run", type=Path, default=None, help="default: lowest valid NLL")
    parser.add_argument("--vae-run", type=Path, default=BENCH_RUNS / "vae_melody_2bar")
    parser.add_argument("--vae-data", type=Path, default=BENCH_RUNS / "vae_segments_2bar_t5")
    parser.add_argument("--gan-run", type=Path, default=BENCH_RUNS / "music_metrics" / "gan_150")
    parser.add_argument(
        "--gan-data", type=Path, default=BENCH_RUNS / "music_metrics" / "gan_phrases_satb"
    )
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--seed", type=int, default=0, help="sampling and split seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    args.models = tuple(m for m in args.models.split(",") if m)
    unknown = set(args.models) - set(MODELS)
    if unknown or "transformer" not in args.models:
        raise SystemExit(f"--models: choose from {MODELS}, transformer included; got {args.models}")
    return args


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


def ensure_excerpt_data(model: str, data_dir: Path, manifest: Path) -> None:
    """The VAE's 2-bar soprano segments or the GAN's 4-bar SATB phrases, unless there already."""
    from symbolic.data import phrase_sets
    from symbolic.data import segments as seg

    if (data_dir / "meta.json").is_file():
        return
    if model == "vae":
        seg.prepare_segments(manifest, data_dir, augment_transpose=VAE_TRANSPOSE)
    else:
        phrase_sets.prepare_phrases(
            manifest, data_dir, tracks=GAN_TRACKS, augment_transpose=GAN_TRANSPOSE, progress=False
        )


def ensure_excerpt_run(model: str, run_dir: Path, data_dir: Path, quick: bool) -> Path:
    """RUN_DIR if it holds a checkpoint; else train the model's preset there for the short
    budget of EXCERPT_TRAIN_STEPS (--quick: a few steps under runs/benchmarks/)."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    if (run_dir / "checkpoints").is_dir():
        return run_dir
    steps = (QUICK_EXCERPT_TRAIN_STEPS if quick else EXCERPT_TRAIN_STEPS)[model]
    if quick:
        run_dir = QUICK_RUNS / model
    if not (run_dir / "summary.json").is_file():
        print(f"training {model} into {run_dir} ({EXCERPT_PRESETS[model]} preset, {steps} steps)")
        cfg = config_lib.resolve(model, EXCERPT_PRESETS[model], steps=steps)
        trainer.train(cfg, data_dir, run_dir, progress=False)
    return run_dir


def run_steps(run_dir: Path) -> int:
    """The step of the run's latest checkpoint."""
    from symbolic.training.checkpoint import restore_params

    return int(restore_params(run_dir, "latest")[1])


def run_valid_nll(run_dir: Path) -> float:
    """The run's best validation NLL (nats/token), from its summary.json."""
    return float(json.loads((run_dir / "summary.json").read_text())["best_valid_nll"])


def best_run(args: argparse.Namespace, runs: dict[str, Path]) -> Path:
    """--best-run, else the chorale run with the lowest validation NLL."""
    return args.best_run or min((runs[m] for m in args.models), key=run_valid_nll)


def collect(
    args: argparse.Namespace, settings: Settings, max_tokens: int
) -> tuple[dict[str, list], dict[str, Path], dict]:
    """Pieces of every source ({source: [Notes]}, the real sets first), the runs sampled and the
    sampling settings tuned on the valid works."""
    real = sources.real_pieces(args.manifest, settings.real_works)
    common = dict(num=settings.num, max_tokens=max_tokens, seed=args.seed)
    runs = {"transformer": args.transformer_run, "lstm": args.lstm_run}
    runs = {m: ensure_run(m, runs[m], args.data, args.quick) for m in args.models}
    runs["tuned"] = best_run(args, runs)
    valid = sources.real_pieces(args.manifest, settings.valid_works, splits=("valid",))
    tuned = tuning.tune(
        runs["tuned"],
        valid,
        quick=args.quick,
        num=settings.tune_num,
        max_tokens=max_tokens,
        splits=settings.splits,
        seed=args.seed,
    )
    tuned.update(valid_works=len(valid), pieces_per_setting=settings.tune_num)
    excerpts = dict(limit=settings.real_excerpts, seed=args.seed)
    for model, data in (("vae", args.vae_data), ("gan", args.gan_data)):
        ensure_excerpt_data(model, data, args.manifest)
    runs["vae_prior"] = ensure_excerpt_run("vae", args.vae_run, args.vae_data, args.quick)
    runs["gan"] = ensure_excerpt_run("gan", args.gan_run, args.gan_data, args.quick)
    pieces = {
        "real": real,
        "real_soprano_2bar": sources.real_segment_pieces(args.vae_data, **excerpts),
        "real_satb_4bar": sources.real_phrase_pieces(args.gan_data, **excerpts),
    }
    for model in args.models:
        pieces[model] = sources.run_pieces(runs[model], **common)
    pieces["transformer_top_p"] = sources.run_pieces(runs["transformer"], **common, top_p=TOP_P)
    pieces["tuned"] = sources.run_pieces(
        runs["tuned"], **common, temperature=tuned["temperature"], top_p=tuned["top_p"]
    )
    drawn = dict(num=settings.num, seed=args.seed)
    pieces["vae_prior"] = sources.vae_prior_pieces(runs["vae_prior"], **drawn)
    pieces["gan"] = sources.gan_pieces(runs["gan"], **drawn)
    pieces["ngram"] = sources.ngram_pieces(args.data, **common)
    pieces["random"] = sources.random_note_pieces(real, num=settings.num, seed=args.seed)
    pieces["random_tokens"] = sources.random_token_pieces(args.data, **common)
    return pieces, runs, tuned


def reference_of(source: str) -> str:
    """The real set a source is measured against."""
    return EXCERPT_REFERENCES.get(source, "real")


def evaluate(pieces: dict[str, list], settings: Settings, seed: int) -> dict[str, dict]:
    """{source: summary (+ OA/KL against the halves of its real set; the band for a real set)}."""
    values = {name: compute_metrics(p) for name, p in pieces.items()}
    references = [r for r in ("real", *EXCERPT_REFERENCES.values()) if r in pieces]
    out, halves, bands = {}, {}, {}
    for name in references:
        halves[name] = compare.half_splits(len(pieces[name]), settings.splits, seed)
        bands[name] = compare.reference_band(values[name], halves[name])
        out[name] = {**compare.summarize(values[name]), **bands[name]}
    for name, generated in values.items():
        if name not in references:
            ref = reference_of(name)
            comparison = compare.against_real(values[ref], generated, halves[ref], bands[ref])
            out[name] = {**compare.summarize(generated), **comparison, "reference": ref}
    return out


def tuned_on_test(pieces: dict[str, list], args, settings: Settings) -> dict[str, float | int]:
    """The tuned source against the test works alone (the works its settings never saw)."""
    test = compute_metrics(sources.real_pieces(args.manifest, settings.real_works, ("test",)))
    halves = compare.half_splits(len(next(iter(test.values()))), settings.splits, args.seed)
    band = compare.reference_band(test, halves)
    comparison = compare.against_real(test, compute_metrics(pieces["tuned"]), halves, band)
    return {
        "metrics_in_band": comparison["metrics_in_band"],
        **{f"{m}_oa": comparison[f"{m}_oa"] for m in METRICS},
        **{f"{m}_in_band": comparison[f"{m}_in_band"] for m in METRICS},
    }


def with_notes(markdown: str, notes: Path | None) -> str:
    """MARKDOWN with the notes file (if any) appended."""
    return markdown if notes is None else f"{markdown.rstrip()}\n\n{notes.read_text()}"


def main() -> None:
    args = parse_args()
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        write_results(args.out, results, with_notes(report.markdown(results), args.notes))
        return
    settings = QUICK if args.quick else FULL
    settings = dataclasses.replace(
        settings, num=args.num or settings.num, tune_num=args.tune_num or settings.tune_num
    )
    started, load_before = time.time(), load_average()
    ensure_data(args.data, args.manifest)
    max_tokens = sources.held_out_median_tokens(args.data)
    pieces, runs, tuned = collect(args, settings, max_tokens)
    per_source = evaluate(pieces, settings, args.seed)
    generated = [s for s in report.GENERATED_MODELS if s in per_source]
    results = {**environment(), "quick": args.quick}
    for package in ("music21", "miditok", "symusic"):
        results[f"{package}_version"] = metadata.version(package)
    results.update(
        command=command_line(MODULE),
        seed=args.seed,
        max_tokens=max_tokens,
        band_splits=settings.splits,
        pieces_per_source=settings.num,
        **{f"{m}_run": os.path.relpath(runs[m], REPO_ROOT) for m in (*args.models, "tuned")},
        **{f"{m}_valid_nll": run_valid_nll(runs[m]) for m in (*args.models, "tuned")},
        **{f"{m}_run": os.path.relpath(runs[m], REPO_ROOT) for m in EXCERPT_REFERENCES},
        **{f"{m}_steps": run_steps(runs[m]) for m in EXCERPT_REFERENCES},
        # the grid scored on the valid works, and the tuned source on the test works alone
        sampling_tuning=tuned,
        tuned_test_only=tuned_on_test(pieces, args, settings),
        # the sources that are samples of our trained models, and the real set each is measured
        # against
        generated_sources=list(generated),
        generated_source_references={s: per_source[s]["reference"] for s in generated},
        inside_band={s: per_source[s]["metrics_in_band"] for s in report.compared(per_source)},
        overlap_area_mean={
            s: tuning.mean_overlap(per_source[s]) for s in report.compared(per_source)
        },
    )
    results.update(per_source)
    results.update(wall_s=round(time.time() - started, 1), load_before=load_before)
    results["load_after"] = load_average()
    write_results(args.out, results, "")  # the figures first: --report-only redraws results.md
    markdown = with_notes(report.markdown(results), args.notes)
    json_path, _ = write_results(args.out, results, markdown)
    print(markdown)
    print(f"wrote {json_path}")
