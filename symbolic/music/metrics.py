"""Objective music metrics (MusPy's definitions) and Yang & Lerch's distribution distances.

Numpy only: the metrics read a `Notes` (the pitched notes of one piece, in ticks), made from a
``symusic.Score`` by `notes_from_score` or built from plain arrays. Drum tracks are ignored
everywhere. A metric that is undefined for a piece (no notes, fewer than two bars) is NaN, as in
MusPy, and `overlap_and_kl` leaves NaN values out.

Per-piece metrics (`METRICS`), as MusPy defines them unless said otherwise:

* ``pitch_class_entropy``: Shannon entropy, in bits, of the piece's normalised pitch-class
  histogram (12 bins, one count per note): ``-sum_c p(c) log2 p(c)``; at most log2(12) = 3.585.
* ``scale_consistency``: the largest fraction of notes whose pitch class lies in one major or
  natural-minor scale, over the 24 scales (12 roots x 2 modes).
* ``pitch_range``: highest minus lowest MIDI pitch, in semitones.
* ``n_pitch_classes_used``: how many of the 12 pitch classes occur.
* ``polyphony``: the mean number of distinct pitches sounding at the time steps where at least
  one pitch sounds (MusPy's piano-roll definition; computed exactly on tick intervals:
  sum over pitches of the time that pitch sounds / the time anything sounds). Two voices in
  unison count once, as in a piano roll.
* ``note_density``: notes per quarter note over the piece, from tick 0 to the last note's end
  (not in MusPy).
* ``groove_consistency``: ``1 - mean_i d(G_i, G_i+1)``, where G_i is bar i's binary onset
  vector on a 16th-note grid and d is the Hamming distance divided by the bar's number of grid
  steps. Bars follow the score's time signatures (4/4 without any), starting at tick 0. As in
  MusPy, bars are counted up to and including the one starting at the last note's end
  (``end // bar + 1``), so a piece ending on a bar line gets an empty final bar. With changing
  meters, two neighbouring bars of different lengths are compared over the longer one (MusPy
  requires a constant meter; for one it gives MusPy's number). MusPy's own function works at
  the file's resolution, where every tick is a grid step: there the distance between any two
  bars shrinks towards 0 and its groove towards 1 (0.9999 against our 0.85 on bwv66.6 at
  10,080 ticks per quarter). Our figure is MusPy's once the piece is resampled to 16ths
  (``music.adjust_resolution(4)``, ``measure_resolution=16`` in 4/4), which is the grid
  Wu & Yang's groove similarity was meant for; ``tests/test_muspy_agreement.py`` checks both.
* ``empty_beat_rate``: the fraction of beats (quarter notes, from tick 0 to the last note's
  end, ``ceil(end / quarter)`` beats) in which no note sounds. A note sounds in the beats its
  half-open interval [start, end) overlaps. MusPy counts a note also in the beat where it
  ends, so a note ending on a beat line fills the following silent beat; we do not.

Set distances (Yang & Lerch 2018, "On the evaluation of generative models in music"): for one
metric, the intra-set distances of a reference set are the absolute differences between its
pieces' values (every pair), and the inter-set distances those between each reference piece and
each piece of the other set. `overlap_and_kl` estimates both densities with a Gaussian KDE
(Scott's bandwidth) and returns their overlapping area (1: same distribution, 0: disjoint) and
KL(intra || inter) in nats (0: same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GROOVE_STEPS_PER_QUARTER = 4  # a 16th-note grid
MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # C major, pitch classes 0..11
MINOR_SCALE = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # C natural minor
KDE_GRID_POINTS = 2048
_DENSITY_FLOOR = 1e-12  # KL's floor, as a fraction of a uniform density over the grid


@dataclass(frozen=True)
class Notes:
    """The pitched notes of one piece, in ticks from the start of the piece.

    start, end, pitch: ``[N] int64`` (end > start; pitch is a MIDI number 0..127).
    time_signatures: ``(tick, numerator, denominator)`` triples, sorted by tick; empty means 4/4.
    """

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    ticks_per_quarter: int
    time_signatures: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        arrays = [np.asarray(a, np.int64).reshape(-1) for a in (self.start, self.end, self.pitch)]
        if len({a.size for a in arrays}) != 1:
            raise ValueError(f"start, end and pitch differ in length: {[a.size for a in arrays]}")
        if self.ticks_per_quarter < 1:
            raise ValueError(f"ticks_per_quarter must be >= 1, got {self.ticks_per_quarter}")
        keep = arrays[1] > arrays[0]  # zero-length notes never sound
        for name, array in zip(("start", "end", "pitch"), arrays, strict=True):
            object.__setattr__(self, name, array[keep])

    @property
    def last_end(self) -> int:
        """Tick at which the last note ends (0 without notes)."""
        return int(self.end.max()) if self.end.size else 0


def notes_from_score(score) -> Notes:
    """The non-drum notes of a ``symusic.Score`` (tick time) as `Notes`."""
    starts, ends, pitches = (
        [np.zeros(0, np.int64)],
        [np.zeros(0, np.int64)],
        [np.zeros(0, np.int64)],
    )
    for track in score.tracks:
        if track.is_drum or len(track.notes) == 0:
            continue
        array = track.notes.numpy()
        start = array["time"].astype(np.int64)
        starts.append(start)
        ends.append(start + array["duration"].astype(np.int64))
        pitches.append(array["pitch"].astype(np.int64))
    signatures = tuple(
        (int(t.time), int(t.numerator), int(t.denominator)) for t in score.time_signatures
    )
    return Notes(
        np.concatenate(starts),
        np.concatenate(ends),
        np.concatenate(pitches),
        int(score.ticks_per_quarter),
        tuple(sorted(signatures)),
    )


# --- pitch metrics --------------------------------------------------------------------------


def _pitch_class_counts(notes: Notes) -> np.ndarray:
    return np.bincount(notes.pitch % 12, minlength=12).astype(np.float64)


def pitch_class_entropy(notes: Notes) -> float:
    """Entropy (bits) of the normalised 12-bin pitch-class histogram; NaN without notes."""
    counts = _pitch_class_counts(notes)
    if counts.sum() == 0:
        return float("nan")
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Notes) -> float:
    """Largest fraction of notes inside one of the 24 major/natural-minor scales; NaN without
    notes."""
    counts = _pitch_class_counts(notes)
    if counts.sum() == 0:
        return float("nan")
    scales = np.stack([np.roll(s, root) for s in (MAJOR_SCALE, MINOR_SCALE) for root in range(12)])
    return float((scales @ counts).max() / counts.sum())


def pitch_range(notes: Notes) -> float:
    """Highest minus lowest pitch (semitones); NaN without notes."""
    return float(np.ptp(notes.pitch)) if notes.pitch.size else float("nan")


def n_pitch_classes_used(notes: Notes) -> float:
    """Number of distinct pitch classes (0..12)."""
    return float(np.count_nonzero(_pitch_class_counts(notes)))


def _union_length(start: np.ndarray, end: np.ndarray) -> int:
    """Total length of the union of the intervals [start, end) (``[N]`` arrays)."""
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    opens = np.ones(start.size, bool)
    opens[1:] = start[1:] > reach[:-1]  # a gap before this interval starts a new run
    firsts = np.flatnonzero(opens)
    return int((np.maximum.reduceat(end, firsts) - start[firsts]).sum())


def polyphony(notes: Notes) -> float:
    """Mean number of distinct pitches sounding over the time where at least one sounds; NaN
    without notes."""
    if notes.pitch.size == 0:
        return float("nan")
    sounding = sum(
        _union_length(notes.start[notes.pitch == p], notes.end[notes.pitch == p])
        for p in np.unique(notes.pitch)
    )
    return sounding / _union_length(notes.start, notes.end)


# --- rhythm metrics -------------------------------------------------------------------------


def note_density(notes: Notes) -> float:
    """Notes per quarter note from tick 0 to the last note's end; NaN without notes."""
    if notes.pitch.size == 0:
        return float("nan")
    return notes.pitch.size * notes.ticks_per_quarter / notes.last_end


def bar_starts(notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """Bars from tick 0 to the last note's end, the bar starting there included (MusPy's count).

    Returns (start ticks ``[B] int64``, bar lengths ``[B] int64`` in ticks).
    """
    signatures = list(notes.time_signatures) or [(0, 4, 4)]
    if signatures[0][0] > 0:
        signatures.insert(0, (0, 4, 4))
    starts, lengths = [], []
    for i, (tick, numerator, denominator) in enumerate(signatures):
        length = notes.ticks_per_quarter * 4 * numerator // denominator
        stop = signatures[i + 1][0] if i + 1 < len(signatures) else notes.last_end + 1
        bars = np.arange(tick, max(stop, tick), max(length, 1), dtype=np.int64)
        starts.append(bars)
        lengths.append(np.full(bars.size, length, np.int64))
    return np.concatenate(starts), np.concatenate(lengths)


def groove_consistency(notes: Notes, steps_per_quarter: int = GROOVE_STEPS_PER_QUARTER) -> float:
    """1 - mean normalised Hamming distance between neighbouring bars' onset grids; NaN with
    fewer than two bars or no notes."""
    starts, lengths = bar_starts(notes)
    if notes.pitch.size == 0 or starts.size < 2:
        return float("nan")
    steps = lengths * steps_per_quarter // notes.ticks_per_quarter  # [B] grid steps per bar
    grid = np.zeros((starts.size, int(steps.max())), bool)
    bar = np.searchsorted(starts, notes.start, side="right") - 1
    step = (notes.start - starts[bar]) * steps_per_quarter // notes.ticks_per_quarter
    grid[bar, np.minimum(step, steps[bar] - 1)] = True
    distance = np.count_nonzero(grid[:-1] != grid[1:], axis=1) / np.maximum(steps[:-1], steps[1:])
    return float(1.0 - distance.mean())


def empty_beat_rate(notes: Notes) -> float:
    """Fraction of quarter-note beats, up to the last note's end, in which no note sounds; NaN
    without notes."""
    if notes.pitch.size == 0:
        return float("nan")
    quarter = notes.ticks_per_quarter
    beats = -(-notes.last_end // quarter)  # ceil
    change = np.zeros(beats + 1, np.int64)
    np.add.at(change, notes.start // quarter, 1)  # first beat each note sounds in
    np.add.at(change, (notes.end - 1) // quarter + 1, -1)  # the beat after its last
    return float(np.mean(np.cumsum(change[:-1]) == 0))


MetricFn = Callable[[Notes], float]
METRICS: dict[str, MetricFn] = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "pitch_range": pitch_range,
    "n_pitch_classes_used": n_pitch_classes_used,
    "polyphony": polyphony,
    "note_density": note_density,
    "groove_consistency": groove_consistency,
    "empty_beat_rate": empty_beat_rate,
}


def compute_metrics(pieces: list[Notes]) -> dict[str, np.ndarray]:
    """Every metric of `METRICS` for every piece: ``{name: [len(pieces)] float64}``."""
    return {name: np.array([fn(p) for p in pieces], np.float64) for name, fn in METRICS.items()}


# --- set distances (Yang & Lerch 2018) -------------------------------------------------------


def intra_set_distances(values: np.ndarray) -> np.ndarray:
    """|x_i - x_j| for every pair i < j of values ``[N]``: ``[N (N - 1) / 2] float64``."""
    values = np.asarray(values, np.float64)
    i, j = np.triu_indices(values.size, k=1)
    return np.abs(values[i] - values[j])


def inter_set_distances(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """|x_i - y_j| for every x_i of reference ``[N]`` and y_j of other ``[M]``: ``[N M]``."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    return np.abs(reference[:, None] - other[None, :]).ravel()


def scott_bandwidth(samples: np.ndarray) -> float:
    """Scott's rule for a 1-D Gaussian KDE: std (ddof 1) * n^(-1/5), as scipy's gaussian_kde."""
    return float(np.std(samples, ddof=1) * samples.size ** (-0.2)) if samples.size > 1 else 0.0


def gaussian_kde(samples: np.ndarray, points: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of samples ``[N]`` at points ``[P]``: ``[P] float64``."""
    density = np.zeros(points.size)
    for chunk in np.array_split(samples, max(1, samples.size // 512)):
        z = (points[:, None] - chunk[None, :]) / bandwidth
        density += np.exp(-0.5 * z * z).sum(axis=1)
    return density / (samples.size * bandwidth * np.sqrt(2 * np.pi))


def overlap_and_kl(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Yang & Lerch's comparison of one metric's values: reference ``[N]`` (the real set),
    other ``[M]`` (e.g. generated). NaN values are left out; each set needs two values.

    Returns (overlapping area of the intra-set (reference) and inter-set distance densities,
    KL(intra || inter) in nats). Both densities are Gaussian KDEs with Scott's bandwidth, floored
    at two grid steps so a set of identical distances still integrates to one, evaluated on a
    2,048-point grid reaching 4 bandwidths past the data and renormalised there; the inter
    density is floored at 1e-12 of a uniform density over the grid, which keeps KL finite (about
    30 nats for disjoint sets).
    """
    reference = np.asarray(reference, np.float64)
    other = np.asarray(other, np.float64)
    reference, other = reference[~np.isnan(reference)], other[~np.isnan(other)]
    if reference.size < 2 or other.size < 2:
        raise ValueError(f"need two values per set, got {reference.size} and {other.size}")
    intra, inter = intra_set_distances(reference), inter_set_distances(reference, other)
    pooled = np.concatenate([intra, inter])
    span = float(np.ptp(pooled))
    if span == 0.0:  # every distance equal: the two densities coincide
        return 1.0, 0.0
    scott = [scott_bandwidth(d) for d in (intra, inter)]
    margin = 4 * max(*scott, 2 * span / (KDE_GRID_POINTS - 1))
    points = np.linspace(pooled.min() - margin, pooled.max() + margin, KDE_GRID_POINTS)
    step = points[1] - points[0]
    widths = [max(w, 2 * step) for w in scott]
    p, q = (gaussian_kde(d, points, w) for d, w in zip((intra, inter), widths, strict=True))
    p, q = p / (p.sum() * step), q / (q.sum() * step)
    overlap = float(np.minimum(p, q).sum() * step)
    q = np.maximum(q, _DENSITY_FLOOR / (points[-1] - points[0]))
    positive = p > 0
    kl = float((p[positive] * np.log(p[positive] / q[positive])).sum() * step)
    return overlap, max(kl, 0.0)
