"""Chords per beat: the project's one chord recogniser, fast numpy.

Each window (a beat, or a chord view's beat or bar) gets the pitch classes sounding in it,
weighted by how long they sound (a passing tone inside a beat loses to the held chord), double
for the notes already sounding as it starts (the accented sonority: in a chorale the second
half of a beat is often a passing chord), and the
pitch class of its bass (the lowest note held for a quarter of the window). Every label of the
121-label vocabulary (``symbolic.music.chords``) is scored by template matching
(``label_scores``, after Pardo & Birmingham 2002), and a Viterbi path over the labels that pays
``CHANGE_PENALTY`` per change smooths one-beat flickers away. A lead melody over an
accompaniment is left out of the evidence: its passing and neighbour tones are not harmony.

Labels come out as ints of the vocabulary (the chord views' tokens) and as Harte strings
(``C:maj``, ``A:min7``, ``G:7``, ``N``) for people and ``mir_eval``.
"""

from __future__ import annotations

import numpy as np

from symbolic.analysis.melody import MelodyChoice
from symbolic.analysis.notes import Notes, bass_pitches, pitch_class_weights
from symbolic.analysis.viterbi import viterbi
from symbolic.music.chords import ROOTS, label_scores, root_and_quality

CHANGE_PENALTY = 0.3  # score units summed over beats (0.15-0.5 within 0.01 majmin on POP909)
ON_BEAT_WEIGHT = 2.0  # the sonority sounding as a window starts counts double (the accent)
_NO_CHORD_SCORE = -0.5  # N where notes sound: below any fitting chord, above an empty template
_HARTE = {"dom7": "7"}  # our quality names that Harte spells otherwise


def harte(value: int) -> str:
    """The Harte label of a vocabulary label: ``"C:maj"``, ``"Bb:7"``, ``"N"``."""
    parts = root_and_quality(value)
    if parts is None:
        return "N"
    return f"{ROOTS[parts[0]]}:{_HARTE.get(parts[1], parts[1])}"


def harmony_notes(notes: Notes, melody: MelodyChoice | None) -> Notes:
    """The notes that are evidence of the harmony: pitched, without a lead melody when the
    rest still has notes (a chorale's soprano stays: it is one of four chord voices)."""
    pitched = notes.select(notes.pitched)
    if melody is not None and melody.is_lead:
        rest = pitched.select(pitched.track != melody.index)
        if len(rest):
            return rest
    return pitched


def recognise(notes: Notes, edges: np.ndarray, penalty: float = CHANGE_PENALTY) -> np.ndarray:
    """One label per window between ``edges`` ``[W + 1]`` (any unit the notes are in,
    ascending), -> ``[W]`` int labels of ``symbolic.music.chords``; N.C. where nothing sounds."""
    windows = len(edges) - 1
    if windows <= 0:
        return np.zeros(0, int)
    weights = pitch_class_weights(notes, edges, ON_BEAT_WEIGHT)  # [W, 12]
    lowest = bass_pitches(notes, edges)
    bass = np.where(lowest >= 0, lowest % 12, -1)
    silent = weights.sum(axis=1) <= 0
    scores = np.concatenate(
        [np.where(silent, 0.0, _NO_CHORD_SCORE)[:, None], label_scores(weights, bass)], axis=1
    )
    scores[silent, 1:] = -2.0  # nothing sounds: only N fits
    if penalty <= 0:
        return np.argmax(scores, axis=1)
    return viterbi(scores, penalty)
