"""results.md and the training-curve PNG of the GAN metrics benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.common import load_line
from symbolic.gan.run import CANDIDATES


def _mean(values) -> float:
    return float(np.nanmean(np.asarray(values, float)))


def _row(name: str, row: dict) -> str:
    cells = [
        f"{100 * _mean(row['EB']):.1f}",
        f"{_mean(row['UPC']):.2f}",
        f"{100 * _mean(row['QN']):.1f}",
        f"{100 * _mean(row['PP']):.1f}",
        f"{_mean(row['TD']):.3f}",
        f"{row['diversity_ratio']:.3f}",
        f"{100 * row['distinct']:.1f}",
        f"{row['bars']:,}",
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def _tracks_table(rows: dict, tracks: list[str]) -> list[str]:
    head = "| set | " + " | ".join(f"EB {t}" for t in tracks)
    head += " | " + " | ".join(f"UPC {t}" for t in tracks)
    head += " | " + " | ".join(f"QN {t}" for t in tracks) + " |"
    lines = [head, "|" + " --- |" * (1 + 3 * len(tracks))]
    for name, row in rows.items():
        cells = [f"{100 * v:.1f}" for v in row["EB"]] + [f"{v:.2f}" for v in row["UPC"]]
        cells += [f"{100 * v:.1f}" for v in row["QN"]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _accompany_line(a: dict, track: str, candidates: int) -> str:
    draws = "one draw a phrase" if candidates == 1 else f"the critic's best of {candidates} draws"
    return (
        f"Accompaniment ({a['phrases']} held-out phrases, track `{track}` given, {draws}): "
        f"given track kept exactly: {a['given_track_kept']}; TD given-vs-generated "
        f"{a['td_generated']:.3f} against given-vs-real {a['td_real']:.3f} "
        f"(relative gap {100 * a['td_relative_gap']:.1f}%, target <= 10%)."
    )


def _sampling_line(candidates: int) -> str:
    default = f"`symbolic gan sample`'s default is {CANDIDATES}"
    if candidates == 1:
        return f"Each GAN row samples one draw of the latents a phrase ({default})."
    return (
        f"Each GAN row samples {candidates} draws of the latents a phrase and keeps the one "
        "its critic scores highest (`--candidates`, the greedy form of discriminator rejection "
        f"sampling, Azadi et al. 2019; {default}). The row 'GAN, one draw a phrase' is the "
        "same run without that pick."
    )


def markdown(results: dict, sets: dict, musegan: dict) -> str:
    ours, theirs = results["relative_gap_ours"], results["relative_gap_musegan"]
    lines = [
        "# GAN metrics: MuseGAN's objective metrics for our piano-roll GAN",
        "",
        f"Command: `{results['command']}`",
        "",
        "Rates in %: EB (empty bars), QN (qualified notes: >= 2 steps at 12 a beat, a 32nd "
        "note), PP (polyphonicity: steps with more than 2 pitches); UPC in pitch classes per "
        "non-empty bar; TD (tonal distance) averaged over track pairs; diversity ratio = mean "
        "pairwise Jaccard distance of the set / that of the real training phrases; distinct = "
        "the share of phrases equal to no other. Averages over tracks.",
        "",
        _sampling_line(results["candidates"]),
        "",
    ]
    for name, scored in sets.items():
        lines += [
            f"## {name}",
            "",
            "| set | EB % | UPC | QN % | PP % | TD | diversity ratio | distinct % | bars |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [_row(row_name, row) for row_name, row in scored["rows"].items()]
        steps = {k: r["train_steps"] for k, r in scored["rows"].items() if "train_steps" in r}
        lines += ["", f"Training steps of the runs scored: {steps}.", ""]
        lines += _tracks_table(scored["rows"], scored["tracks"]) + [""]
        k = scored["candidates"]
        for key, draws in (("accompany", k), ("accompany_one_draw", 1)):
            if scored[key]:
                lines += [_accompany_line(scored[key], scored["tracks"][0], draws), ""]
    lines += [
        "## Gaps to the training data, beside MuseGAN's",
        "",
        "MuseGAN's rows are its Tables 1 and 2 (Dong et al., AAAI 2018): its training data and "
        "its hybrid model from scratch, over its non-drum tracks (bass, guitar, piano, strings). "
        "**Its data set is LPD-5 rock, not the chorales**: the gaps compare how close each model "
        "comes to its own data, not the music. The figures were checked against the paper's "
        "PDF (in the authors' repository, salu133445/musegan, `docs/pdf/"
        "musegan-aaai2018-paper.pdf`).",
        "",
        "| gap | ours (chorales) | MuseGAN hybrid (LPD-5) | ours closer |",
        "| --- | ---: | ---: | --- |",
    ]
    for key in ("EB", "UPC", "QN", "TD"):
        kind = "absolute" if key in ("EB", "QN") else "relative"
        lines.append(
            f"| {key} ({kind}) | {ours[key]:.3f} | {theirs[key]:.3f} | "
            f"{'yes' if ours[key] < theirs[key] else 'no'} |"
        )
    lines += ["", "MuseGAN's rows as used:", "", "| row | EB % | UPC | QN % | TD |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for name, row in musegan.items():
        cells = [", ".join(str(v) for v in row[k]) for k in ("EB", "UPC", "QN", "TD")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Accompaniment beside MuseGAN's track-conditional hybrid (its Table 2, the piano given): "
        "the TD of its given piano to its generated bass, guitar and strings is "
        f"{100 * results['accompany_td_relative_gap_musegan']:.1f}% off its training data's "
        "(pairs B-P, G-P, S-P, averaged as ours); ours, the soprano given: "
        f"{100 * results['accompany_td_relative_gap']:.1f}%.",
    ]
    lines += [
        "",
        f"Diversity: ratio {results['diversity_ratio']:.3f} (target >= 0.8), distinct "
        f"{100 * results['distinct_fraction']:.2f}% (target >= 99%).",
        "",
        "Against collapse and empty or fuzzy output we used: the WGAN-GP objective (no "
        "saturating loss; gradient penalty 10, MuseGAN's), a critic without batch "
        "normalisation, 3 critic updates per generator update, Adam (0.5, 0.9) with a cosine "
        "decay, per-track private latents beside the shared ones, the given-track "
        "conditioning dropped at random (so the generator also learns from scratch), the "
        "critic's onset and chroma streams (they see fragmented notes and harmony directly), "
        "and in the generator a pitch output that is a 5-step time convolution (against the "
        "flicker of stride-2 upsampling that broke notes into one-step fragments), the given "
        "track step by step at that output, and one chroma plan per beat that every track "
        "reads, and BinaryMuseGAN's straight-through binarisation of the output "
        "(`gan.binarize=ste`: the critic judges the hard roll that sampling writes). Diversity "
        "and distinct fraction are measured on samples from scratch with fixed seeds.",
        "",
        "How the runs were trained, the training time and what misses its target: `notes.md`.",
        "",
        "Training curves (EB and QN of each step's generated batch, binarised at 0.5, the "
        "phrases without a given track): `training_curves.png`.",
        "",
        load_line(results),
        "",
    ]
    return "\n".join(lines)


def curves(runs: dict, sets: dict, out: Path) -> Path:
    """EB and QN of the generated batches over training steps, the real data's as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    real = sets["chorales"]["rows"]["real (train)"]
    for name, run_dir in runs.items():
        records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").open()]
        train = [r for r in records if r.get("split") == "train" and "eb" in r]
        steps = [r["step"] for r in train]
        for ax, key in zip(axes, ("eb", "qn"), strict=True):
            ax.plot(steps, [100 * r[key] for r in train], label=name)
    for ax, key in zip(axes, ("EB", "QN"), strict=True):
        ax.axhline(100 * _mean(real[key]), color="k", ls="--", label="real (train)")
        ax.set_xlabel("step")
        ax.set_ylabel(f"{key} %")
        ax.set_title(f"{key} of generated batches (chorales)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
