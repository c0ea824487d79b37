"""MuseGAN's objective metrics for our GAN runs, beside MuseGAN's published rows.

    python -m benchmarks.gan_metrics --data DATA --run RUN [--ablation-run RUN2]
        [--pop909-data DATA --pop909-run RUN] [--num 5000] [--quick]

Trains nothing: the runs are trained by `symbolic train --model gan --preset gan` (the commands
are in results.md). For each data set it scores real training phrases, held-out real phrases
(valid + test), phrases of each run sampled from scratch, and random notes at the training
data's density, with `symbolic.music.pianoroll_metrics`; the gaps to the training data are
compared with MuseGAN's (its hybrid model against its training data, LPD-5 rock). It also
accompanies the held-out phrases' first track and draws the training curves (EB and QN of the
generated batches over steps, from RUN/metrics.jsonl).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import command_line, environment, load_average
from benchmarks.gan_metrics import report
from symbolic.data.meta import load_meta
from symbolic.data.phrase_sets import load_phrases
from symbolic.gan.run import CANDIDATES
from symbolic.music import pianoroll_metrics as pm

HERE = Path(__file__).parent
ONE_DRAW = "GAN, one draw a phrase"  # the main run without the critic's pick

# MuseGAN (Dong et al., AAAI 2018), Table 1 (intra-track, %; UPC in classes) and Table 2 (TD),
# training data and the hybrid model from scratch, non-drum tracks bass, guitar, piano, strings.
# Checked against the paper's PDF (salu133445/musegan, docs/pdf/musegan-aaai2018-paper.pdf).
MUSEGAN = {
    "training data": {
        "EB": [8.06, 19.4, 24.8, 10.1],
        "UPC": [1.71, 3.08, 3.28, 3.38],
        "QN": [90.0, 81.9, 88.4, 89.6],
        "TD": [1.57, 1.58, 1.51, 1.10, 1.02, 1.04],
    },
    "hybrid": {
        "EB": [2.14, 11.7, 17.8, 6.04],
        "UPC": [2.35, 4.76, 5.45, 5.24],
        "QN": [44.6, 43.2, 45.5, 52.0],
        "TD": [1.34, 1.35, 1.32, 0.85, 0.85, 0.83],
    },
}


# Its Table 2, track-conditional hybrid (the piano given): TD of the given piano to the
# generated bass, guitar and strings (B-P, G-P, S-P) against the training data's.
MUSEGAN_ACCOMPANY = {"training data": [1.51, 1.02, 1.04], "hybrid": [1.38, 0.94, 0.95]}


def gaps(generated: dict, real: dict) -> dict[str, float]:
    """The issue's gaps: |gen - real| for the rates (EB, QN), |gen - real| / real for UPC and
    TD, averaged over tracks (track pairs for TD)."""
    out = {}
    for key in ("EB", "QN", "UPC", "TD"):
        g, r = np.asarray(generated[key], float), np.asarray(real[key], float)
        diff = np.abs(g - r) if key in ("EB", "QN") else np.abs(g - r) / r
        out[key] = float(np.nanmean(diff))
    return out


def musegan_gaps() -> dict[str, float]:
    """MuseGAN's hybrid-vs-training gaps, its percentages as fractions."""
    rows = {
        name: {k: np.asarray(v) / (100 if k in ("EB", "QN") else 1) for k, v in row.items()}
        for name, row in MUSEGAN.items()
    }
    return gaps(rows["hybrid"], rows["training data"])


def musegan_accompany_gap() -> float:
    """MuseGAN's given-vs-generated TD gap in its track-conditional mode, as `accompaniment`'s."""
    real, gen = (np.asarray(MUSEGAN_ACCOMPANY[k]) for k in ("training data", "hybrid"))
    return float(abs(gen.mean() - real.mean()) / real.mean())


def summary(rolls: np.ndarray, meta) -> dict:
    """Per-track metric lists, TD per pair, PP and the diversity figures of one set."""
    spb = meta.beats_per_bar * meta.steps_per_beat
    m = pm.phrase_metrics(rolls, spb, meta.steps_per_beat, meta.low_pitch)
    return {
        "EB": m["EB"],
        "UPC": m["UPC"],
        "QN": m["QN"],
        "PP": m["PP"],
        "TD": list(m["TD"].values()),
        "pairwise": pm.pairwise_distance(rolls),
        "distinct": pm.distinct_fraction(rolls),
        "phrases": len(rolls),
        "bars": len(rolls) * meta.bars,
    }


def random_notes(real: np.ndarray, num: int, seed: int) -> np.ndarray:
    """Random rolls: each cell on with its track's density in `real`, independently."""
    density = real.mean(axis=(0, 2, 3))  # [tracks]
    rng = np.random.default_rng(seed)
    return rng.random((num, *real.shape[1:])) < density[None, :, None, None]


def accompaniment(run, held_out: np.ndarray, meta, seed: int, candidates: int) -> dict:
    """Give each held-out phrase's track 0, generate the others (the critic's best of
    `candidates` draws): is the given track kept exactly, and the TD between it and the
    generated tracks against the real TD."""
    spb = meta.beats_per_bar * meta.steps_per_beat
    given = held_out[:, 0]
    rolls = run.best_of(len(given), seed=seed, candidates=candidates, given=given, track=0)
    pairs = [(0, t) for t in range(1, held_out.shape[1])]
    real_td = pm.tonal_distance(held_out, spb, meta.low_pitch, pairs)
    gen_td = pm.tonal_distance(rolls, spb, meta.low_pitch, pairs)
    real_mean = float(np.nanmean(list(real_td.values())))
    gen_mean = float(np.nanmean(list(gen_td.values())))
    return {
        "given_track_kept": bool((rolls[:, 0] == given).all()),
        "td_real": real_mean,
        "td_generated": gen_mean,
        "td_relative_gap": abs(gen_mean - real_mean) / real_mean,
        "phrases": len(given),
    }


def score_set(data_dir: Path, runs: dict, num: int, seed: int, candidates: int) -> dict:
    """Every row of one data set: {row name: summary}, the gaps and the accompaniment. Each
    run samples as `symbolic gan sample --candidates K` does; with K > 1 the main run is also
    scored on one draw a phrase (row ONE_DRAW, `accompany_one_draw`)."""
    from symbolic.gan import load_gan

    meta = load_meta(data_dir)
    real = load_phrases(data_dir, "train", untransposed=True)["pianoroll"]
    if len(real) > num:  # as many real phrases as generated ones, at most (memory)
        real = real[np.sort(np.random.default_rng(seed).choice(len(real), num, replace=False))]
    held = [load_phrases(data_dir, s)["pianoroll"] for s in ("valid", "test")]
    held_out = np.concatenate(held)
    rows = {"real (train)": summary(real, meta), "real (held out)": summary(held_out, meta)}
    out = {"accompany": {}, "accompany_one_draw": {}, "candidates": candidates}
    for name, run_dir in runs.items():
        run = load_gan(run_dir)
        draws = [(name, "accompany", candidates)]
        if name == "GAN" and candidates > 1:
            draws.append((ONE_DRAW, "accompany_one_draw", 1))
        for row_name, accompany_key, k in draws:
            rows[row_name] = summary(run.sample_rolls(num, seed=seed, candidates=k), meta)
            rows[row_name]["train_steps"] = _last_step(run_dir)
            if name == "GAN":
                out[accompany_key] = accompaniment(run, held_out, meta, seed, k)
    rows["random notes"] = summary(random_notes(real, num, seed), meta)
    base = rows["real (train)"]
    for row in rows.values():
        row["gaps"] = gaps(row, base)
        row["diversity_ratio"] = row["pairwise"] / base["pairwise"]
    return out | {"rows": rows, "tracks": list(meta.tracks)}


def _last_step(run_dir: Path) -> int:
    steps = [
        r["step"]
        for r in map(json.loads, (Path(run_dir) / "metrics.jsonl").read_text().splitlines())
        if r.get("split") == "train"
    ]
    return max(steps, default=0)


def flat_set(scored: dict) -> dict:
    """One data set's figures as one flat object (for results.json's `sets`)."""
    out = {}
    for name, row in scored["rows"].items():
        key = name.replace(" ", "_").replace("(", "").replace(")", "")
        for metric in ("EB", "UPC", "QN", "PP", "TD"):
            out[f"{key}.{metric}"] = float(np.nanmean(np.asarray(row[metric], float)))
        for metric, gap in row["gaps"].items():
            out[f"{key}.gap_{metric}"] = gap
        out[f"{key}.diversity_ratio"] = row["diversity_ratio"]
        out[f"{key}.distinct_fraction"] = row["distinct"]
        out[f"{key}.bars"] = row["bars"]
    for name in ("accompany", "accompany_one_draw"):
        for key, value in scored[name].items():
            out[f"{name}.{key}"] = value
    out["candidates"] = scored["candidates"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="chorale phrases folder")
    parser.add_argument("--run", type=Path, required=True, help="the `gan` preset run")
    parser.add_argument("--ablation-run", type=Path, help="the run without the shared latent")
    parser.add_argument(
        "--also", action="append", default=[], metavar="NAME=RUN", help="more chorale runs"
    )
    parser.add_argument("--pop909-data", type=Path)
    parser.add_argument("--pop909-run", type=Path)
    parser.add_argument("--num", type=int, default=5000, help="phrases sampled per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--candidates",
        type=int,
        default=CANDIDATES,
        help=f"draws a phrase, the critic's best kept, as `gan sample` ({CANDIDATES})",
    )
    parser.add_argument("--quick", action="store_true", help="500 phrases, results not written")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    num = 500 if args.quick else args.num
    load_before = load_average()
    runs = {"GAN": args.run}
    if args.ablation_run:
        runs["GAN, no shared latent"] = args.ablation_run
    for pair in args.also:
        name, _, run_dir = pair.partition("=")
        runs[name] = Path(run_dir)
    sets = {"chorales": score_set(args.data, runs, num, args.seed, args.candidates)}
    if args.pop909_data:  # without a run: the real rows and the random baseline only
        pop_runs = {"GAN": args.pop909_run} if args.pop909_run else {}
        sets["pop909"] = score_set(args.pop909_data, pop_runs, num, args.seed, args.candidates)
    chorales = sets["chorales"]["rows"]
    results = {
        "relative_gap_ours": chorales["GAN"]["gaps"],
        "relative_gap_musegan": musegan_gaps(),
        "accompany_td_relative_gap_musegan": musegan_accompany_gap(),
        "diversity_ratio": chorales["GAN"]["diversity_ratio"],
        "distinct_fraction": chorales["GAN"]["distinct"],
        "PP": float(np.nanmean(np.asarray(chorales["GAN"]["PP"], float))),
        "PP_real": float(np.nanmean(np.asarray(chorales["real (train)"]["PP"], float))),
        "bars_generated": chorales["GAN"]["bars"],
        "train_steps": chorales["GAN"]["train_steps"],
        "candidates": args.candidates,
        **{f"accompany_{k}": v for k, v in sets["chorales"]["accompany"].items()},
        **({"relative_gap_one_draw": chorales[ONE_DRAW]["gaps"]} if ONE_DRAW in chorales else {}),
        "sets": {name: flat_set(scored) for name, scored in sets.items()},
        "command": command_line("benchmarks.gan_metrics"),
        "load_before": load_before,
        "load_after": load_average(),
        **environment(),
    }
    if args.quick:
        print(json.dumps({k: v for k, v in results.items() if k != "sets"}, indent=1))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.curves(runs, sets, args.out / "training_curves.png")
    (args.out / "results.md").write_text(report.markdown(results, sets, MUSEGAN))
    print(f"wrote {args.out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
