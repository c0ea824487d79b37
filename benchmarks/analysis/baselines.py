"""The music21 baselines: ``analyze('key')`` and ``chordify``, on a music21 stream built from a
``symusic.Score``'s notes in seconds (offsets and lengths in seconds, to the millisecond), so
that their labels sit on the same clock as ours and as POP909's.

The chordify baseline is what ``symbolic.data.chords`` did before the numpy recogniser: slice
every part into sonorities with ``chordify``, then per window weight each sonority's pitch
classes by its overlap (double when it sounds as the window starts) and take the best template
(``symbolic.music.chords.best_label``) with the lowest note at the window's start as the bass.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symbolic.analysis.chords import harte
from symbolic.analysis.notes import Notes
from symbolic.music.chords import ROOTS, best_label

_ON_BEAT_WEIGHT = 2.0


def music21_stream(notes: Notes):
    """A music21 Score with one Part per track of the pitched ``notes`` (seconds)."""
    from music21 import note, stream

    out = stream.Score()
    for track in np.unique(notes.track[notes.pitched]):
        part = stream.Part()
        keep = (notes.track == track) & notes.pitched
        columns = (notes.start[keep], notes.end[keep], notes.pitch[keep])
        for start, end, pitch in zip(*columns, strict=True):
            length = Fraction(max(round((end - start) * 1000), 1), 1000)
            part.insert(
                Fraction(round(start * 1000), 1000), note.Note(int(pitch), quarterLength=length)
            )
        out.insert(0, part)
    return out


def music21_key(notes: Notes) -> str:
    """music21's ``analyze('key')`` (Aarden-Essen) as mir_eval's ``"F# major"``."""
    found = music21_stream(notes).analyze("key")
    return f"{ROOTS[found.tonic.pitchClass]} {found.mode}"


def chordify_labels(notes: Notes, edges: np.ndarray) -> list[str]:
    """Harte labels per window between ``edges`` (seconds) from music21's chordify."""
    chordified = music21_stream(notes).chordify()
    slices = []
    for element in chordified.recurse().getElementsByClass("Chord"):
        start = float(element.getOffsetInHierarchy(chordified))
        end = start + float(element.quarterLength)
        if end > start and element.pitches:
            slices.append((start, end, [p.midi for p in element.pitches]))
    starts = np.array([s for s, _, _ in slices])
    ends = np.array([e for _, e, _ in slices])
    labels = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        weights, lowest_at_start, lowest = np.zeros(12), None, None
        first = int(np.searchsorted(ends, start, side="right"))
        for i in range(first, len(slices)):
            if starts[i] >= end:
                break
            overlap = min(ends[i], end) - max(starts[i], start)
            if overlap <= 0:
                continue
            low = min(slices[i][2])
            on_beat = starts[i] <= start
            weights[sorted({p % 12 for p in slices[i][2]})] += overlap * (
                _ON_BEAT_WEIGHT if on_beat else 1.0
            )
            lowest = low if lowest is None else min(lowest, low)
            if on_beat:
                lowest_at_start = low
        bass = lowest_at_start if lowest_at_start is not None else lowest
        labels.append(harte(best_label(weights, bass)))
    return labels
