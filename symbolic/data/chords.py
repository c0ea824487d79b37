"""Chord extraction from scores: one chord label per window, with music21's ``chordify``.

music21's ``chordify`` slices all parts of a score into the sonorities sounding between
consecutive onsets; each window (a beat or a bar) then gets the label whose pitch classes best
explain the sonorities, weighted by how long they sound in the window (template matching as in
Pardo & Birmingham 2002, ``symbolic.music.chords.best_label``). Weighting by duration is what
lets a passing tone inside a beat lose to the held chord, and a bonus for the lowest sounding
note tells C (C E) from Am (A C E) when A is missing.

Never imports jax; music21 is imported only when a score is chordified.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symbolic.music.chords import best_label

EXTRACT_VERSION = 1  # bump when extract() gives other labels, so cached chords are not reused
_ON_BEAT_WEIGHT = 2.0  # the sonority sounding when a window starts counts double (accent)


def _music21_score(score):
    """A music21 Score with one Part per pitched track of a ``symusic.Score`` (tick time)."""
    from music21 import note, stream

    tpq = score.ticks_per_quarter
    out = stream.Score()
    for track in score.tracks:
        if track.is_drum or not len(track.notes):
            continue
        part = stream.Part()
        n = track.notes.numpy()
        for time, duration, pitch in zip(n["time"], n["duration"], n["pitch"], strict=True):
            if duration > 0:
                element = note.Note(int(pitch), quarterLength=Fraction(int(duration), tpq))
                part.insert(Fraction(int(time), tpq), element)
        out.insert(0, part)
    return out


def sonorities(score) -> list[tuple[Fraction, Fraction, list[int]]]:
    """music21 ``chordify`` of a ``symusic.Score``: ``(start, end, pitches)`` per slice, in
    quarter notes, for the slices where something sounds."""
    chordified = _music21_score(score).chordify()
    out = []
    for element in chordified.recurse().getElementsByClass("Chord"):
        start = Fraction(element.getOffsetInHierarchy(chordified))
        end = start + Fraction(element.quarterLength)
        if end > start and element.pitches:
            out.append((start, end, [p.midi for p in element.pitches]))
    return out


def extract(score, windows: list[tuple[Fraction, Fraction]]) -> list[int]:
    """One label per window ``(start, end)`` (quarter notes) of a ``symusic.Score``.

    The bass is the lowest note sounding when the window starts (else the lowest in it).
    """
    slices = sonorities(score)
    starts = np.array([float(s) for s, _, _ in slices])
    ends = np.array([float(e) for _, e, _ in slices])
    labels = []
    for start, end in windows:
        weights, lowest_at_start, lowest = np.zeros(12), None, None
        first = int(np.searchsorted(ends, float(start), side="right"))
        for i in range(first, len(slices)):
            if starts[i] >= float(end):
                break
            overlap = min(ends[i], float(end)) - max(starts[i], float(start))
            if overlap <= 0:
                continue
            low = min(slices[i][2])
            on_beat = starts[i] <= float(start)
            weight = overlap * (_ON_BEAT_WEIGHT if on_beat else 1.0)
            weights[sorted({p % 12 for p in slices[i][2]})] += weight
            lowest = low if lowest is None else min(lowest, low)
            if on_beat:
                lowest_at_start = low
        bass = lowest_at_start if lowest_at_start is not None else lowest
        labels.append(best_label(weights, bass))
    return labels
