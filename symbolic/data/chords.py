"""Chord extraction for the chord views: one chord label per window (a beat or a bar).

The labels are the project's one chord recogniser's (``symbolic.analysis.chords``: numpy
template matching over duration-weighted pitch classes with a bass, smoothed over the windows,
a lead melody left out), on the score in quarter notes, so the windows are the tokenizer's bars
however the tempo map runs. music21's ``chordify`` did this before (minutes per piano file);
it survives only as the baseline of ``benchmarks/analysis``.

Never imports jax.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import numpy as np

from symbolic.analysis.chords import CHANGE_PENALTY, harmony_notes, recognise
from symbolic.analysis.melody import find_melody
from symbolic.analysis.notes import note_table

EXTRACT_VERSION = 2  # bump when extract() gives other labels, so cached chords are not reused


def extract(score, windows: list[tuple[Fraction, Fraction]]) -> list[int]:
    """One label per window ``(start, end)`` (quarter notes, consecutive) of a ``symusic.Score``.

    Raises:
        ValueError: windows that are not consecutive.
    """
    if not windows:
        return []
    edges = np.array([float(start) for start, _ in windows] + [float(windows[-1][1])])
    if any(end != following for (_, end), (following, _) in pairwise(windows)):
        raise ValueError("chord windows must be consecutive (each starts where the last ends)")
    notes = harmony_notes(note_table(score, unit="quarter"), find_melody(score))
    # The smoothing is tuned on beats; a bar already averages several beats of evidence, and
    # smoothing bars would carry one bar's chord into the next.
    per_beat = float(np.median(np.diff(edges))) <= 1.5
    return [int(v) for v in recognise(notes, edges, CHANGE_PENALTY if per_beat else 0.0)]
