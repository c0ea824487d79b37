"""The sampling settings (temperature, top-p) that serve a chorale model best, chosen on the
validation works only: every setting of a small grid draws pieces (with a seed of its own, not
the one the reported source is drawn with), which are compared with the valid split's real
chorales exactly as the benchmark compares its sources with the held-out set (`compare`). The
best setting has the most metrics inside the valid half-vs-half band, ties broken by the mean
overlapping area over the metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.music_metrics import compare, sources
from symbolic.music.metrics import METRICS, Notes, compute_metrics

TEMPERATURES = (0.8, 0.9, 1.0)
TOP_PS = (0.9, 0.95, 1.0)
QUICK_TEMPERATURES = (0.9, 1.0)
QUICK_TOP_PS = (0.95, 1.0)
TUNING_SEED_OFFSET = 1  # tuning draws differ from the draws the benchmark reports


def mean_overlap(comparison: dict) -> float:
    """The mean over `METRICS` of a comparison's overlapping areas."""
    return float(np.mean([comparison[f"{name}_oa"] for name in METRICS]))


def tune(
    run_dir: Path,
    valid_real: list[Notes],
    *,
    quick: bool,
    num: int,
    max_tokens: int,
    splits: int,
    seed: int,
) -> dict[str, float | int]:
    """Score the grid on VALID_REAL; -> {temperature, top_p (the best), and per setting
    `t{T}_p{P}_in_band` / `_mean_oa`}."""
    real = compute_metrics(valid_real)
    halves = compare.half_splits(len(valid_real), splits, seed)
    band = compare.reference_band(real, halves)
    grid: dict[tuple[float, float], tuple[int, float]] = {}
    temperatures, top_ps = (QUICK_TEMPERATURES, QUICK_TOP_PS) if quick else (TEMPERATURES, TOP_PS)
    for temperature in temperatures:
        for top_p in top_ps:
            pieces = sources.run_pieces(
                run_dir,
                num=num,
                max_tokens=max_tokens,
                seed=seed + TUNING_SEED_OFFSET,
                top_p=top_p,
                temperature=temperature,
            )
            comparison = compare.against_real(real, compute_metrics(pieces), halves, band)
            grid[temperature, top_p] = (comparison["metrics_in_band"], mean_overlap(comparison))
            print(f"  tuning T={temperature} top_p={top_p}: {grid[temperature, top_p]}")
    best_temperature, best_top_p = max(grid, key=grid.get)
    out: dict[str, float | int] = {"temperature": best_temperature, "top_p": best_top_p}
    for (temperature, top_p), (inside, overlap) in grid.items():
        out[f"t{temperature}_p{top_p}_in_band"] = inside
        out[f"t{temperature}_p{top_p}_mean_oa"] = overlap
    return out
