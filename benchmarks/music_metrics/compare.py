"""Per-source summaries and Yang & Lerch comparisons against seeded halves of the real set.

The reference band: the real pieces are split at random into halves A and B, `splits` times
(seeded). For each metric, half B against half A (A's intra-set distances against the A-B
inter-set distances, `symbolic.music.metrics.overlap_and_kl`) gives one overlapping area (OA)
and one KL; the band is their range over the splits. Each generated source is compared with the same
halves A (its OA and KL are means over the splits), so both sides of the comparison use a
reference set of the same size. A source is inside the band for a metric when its OA is at least
the band's lowest OA and its KL at most the band's highest KL.
"""

from __future__ import annotations

import numpy as np

from symbolic.music.metrics import METRICS, overlap_and_kl

Values = dict[str, np.ndarray]  # metric name -> [pieces] float64 (NaN where undefined)


def summarize(values: Values) -> dict[str, float | int]:
    """{metric: mean, metric_std, metric_median} over the pieces where it is defined, and the
    piece count."""
    summary: dict[str, float | int] = {}
    for name, v in values.items():
        defined = v[~np.isnan(v)]
        stats = (
            (defined.mean(), defined.std(), np.median(defined)) if defined.size else (np.nan,) * 3
        )
        for suffix, value in zip(("", "_std", "_median"), stats, strict=True):
            summary[name + suffix] = float(value)
    summary["pieces"] = int(len(next(iter(values.values()))))
    return summary


def half_splits(num_real: int, splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`splits` seeded random (A, B) halves of range(num_real), A the first floor(n / 2)."""
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(splits):
        order = rng.permutation(num_real)
        halves.append((order[: num_real // 2], order[num_real // 2 :]))
    return halves


def reference_band(real: Values, halves: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Half B against half A over the splits: {metric}_oa / _kl (means), _oa_low / _oa_high,
    _kl_low / _kl_high (ranges)."""
    band: dict[str, float] = {}
    for name in METRICS:
        pairs = np.array([overlap_and_kl(real[name][a], real[name][b]) for a, b in halves])
        band[f"{name}_oa"], band[f"{name}_kl"] = (float(x) for x in pairs.mean(axis=0))
        band[f"{name}_oa_low"], band[f"{name}_kl_low"] = (float(x) for x in pairs.min(axis=0))
        band[f"{name}_oa_high"], band[f"{name}_kl_high"] = (float(x) for x in pairs.max(axis=0))
    return band


def against_real(
    real: Values,
    generated: Values,
    halves: list[tuple[np.ndarray, np.ndarray]],
    band: dict[str, float],
) -> dict[str, float | bool | int]:
    """The generated set against each half A: {metric}_oa, {metric}_kl (means over the splits),
    {metric}_in_band, and metrics_in_band (how many metrics are inside)."""
    result: dict[str, float | bool | int] = {}
    inside = 0
    for name in METRICS:
        pairs = np.array([overlap_and_kl(real[name][a], generated[name]) for a, _ in halves])
        oa, kl = (float(x) for x in pairs.mean(axis=0))
        in_band = oa >= band[f"{name}_oa_low"] and kl <= band[f"{name}_kl_high"]
        result.update({f"{name}_oa": oa, f"{name}_kl": kl, f"{name}_in_band": in_band})
        inside += in_band
    result["metrics_in_band"] = inside
    return result
