"""The VAE's trade-off over the KL weight: sampled reconstruction against prior quality.

    python -m benchmarks.vae_reconstruction.tradeoff [--quick] [--steps N]

For each setting of `SETTINGS` (beta, its warm-up rate, free bits) it trains the 2-bar melody
preset for a short budget (`--steps`, labelled in the results), then measures
* sampled reconstruction accuracy on the test split (`symbolic vae eval`'s figure, as
  `benchmarks.vae_reconstruction` reports it), and
* prior quality: `symbolic vae sample` melodies (z ~ N(0, I), greedy) against held-out 2-bar
  soprano segments, as `benchmarks.music_metrics` compares its `vae_prior` source: how many of
  the 8 metrics land inside the real half-vs-half band, and the mean Yang & Lerch overlap area.

A run already in the work directory is resumed, not retrained (`--eval-only` scores the runs as
they are). Writes tradeoff.json / tradeoff.md / tradeoff.png here (`--quick`: under the workdir)
after every setting, merging with the rows already there (`--only NAME,...` reruns some).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
)
from benchmarks.music_metrics import compare, sources
from symbolic.music.metrics import METRICS, compute_metrics

OUT_DIR = Path(__file__).resolve().parent
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
PRESET = "vae_melody_2bar"
TRANSPOSE = (-5, 5)  # as benchmarks.vae_reconstruction
STEPS = 200
QUICK_STEPS = 40
# (name, kl_beta, kl_anneal_rate, free_bits): the preset's schedule (beta ~0 at short budgets),
# then beta warmed up within ~200 steps (rate 0.99) to rising targets; run in this order (the
# ends of the curve first), reported in order of beta.
SETTINGS = (
    ("preset", 0.2, 0.99999, 0.0),
    ("beta0.5", 0.5, 0.99, 0.0),
    ("beta0.05", 0.05, 0.99, 0.0),
    ("beta0.2", 0.2, 0.99, 0.0),
)
PRIOR_SAMPLES, REAL_SEGMENTS, SPLITS = 64, 128, 10
QUICK_PRIOR_SAMPLES, QUICK_REAL_SEGMENTS, QUICK_SPLITS = 16, 24, 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vae_reconstruction.tradeoff")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, two settings")
    p.add_argument("--steps", type=int, default=None, help=f"steps per setting ({STEPS})")
    p.add_argument("--only", default=None, help="comma-separated setting names")
    p.add_argument("--eval-only", action="store_true", help="score the runs as they are")
    p.add_argument(
        "--add-run",
        type=Path,
        action="append",
        default=[],
        help="also score this trained VAE run (e.g. the vae_reconstruction one); repeatable",
    )
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "runs" / "benchmarks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: here (quick: the workdir)")
    return p.parse_args()


def final_train_record(run_dir: Path) -> dict:
    """The last logged training record (its beta and KL)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("split") == "train"][-1]


def prior_quality(run_dir: Path, real_values: dict, halves, band, num: int, seed: int) -> dict:
    """Prior samples against the real segments: metrics in band and the overlap areas."""
    prior = compute_metrics(sources.vae_prior_pieces(run_dir, num=num, seed=seed))
    comparison = compare.against_real(real_values, prior, halves, band)
    return {
        "prior_metrics_in_band": comparison["metrics_in_band"],
        "prior_mean_oa": float(np.mean([comparison[f"{m}_oa"] for m in METRICS])),
        **{f"prior_{m}_oa": comparison[f"{m}_oa"] for m in METRICS},
    }


def measure(args, name: str, beta: float, rate: float, free: float, data_dir: Path, ctx) -> dict:
    """Train (or resume) one setting and measure both sides of the trade-off."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    run_dir = args.workdir / f"vae_tradeoff{'_quick' if args.quick else ''}" / f"{name}_{steps}"
    overrides = [f"model.kl_beta={beta}", f"model.kl_anneal_rate={rate}", f"model.free_bits={free}"]
    started = time.time()
    if not args.eval_only:
        cfg = config_lib.resolve("vae", PRESET, overrides, steps=steps)
        trainer.train(cfg, data_dir, run_dir, progress=False)
    return score(run_dir, name, data_dir, ctx, started)


def score(run_dir: Path, name: str, data_dir: Path, ctx, started: float) -> dict:
    """Both sides of the trade-off for a trained run (its best checkpoint)."""
    from symbolic.training.checkpoint import restore_params
    from symbolic.vae.evaluation import evaluate_run

    model = json.loads((run_dir / "config.json").read_text())["model"]
    recon = evaluate_run(run_dir, "test", data_dir)
    row = {
        "setting": name,
        "run": os.path.relpath(run_dir, REPO_ROOT),
        **{key: model[key] for key in ("kl_beta", "kl_anneal_rate", "free_bits")},
        "steps": int(restore_params(run_dir)[1]),  # the best checkpoint's step
        "final_beta": float(final_train_record(run_dir)["beta"]),
        "recon_acc_sampled": recon["recon_acc_sampled"],
        "recon_acc_teacher_forced": recon["recon_acc_teacher_forced"],
        "kl_per_segment": recon["kl_per_segment"],
        **prior_quality(run_dir, *ctx),
        "wall_s": round(time.time() - started, 1),
    }
    print(json.dumps(row))
    return row


def plot(rows: list[dict], path: Path) -> None:
    """Sampled reconstruction (x) against prior metrics in band (y), one labelled point each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = [r["recon_acc_sampled"] for r in rows]
    y = [r["prior_metrics_in_band"] for r in rows]
    ax.plot(x, y, "o")
    for r, xi, yi in zip(rows, x, y, strict=True):
        ax.annotate(f"{r['setting']} (beta {r['final_beta']:.3g})", (xi, yi), fontsize=7)
    ax.axvline(0.95, ls=":", c="grey")
    ax.axhline(5, ls=":", c="grey")
    ax.set_xlabel("sampled reconstruction accuracy (test)")
    ax.set_ylabel(f"prior samples: metrics inside the real band (of {len(METRICS)})")
    ax.set_ylim(-0.3, len(METRICS) + 0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_markdown(r: dict, rows: list[dict]) -> str:
    headers = ["setting", "beta target", "rate", "free bits", "best step", "beta at end"]
    headers += ["sampled recon", "KL/segment", "prior in band", "prior mean OA"]
    table = markdown_table(
        headers,
        [
            [row["setting"], row["kl_beta"], f"{row['kl_anneal_rate']:g}", row["free_bits"]]
            + [row["steps"], f"{row['final_beta']:.4f}", f"{row['recon_acc_sampled']:.3f}"]
            + [f"{row['kl_per_segment']:.1f}", f"{row['prior_metrics_in_band']} / {len(METRICS)}"]
            + [f"{row['prior_mean_oa']:.3f}"]
            for row in rows
        ],
    )
    return f"""# vae_reconstruction: the beta trade-off

Preset `{PRESET}` (2-bar soprano melodies, train transposed {TRANSPOSE[0]}..{TRANSPOSE[1]}),
each setting trained for a short budget (the best checkpoint's step is in the table; the
preset's full budget is 6,000 steps): these are pilots, not converged runs. Sampled
reconstruction: test split, posterior mean, greedy decoding (`symbolic vae eval`). Prior:
{r["prior_samples"]} `symbolic vae sample` melodies (z ~ N(0, I), greedy) against
{r["real_segments"]} held-out (valid + test) 2-bar soprano segments; "in band" counts the
metrics whose Yang & Lerch OA / KL against a real half falls inside what the other real half
gets ({r["band_splits"]} seeded splits), as in `benchmarks/music_metrics`. Target: prior in
band on >= 5 of 8 with sampled recon >= 0.95.

{table}

![trade-off](tradeoff.png)

Command: `{r["command"]}`; {r["wall_s"]:.0f} s in all. Device: {r["device"]} ({r["cpu_count"]}
cores); commit {r["git_commit"]}. {load_line(r)}
"""


def write(out: Path, results: dict, rows: list[dict]) -> None:
    """tradeoff.json / .md / .png in OUT, rows in order of the beta reached."""
    rows = sorted(rows, key=lambda row: row["final_beta"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "tradeoff.json").write_text(json.dumps({**results, "rows": rows}, indent=2) + "\n")
    plot(rows, out / "tradeoff.png")
    (out / "tradeoff.md").write_text(render_markdown(results, rows))


def record(out: Path, results: dict, rows: list[dict], row: dict, started: float) -> list[dict]:
    """ROWS with ROW in place of any row of its setting, written out at once."""
    rows = [r for r in rows if r["setting"] != row["setting"]] + [row]
    results.update(wall_s=round(time.time() - started, 1), load_after=load_average())
    write(out, results, rows)
    return rows


def main() -> None:
    from symbolic.data import segments as seg
    from symbolic.data.meta import META_FILE, read_meta

    args = parse_args()
    started, load_before = time.time(), load_average()
    data_dir = args.workdir / "vae_segments_2bar_t5"  # shared with benchmarks.vae_reconstruction
    meta_path = data_dir / META_FILE
    if not (meta_path.is_file() and read_meta(meta_path).transpose == TRANSPOSE):
        seg.prepare_segments(MANIFEST, data_dir, bars=2, melody=True, augment_transpose=TRANSPOSE)
    num, limit, splits = (
        (QUICK_PRIOR_SAMPLES, QUICK_REAL_SEGMENTS, QUICK_SPLITS)
        if args.quick
        else (PRIOR_SAMPLES, REAL_SEGMENTS, SPLITS)
    )
    real = compute_metrics(sources.real_segment_pieces(data_dir, limit=limit, seed=args.seed))
    halves = compare.half_splits(limit, splits, args.seed)
    ctx = (real, halves, compare.reference_band(real, halves), num, args.seed)
    chosen = SETTINGS[:2] if args.quick else SETTINGS
    if args.only:
        names = set(args.only.split(","))
        chosen = [s for s in SETTINGS if s[0] in names]
    out = args.out or (args.workdir / "vae_tradeoff_quick" if args.quick else OUT_DIR)
    previous = out / "tradeoff.json"
    rows = json.loads(previous.read_text())["rows"] if previous.is_file() else []
    results = {
        "benchmark": "vae_tradeoff",
        "command": command_line("benchmarks.vae_reconstruction.tradeoff"),
        "quick": args.quick,
        "prior_samples": num,
        "real_segments": limit,
        "band_splits": splits,
        "load_before": load_before,
        **environment(),
    }
    for setting in chosen:
        rows = record(out, results, rows, measure(args, *setting, data_dir, ctx), started)
    for run in args.add_run:
        row = score(run.resolve(), run.name, data_dir, ctx, time.time())
        rows = record(out, results, rows, row, started)
    print((out / "tradeoff.md").read_text())


if __name__ == "__main__":
    main()
