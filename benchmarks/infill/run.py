"""`python -m benchmarks.infill [--quick] [--variant NAME] [--eval-only]`: does the FIM model
listen to the bars after the span?

Each variant is the `infill` preset (the demo Transformer, SPM order, `symbolic.data.fim`) with
some `--set` overrides, trained on the Bach chorales prepared with the remi tokenizer as the demo
prepares them, and scored on the held-out (valid + test) works by `benchmarks.infill.measure`.
A full run merges its variant's figures into results.json as an object named after it; the
top-level keys (`nll_with_suffix_2bar`, ...) are those of CHOSEN. `--quick` trains a tiny model
for a few steps and writes under its work directory instead, so it never overwrites the
committed figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    write_results,
)
from benchmarks.infill import measure
from benchmarks.infill.report import render_markdown

OUT_DIR = Path(__file__).resolve().parent
NOTES = OUT_DIR / "notes.md"
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
PRESET = "infill"
SPAN_BARS = (1, 2, 4)
# name -> `--set` overrides of the infill preset (each a lever of issue 12 item 5)
VARIANTS = {
    "baseline": [],
    "rate09": ["train.fim_rate=0.9"],
    "span_bars": ["train.fim_span=bars"],
    # (bar_count, in results.json, was span_bars with a bar-count sentinel: commit 74e71e6)
    "seq512": ["train.fim_span=bars", "train.seq_len=512"],
    "span_bars_3000": [
        "train.fim_span=bars",
        "train.steps=3000",
        "train.eval_every=200",
        "train.checkpoint_every=200",
    ],
}
CHOSEN = "baseline"
QUICK = ["train.steps=60", "train.eval_every=60", "train.checkpoint_every=60", "train.fim_rate=0.5"]
QUICK_COUNTS = {"generate": 2, "samples": 2}
FULL_COUNTS = {"generate": 4, "samples": 8}
# The span length of the target, whose suffix information (`measure.suffix_information`) is
# estimated on its first spans (each compiles a sampler: 85 spans took 17 min), from middles
# sampled per span.
TARGET_BARS = 2
INFORMATION = {"quick": {"spans": 3, "samples": 2}, "full": {"spans": 85, "samples": 16}}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.infill")
    p.add_argument("--quick", action="store_true", help="a tiny model, 60 steps (minutes)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default=CHOSEN)
    p.add_argument("--eval-only", action="store_true", help="score the run as it is")
    p.add_argument(
        "--run",
        type=Path,
        default=None,
        help="score this run dir (a copy of the "
        "variant's run taken mid-training); implies --eval-only",
    )
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "runs" / "benchmarks" / "infill")
    p.add_argument("--generate", type=int, default=None, help="spans per length to sample")
    p.add_argument("--samples", type=int, default=None, help="middles sampled per span")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: here (quick: the workdir)")
    return p.parse_args()


def train(args, data_dir: Path, run_dir: Path) -> None:
    """Train (or resume) the variant through the engine; nothing with --eval-only."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    if args.eval_only:
        return
    if args.quick:
        cfg = config_lib.resolve("transformer", "tiny", ["train.seq_len=256", *QUICK])
    else:
        cfg = config_lib.resolve("transformer", PRESET, VARIANTS[args.variant])
    trainer.train(cfg, data_dir, run_dir, progress=False)


def drawn_span_bars(
    data_dir: Path, seq_len: int, draw: str, seed: int, windows: int = 2000
) -> dict:
    """How many bars the training draw (`fim.choose_span` with the run's `draw`) puts in a
    middle, over `windows` training windows of the run's length: {"train_span_bars_1": ...}."""
    from symbolic.data import fim
    from symbolic.data.batches import load_split
    from symbolic.data.meta import load_meta
    from symbolic.training import sources

    ids = sources.fim_tokens(data_dir, load_meta(data_dir))
    tokens = np.asarray(load_split(data_dir, "train").tokens)
    rng = np.random.default_rng(seed)
    counts = []
    for start in rng.integers(0, len(tokens) - seq_len, size=windows):
        window = tokens[start : start + seq_len - len(fim.SENTINELS) + 1]
        span = fim.choose_span(window, ids, rng, draw)
        if span is not None:
            counts.append(int((window[span[0] : span[1]] == ids.bar).sum()))
    counts = np.asarray(counts)
    out = {f"train_span_bars_{n}": float(np.mean(counts == n)) for n in (1, 2, 3)}
    out["train_span_bars_4_or_more"] = float(np.mean(counts >= 4))
    return out


def score(run_dir: Path, data_dir: Path, counts: dict, seed: int, information: dict) -> dict:
    """The variant's figures for each span length in SPAN_BARS, and for TARGET_BARS how much
    the suffix could tell (on `information["spans"]` spans, from `information["samples"]`
    middles each)."""
    from symbolic.generation import infill
    from symbolic.generation.engine import LoadedRun

    run = LoadedRun.load(run_dir)
    ids = infill.sentinels(run)
    pieces = measure.held_out_pieces(data_dir)
    train = run.config.train
    figures: dict = {
        "seq_len": train.seq_len,
        "fim_rate": train.fim_rate,
        "fim_span": train.fim_span,
    }
    for bars in SPAN_BARS:
        spans = measure.draw_spans(pieces, ids.bar, bars, seed)
        nll = measure.middle_nll(run, spans, ids)
        smooth = measure.smooth_rates(run, spans, ids, seed=seed, **counts)
        tag = f"{bars}bar"
        figures |= {
            f"spans_{tag}": len(spans),
            f"middle_tokens_{tag}": float(np.mean([len(s.split.middle) for s in spans])),
            f"nll_with_suffix_{tag}": nll["with_suffix"],
            f"nll_without_suffix_{tag}": nll["without_suffix"],
            f"nll_plain_continuation_{tag}": nll["plain"],
            f"suffix_gain_{tag}": 1 - nll["with_suffix"] / nll["without_suffix"],
            f"nll_with_suffix_last_bar_{tag}": nll["with_suffix_last_bar"],
            f"nll_without_suffix_last_bar_{tag}": nll["without_suffix_last_bar"],
            f"suffix_gain_last_bar_{tag}": 1
            - nll["with_suffix_last_bar"] / nll["without_suffix_last_bar"],
            **{f"{k}_{tag}": v for k, v in smooth.items()},
        }
        if bars == TARGET_BARS:
            chosen = spans[: information["spans"]]
            info = measure.suffix_information(run, chosen, ids, information["samples"], seed)
            figures |= {f"{k}_{tag}": v for k, v in info.items()}
    figures |= {
        **training_record(run_dir),
        **drawn_span_bars(data_dir, train.seq_len, train.fim_span, seed),
    }
    return figures


def training_record(run_dir: Path) -> dict:
    """Where the scored checkpoint stands: its step, the best validation NLL logged (plain LM
    windows), the steps logged and the configured ones (a run still training, or stopped early,
    is scored at its best checkpoint so far), and the wall time the log spans."""
    from symbolic.training.checkpoint import restore_params

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r.get("split") == "valid"]
    started = [r["time"] for r in records if r.get("event") == "start"]
    config = json.loads((run_dir / "config.json").read_text())
    return {
        "checkpoint_step": int(restore_params(run_dir)[1]),
        "best_valid_nll": min(r["nll"] for r in valid) if valid else None,
        "train_steps": max(r["step"] for r in records if "step" in r),
        "train_steps_configured": config["train"]["steps"],
        # from the first session's start to the last line logged
        "train_wall_s": (run_dir / "metrics.jsonl").stat().st_mtime - started[0],
    }


def merged(out_dir: Path, variant: str, figures: dict, quick: bool) -> dict:
    """results.json with this variant's figures as an object, and CHOSEN's at the top level."""
    path = out_dir / "results.json"
    results = {} if quick or not path.is_file() else json.loads(path.read_text())
    results[f"variant_{variant}"] = figures
    chosen = results.get(f"variant_{CHOSEN}") or (figures if quick else {})
    results |= {k: v for k, v in chosen.items()}
    results["chosen_variant"] = variant if quick else CHOSEN
    return results


def main() -> None:
    from symbolic.demo import prepare_once

    args = parse_args()
    counts = QUICK_COUNTS if args.quick else FULL_COUNTS
    counts = {
        "generate": args.generate if args.generate is not None else counts["generate"],
        "samples": args.samples or counts["samples"],
    }
    data_dir = args.workdir / "data"
    run_dir = args.run or args.workdir / ("run_quick" if args.quick else f"run_{args.variant}")
    args.eval_only = args.eval_only or args.run is not None
    out_dir = args.out or (args.workdir / "quick" if args.quick else OUT_DIR)
    load_before, started = load_average(), time.time()
    prepare_once(MANIFEST, "remi", data_dir)
    train(args, data_dir, run_dir)
    information = INFORMATION["quick" if args.quick else "full"]
    figures = score(run_dir, data_dir, counts, args.seed, information)
    figures |= {
        "overrides": " ".join(QUICK if args.quick else VARIANTS[args.variant]) or "(none)",
        "command": command_line("benchmarks.infill"),
        "benchmark_wall_s": time.time() - started,
        "load_before": load_before,
        "load_after": load_average(),
    }
    results = merged(out_dir, "quick" if args.quick else args.variant, figures, args.quick)
    results |= {"benchmark": "infill", "quick": args.quick, **environment()}
    results |= {k: figures[k] for k in ("load_before", "load_after")}  # this run's
    md = render_markdown(results, SPAN_BARS, INFORMATION["full"]["samples"])
    if not args.quick and NOTES.is_file():  # what the committed variants showed, by hand
        md += "\n" + NOTES.read_text()
    write_results(out_dir, results, md)
    print(md)
