"""The model-free embedding: transposition- and tempo-invariant histograms of a piece's notes.

A part (one track, or the whole mix) becomes one vector [DIM] float32 of four blocks, each
Hellinger-normalised (square root of its counts, then unit length) and weighted:

- melody: the part's skyline (the top note of each onset cluster), as n-grams (n = 1..3) of
  successive pitch intervals, hashed into MELODY_BINS. Intervals do not change under
  transposition, and n-grams of them are the fingerprint of a tune (as in query-by-humming
  systems, which index melodic interval n-grams);
- rhythm: n-grams of successive IOI ratios of the skyline (log2, in half-octave steps), which do
  not change with the tempo, plus a histogram of IOIs divided by the part's median IOI;
- harmony: the chord of each half-bar window (`symbolic.music.chords.label_scores`, the
  project's one template recogniser), as n-grams of (root motion mod 12, quality): invariant
  to transposition and to moving any voice by octaves (re-voicing);
- pitch classes: the duration-weighted pitch-class histogram rotated to its Krumhansl key's tonic
  (`symbolic.music.keys.best_key`), with the mode.

A file's rows are its mix and each track with at least MIN_TRACK_NOTES notes, so a query holding
only the melody finds the file whose melody track it is. Numpy only: no jax, safe in workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from symbolic.music import chords, keys

MELODY_BINS, RHYTHM_BINS, HARMONY_BINS = 512, 128, 256
PITCH_DIMS = 14  # 12 key-relative pitch classes + major/minor
IOI_DIMS = 16
DIM = MELODY_BINS + RHYTHM_BINS + IOI_DIMS + HARMONY_BINS + PITCH_DIMS
# Block weights (before the final unit norm): the melody is what tells two songs apart.
WEIGHTS = {"melody": 1.0, "rhythm": 0.5, "ioi": 0.25, "harmony": 0.7, "pitch": 0.25}
MIN_TRACK_NOTES = 16  # a sparse track (a few fills) gives a noisy vector that matches anything
CLUSTER_Q = 0.2  # onsets closer than this (quarters) are one chord: jitter must not split it
MAX_INTERVAL = 12  # larger leaps are clipped: an octave jump is one symbol
HARMONY_WINDOW_Q = 2.0  # a chord per half 4/4 bar
MIX = "mix"


@dataclass(frozen=True)
class Part:
    """The notes of one track (or all tracks): onsets and durations in quarters [N] float64,
    MIDI pitches [N] int64, sorted by onset then pitch."""

    name: str
    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray

    def __len__(self) -> int:
        return len(self.onset)


def parts(score: Score) -> list[Part]:
    """The mix (every non-drum note) and each non-drum track with notes, as `Part`s."""
    tpq = float(score.ticks_per_quarter)
    tracks = []
    for i, track in enumerate(score.tracks):
        if track.is_drum or len(track.notes) == 0:
            continue
        notes = track.notes.numpy()
        name = track.name or f"track {i}"
        tracks.append((name, notes["time"] / tpq, notes["duration"] / tpq, notes["pitch"]))
    if not tracks:
        return []
    found = [_part(*columns) for columns in tracks]
    columns = zip(*(t[1:] for t in tracks), strict=True)  # (onsets, durations, pitches)
    mix = _part(MIX, *(np.concatenate(column) for column in columns))
    return [mix, *found]


def _part(name: str, onset, duration, pitch) -> Part:
    order = np.lexsort((pitch, onset))
    return Part(
        name,
        np.asarray(onset, np.float64)[order],
        np.asarray(duration, np.float64)[order],
        np.asarray(pitch, np.int64)[order],
    )


def skyline(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """The top voice: (onsets [M] float64, pitches [M] int64), the highest pitch of each cluster
    of onsets within CLUSTER_Q of the cluster's first onset."""
    if len(part) == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    starts, pitches = [part.onset[0]], [part.pitch[0]]
    for onset, pitch in zip(part.onset[1:], part.pitch[1:], strict=True):
        if onset - starts[-1] < CLUSTER_Q:
            pitches[-1] = max(pitches[-1], pitch)
        else:
            starts.append(onset)
            pitches.append(pitch)
    return np.asarray(starts), np.asarray(pitches, np.int64)


def hashed_ngrams(symbols: np.ndarray, alphabet: int, bins: int, max_n: int = 3) -> np.ndarray:
    """Counts [bins] float64 of the n-grams (n = 1..max_n) of symbols [M] int in 0..alphabet-1,
    each n-gram hashed (multiplicative hashing) into one of `bins` buckets."""
    counts = np.zeros(bins)
    symbols = np.asarray(symbols, np.uint64)
    for n in range(1, max_n + 1):
        if len(symbols) < n:
            break
        code = np.full(len(symbols) - n + 1, n, np.uint64)  # n salts the code: no collisions
        for j in range(n):
            code = code * np.uint64(alphabet + 1) + symbols[j : len(symbols) - n + 1 + j]
        hashed = (code * np.uint64(2654435761)) % np.uint64(2**32) % np.uint64(bins)
        counts += np.bincount(hashed.astype(np.int64), minlength=bins)
    return counts


def melody_block(onsets: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Interval n-grams of a skyline -> counts [MELODY_BINS]."""
    intervals = np.clip(np.diff(pitches), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    return hashed_ngrams(intervals, 2 * MAX_INTERVAL + 1, MELODY_BINS)


def rhythm_blocks(onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IOI-ratio n-grams [RHYTHM_BINS] and the histogram of IOI / median IOI [IOI_DIMS] of a
    skyline's onsets: neither changes when the whole piece is played faster or slower."""
    ioi = np.diff(onsets)
    ioi = ioi[ioi > 0]
    ratios = np.zeros(RHYTHM_BINS)
    histogram = np.zeros(IOI_DIMS)
    if len(ioi) == 0:
        return ratios, histogram
    steps = np.clip(np.round(2 * np.log2(ioi[1:] / ioi[:-1])), -4, 4).astype(np.int64) + 4
    ratios = hashed_ngrams(steps, 9, RHYTHM_BINS)
    relative = np.log2(ioi / np.median(ioi))  # 0 = the median IOI, in quarter-octave bins
    bins = np.clip(np.round(4 * relative), -IOI_DIMS // 2, IOI_DIMS // 2 - 1) + IOI_DIMS // 2
    histogram = np.bincount(bins.astype(np.int64), minlength=IOI_DIMS).astype(np.float64)
    return ratios, histogram


def window_chroma(part: Part, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Seconds-free chroma of consecutive windows of `window` quarters: (weights [W, 12], the
    lowest sounding pitch class of each window [W], -1 when silent)."""
    count = int(np.ceil((part.onset + part.duration).max() / window)) if len(part) else 0
    chroma, lowest = np.zeros((count, 12)), np.full(count, 128)
    for onset, duration, pitch in zip(part.onset, part.duration, part.pitch, strict=True):
        first, last = int(onset // window), int(np.ceil((onset + duration) / window))
        for w in range(first, min(max(last, first + 1), count)):
            overlap = min(onset + duration, (w + 1) * window) - max(onset, w * window)
            chroma[w, pitch % 12] += max(overlap, 1e-3)
            lowest[w] = min(lowest[w], pitch)
    return chroma, np.where(lowest < 128, lowest % 12, -1)


def harmony_block(part: Part) -> np.ndarray:
    """Chord-motion n-grams [HARMONY_BINS]: (root step mod 12, quality) of each change of the
    window chords, N.C. windows left out."""
    chroma, bass = window_chroma(part, HARMONY_WINDOW_Q)
    if len(chroma) == 0:
        return np.zeros(HARMONY_BINS)
    # the vectorised form of `chords.best_label`, one row per window
    labels = 1 + np.argmax(chords.label_scores(chroma, bass), axis=-1)
    labels = np.where(chroma.sum(axis=1) > 0, labels, chords.NO_CHORD)
    sequence = [chords.root_and_quality(int(v)) for v in labels if v != chords.NO_CHORD]
    changes = [a for a, b in zip(sequence, sequence[1:] + [None], strict=True) if a != b]
    if len(changes) < 2:
        return np.zeros(HARMONY_BINS)
    names = list(chords.QUALITIES)
    roots = np.asarray([root for root, _ in changes])
    quality = np.asarray([names.index(q) for _, q in changes])
    motion = (np.diff(roots) % 12) * len(names) + quality[1:]
    return hashed_ngrams(motion, 12 * len(names), HARMONY_BINS, max_n=3)


def pitch_block(part: Part) -> np.ndarray:
    """Duration-weighted pitch classes rotated to the estimated tonic, and the mode [14]."""
    weights = np.bincount(part.pitch % 12, weights=part.duration, minlength=12)
    key = keys.best_key(weights)
    if key is None:
        return np.zeros(PITCH_DIMS)
    mode = [1.0, 0.0] if key.mode == "major" else [0.0, 1.0]
    return np.concatenate([np.roll(weights, -key.tonic) / weights.sum(), mode])


def key_shift(score: Score, register: float = 64.0) -> int:
    """The shift (semitones) that moves the score's estimated key (Krumhansl, duration-weighted)
    to C major or A minor, and its mean pitch to the octave nearest `register`. A transposed copy
    gets exactly the shift that undoes the transposition: both pitch class and octave are fixed
    by the notes themselves, so a learned embedding sees the same tokens for both."""
    found = parts(score)
    if not found:
        return 0
    mix = found[0]
    key = keys.best_key(np.bincount(mix.pitch % 12, weights=mix.duration, minlength=12))
    if key is None:
        return 0
    major_tonic = key.tonic if key.mode == "major" else (key.tonic + 3) % 12
    mean = float(np.average(mix.pitch, weights=np.maximum(mix.duration, 1e-6)))
    base = -major_tonic
    return base + 12 * int(np.round((register - mean - base) / 12))


def _hellinger(counts: np.ndarray) -> np.ndarray:
    root = np.sqrt(np.maximum(counts, 0))
    norm = np.linalg.norm(root)
    return root / norm if norm > 0 else root


def part_vector(part: Part) -> np.ndarray:
    """One part -> its embedding [DIM] float32, unit length (zeros for an empty part)."""
    onsets, pitches = skyline(part)
    ratios, ioi = rhythm_blocks(onsets)
    blocks = {
        "melody": melody_block(onsets, pitches),
        "rhythm": ratios,
        "ioi": ioi,
        "harmony": harmony_block(part),
        "pitch": pitch_block(part),
    }
    vector = np.concatenate([WEIGHTS[name] * _hellinger(block) for name, block in blocks.items()])
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def embed_score(score: Score) -> tuple[np.ndarray, list[str]]:
    """A score's rows: the mix, then each track of at least MIN_TRACK_NOTES notes.

    Returns (rows [R, DIM] float32, part names [R]).

    Raises:
        ValueError: the score has no (non-drum) notes.
    """
    found = parts(score)
    if not found:
        raise ValueError("no notes (drums aside)")
    chosen = [found[0]] + [p for p in found[1:] if len(p) >= MIN_TRACK_NOTES]
    if len(found) == 2:  # one track: its row would repeat the mix's
        chosen = chosen[:1]
    return np.stack([part_vector(p) for p in chosen]), [p.name for p in chosen]
