"""Learning curves: validation NLL over training steps of every sequence model in results.json,
drawn into one PNG beside it (from the stored curves, so a merged part redraws them all)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.chorales_nll.report import MODEL_LABELS

FILE = "learning_curves.png"
PREFIX = "valid_curve_"  # results.json: valid_curve_NAME = {"step": valid NLL, ...}


def plot(results: dict, path: Path) -> Path | None:
    """Draw each stored curve (nats per voice-token against step) into PATH; -> PATH, or None
    (and no file) when results hold no curve yet."""
    keys = sorted(k for k in results if k.startswith(PREFIX))
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for key in keys:
        name = key[len(PREFIX) :]
        points = sorted((int(step), nll) for step, nll in results[key].items())
        steps, nlls = zip(*points, strict=True) if points else ((), ())
        axes.plot(steps, nlls, marker=".", label=MODEL_LABELS.get(name, name))
    for key, label in (
        ("published_valid_nll_music_transformer_relative", "Music Transformer (published)"),
        ("valid_nll_ngram", "best n-gram"),
    ):
        if key in results:
            axes.axhline(results[key], linestyle="--", linewidth=0.8, color="grey")
            where = (0.01, results[key])  # at the left edge, on the line
            axes.annotate(label, where, xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
    quick = " (--quick run)" if results.get("quick") else ""
    axes.set(xlabel="step", ylabel="valid NLL, nats per voice-token")
    axes.set_title(f"JSB Chorales: validation NLL during training{quick}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
