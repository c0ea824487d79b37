"""MuseGAN's objective metrics of multi-track piano-roll phrases, plus mode-collapse figures
(numpy only).

Phrases are boolean rolls [N, tracks, steps, pitches]; `steps_per_bar` cuts the time axis into
bars and `low` is the MIDI pitch of pitch index 0 (for pitch classes). Per track:

- EB, empty bars: the share of bars with no note. (MuseGAN's and pypianoroll's
  `empty_beat_rate` return the share of *non*-empty chunks, `count_nonzero(any)` over the
  chunks; ours is 1 minus that.)
- UPC, used pitch classes per bar, averaged over the non-empty bars (an empty bar has none, and
  counting it would mix EB into UPC).
- QN, qualified notes: the share of notes at least `min_steps` steps long (MuseGAN: 3 steps at
  24 a beat, a 32nd note; 2 at our 12). A note is a run of one pitch. (pypianoroll's
  `qualified_note_rate` pairs onsets and offsets in a flattened [time x pitch] order, so on a
  roll with more than one pitch its differences are not note lengths; it agrees with ours one
  pitch at a time.)
- PP, polyphonicity (BinaryMuseGAN): the share of time steps where more than `threshold`
  (2) pitches sound, as pypianoroll's `polyphonic_rate`.
- DP, drum patterns: the share of drum-track notes on the 16th-note grid (pypianoroll's
  `drum_in_pattern_rate` mask, tolerance 0.1), for a track that is drums.

Per track pair, TD, tonal distance (Harte et al. 2006): the Euclidean distance between the two
tracks' tonal centroids per bar, over the bars where both play, averaged.

Diversity: `pairwise_distance` is the mean Jaccard distance between two phrases' sounding cells
over random pairs; a generator that collapsed has a much smaller one than the real phrases.
`distinct_fraction` is the share of phrases that no other phrase of the set equals.
"""

from __future__ import annotations

import itertools

import numpy as np

TONAL_RADII = (1.0, 1.0, 0.5)


def _bars(rolls: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """[N, tracks, steps, P] -> [N, tracks, bars, steps_per_bar, P]."""
    n, t, s, p = rolls.shape
    if s % steps_per_bar:
        raise ValueError(f"{s} steps are not whole bars of {steps_per_bar}")
    return np.asarray(rolls, bool).reshape(n, t, s // steps_per_bar, steps_per_bar, p)


def empty_bars(rolls: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """EB per track [tracks]: the share of bars without a note."""
    return 1.0 - _bars(rolls, steps_per_bar).any(axis=(3, 4)).mean(axis=(0, 2))


def chroma(rolls: np.ndarray, low: int) -> np.ndarray:
    """[..., P] bool -> [..., 12] counts of sounding pitches per pitch class."""
    classes = (np.arange(rolls.shape[-1]) + low) % 12
    out = np.zeros((*rolls.shape[:-1], 12))
    for pc in range(12):
        out[..., pc] = rolls[..., classes == pc].sum(-1)
    return out


def used_pitch_classes(rolls: np.ndarray, steps_per_bar: int, low: int) -> np.ndarray:
    """UPC per track [tracks]: pitch classes used per non-empty bar (NaN: no note at all)."""
    per_bar = chroma(_bars(rolls, steps_per_bar).any(axis=3), low) > 0  # [N, t, bars, 12]
    counts = per_bar.sum(-1).astype(float)
    counts[counts == 0] = np.nan
    with np.errstate(invalid="ignore"):
        return np.nanmean(counts, axis=(0, 2)) if np.isfinite(counts).any() else counts[0, :, 0]


def note_lengths(roll: np.ndarray) -> np.ndarray:
    """Lengths in steps of every note (run of one pitch) of rolls [..., steps, P]."""
    x = np.moveaxis(np.asarray(roll, bool), -2, -1).reshape(-1, roll.shape[-2]).astype(np.int8)
    padded = np.pad(x, ((0, 0), (1, 1)))
    diff = np.diff(padded, axis=1)
    starts, ends = np.nonzero(diff == 1), np.nonzero(diff == -1)
    # both are sorted by (row, step), and each run's end follows its start in its row
    return ends[1] - starts[1]


def qualified_notes(rolls: np.ndarray, min_steps: int = 2) -> np.ndarray:
    """QN per track [tracks]: the share of notes at least `min_steps` long (NaN: no note)."""
    out = []
    for track in range(rolls.shape[1]):
        lengths = note_lengths(rolls[:, track])
        out.append(np.mean(lengths >= min_steps) if len(lengths) else np.nan)
    return np.asarray(out)


def polyphonicity(rolls: np.ndarray, threshold: int = 2) -> np.ndarray:
    """PP per track [tracks]: the share of time steps with more than `threshold` pitches on."""
    return (np.asarray(rolls, bool).sum(-1) > threshold).mean(axis=(0, 2))


def drum_pattern_rate(roll: np.ndarray, steps_per_beat: int, tolerance: float = 0.1) -> float:
    """DP of one drum track's rolls [N, steps, P]: pypianoroll's pattern mask (1 on the
    16th-note grid, `tolerance` one step either side of it, 0 elsewhere) weighted by the notes
    per step, over all notes."""
    if steps_per_beat % 4:
        raise ValueError(f"drum patterns need steps_per_beat divisible by 4, got {steps_per_beat}")
    period = np.zeros(steps_per_beat // 4)
    period[0] = 1.0
    if len(period) > 1:
        period[1] = period[-1] = tolerance
    mask = np.resize(period, roll.shape[-2])
    notes = np.asarray(roll, bool).sum(-1)  # [N, steps]
    total = notes.sum()
    return float((notes * mask).sum() / total) if total else np.nan


def tonal_matrix(radii: tuple[float, float, float] = TONAL_RADII) -> np.ndarray:
    """Harte's 6 x 12 projection of a chroma onto fifths, minor thirds and major thirds."""
    r1, r2, r3 = radii
    k = np.arange(12)
    return np.stack(
        [
            r1 * np.sin(k * 7 * np.pi / 6),
            r1 * np.cos(k * 7 * np.pi / 6),
            r2 * np.sin(k * 3 * np.pi / 2),
            r2 * np.cos(k * 3 * np.pi / 2),
            r3 * np.sin(k * 2 * np.pi / 3),
            r3 * np.cos(k * 2 * np.pi / 3),
        ]
    )


def tonal_distance(
    rolls: np.ndarray, steps_per_bar: int, low: int, pairs=None
) -> dict[tuple[int, int], float]:
    """TD per track pair {(i, j): mean distance} over the bars where both tracks play (NaN if
    they never do together); pairs default to every pair."""
    bars = chroma(_bars(rolls, steps_per_bar).sum(axis=3), low)  # [N, t, bars, 12]
    total = bars.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = (bars / total) @ tonal_matrix().T  # [N, t, bars, 6]
    pairs = pairs or list(itertools.combinations(range(rolls.shape[1]), 2))
    out = {}
    for i, j in pairs:
        both = (total[:, i, :, 0] > 0) & (total[:, j, :, 0] > 0)
        dist = np.linalg.norm(centroids[:, i] - centroids[:, j], axis=-1)[both]
        out[(i, j)] = float(dist.mean()) if len(dist) else np.nan
    return out


def pairwise_distance(rolls: np.ndarray, pairs: int = 2000, seed: int = 0) -> float:
    """The mean Jaccard distance (1 - |a & b| / |a | b|) between two different phrases of the
    set, over `pairs` random pairs (two empty phrases: distance 0)."""
    flat = np.asarray(rolls, bool).reshape(len(rolls), -1)
    if len(flat) < 2:
        return np.nan
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(flat), pairs)
    b = (a + rng.integers(1, len(flat), pairs)) % len(flat)  # never a phrase with itself
    inter = (flat[a] & flat[b]).sum(1)
    union = (flat[a] | flat[b]).sum(1)
    return float(np.mean(np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)))


def distinct_fraction(rolls: np.ndarray) -> float:
    """The share of phrases equal to no other phrase of the set."""
    flat = np.packbits(np.asarray(rolls, bool).reshape(len(rolls), -1), axis=1)
    _, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    return float(np.mean(counts[inverse.ravel()] == 1))


def phrase_metrics(
    rolls: np.ndarray, steps_per_bar: int, steps_per_beat: int, low: int, drums=()
) -> dict:
    """Every metric of a set of phrases: {EB, UPC, QN, PP: per track lists, TD: {"i-j": float},
    DP: {track: float} for the `drums` tracks}; UPC, QN and TD leave the drum tracks out."""
    pitched = [t for t in range(rolls.shape[1]) if t not in drums]
    eb, upc = empty_bars(rolls, steps_per_bar), used_pitch_classes(rolls, steps_per_bar, low)
    qn, pp = qualified_notes(rolls, 2 * steps_per_beat // 12 or 1), polyphonicity(rolls)
    pairs = list(itertools.combinations(pitched, 2))
    td = tonal_distance(rolls, steps_per_bar, low, pairs) if pairs else {}
    return {
        "EB": [float(x) for x in eb],
        "UPC": [float(upc[t]) if t in pitched else None for t in range(rolls.shape[1])],
        "QN": [float(qn[t]) if t in pitched else None for t in range(rolls.shape[1])],
        "PP": [float(pp[t]) if t in pitched else None for t in range(rolls.shape[1])],
        "TD": {f"{i}-{j}": v for (i, j), v in td.items()},
        "DP": {str(t): drum_pattern_rate(rolls[:, t], steps_per_beat) for t in drums},
    }
