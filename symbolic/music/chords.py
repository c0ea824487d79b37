"""Chord symbols: a closed vocabulary, parsing, voicing and template matching. Numpy only.

The vocabulary is 12 roots x ``QUALITIES`` plus ``N.C.`` (no chord: a rest), 121 labels.
A label is an int: 0 is N.C., ``1 + root * len(QUALITIES) + quality`` a chord. The names
follow MidiTok's chord tokens (``Chord_C:maj``) and lead-sheet symbols (``C``, ``Am``,
``G7``, ``Bm7b5``) for people.

Extraction from scores (music21's ``chordify``) lives in ``symbolic.data.chords``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# quality -> (intervals above the root, lead-sheet suffix). Order breaks scoring ties.
QUALITIES: dict[str, tuple[tuple[int, ...], str]] = {
    "maj": ((0, 4, 7), ""),
    "min": ((0, 3, 7), "m"),
    "dom7": ((0, 4, 7, 10), "7"),
    "min7": ((0, 3, 7, 10), "m7"),
    "maj7": ((0, 4, 7, 11), "maj7"),
    "dim": ((0, 3, 6), "dim"),
    "hdim7": ((0, 3, 6, 10), "m7b5"),
    "dim7": ((0, 3, 6, 9), "dim7"),
    "aug": ((0, 4, 8), "aug"),
    "sus4": ((0, 5, 7), "sus4"),
}
NO_CHORD = 0
NUM_LABELS = 1 + len(ROOTS) * len(QUALITIES)
CHORD_PROGRAM = 0  # Acoustic Grand Piano, for the block chords of the output's chord track
CHORD_TRACK_NAME = "Chords"
CHORD_VELOCITY = 72
_BASS_OCTAVE = 48  # roots are voiced from C3 upwards, chord tones stacked above in close position
_MISSING_TONE_PENALTY = 0.1  # per template tone that does not sound
_SEVENTH_PENALTY = 0.25  # a passing seventh must not turn every chord into a seventh chord
_BASS_ROOT_BONUS = 0.05

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1, "-": -1}
# Lead-sheet suffixes people write -> quality (after the root; a "/bass" part is dropped).
_SUFFIXES = {
    **dict.fromkeys(("", "maj", "M", "major"), "maj"),
    **dict.fromkeys(("m", "min", "minor", "mi"), "min"),
    **dict.fromkeys(("7", "dom7"), "dom7"),
    **dict.fromkeys(("m7", "min7", "mi7", "-7"), "min7"),
    **dict.fromkeys(("maj7", "M7", "Δ", "Δ7", "ma7"), "maj7"),
    **dict.fromkeys(("dim", "o", "°"), "dim"),
    **dict.fromkeys(("m7b5", "ø", "ø7", "hdim7", "min7b5"), "hdim7"),
    **dict.fromkeys(("dim7", "o7", "°7"), "dim7"),
    **dict.fromkeys(("aug", "+"), "aug"),
    **dict.fromkeys(("sus", "sus4"), "sus4"),
}
_NO_CHORD_NAMES = {"n.c.", "nc", "n.c", "n"}


def label(root: int, quality: str) -> int:
    """The label of ``root`` (pitch class 0-11) and ``quality`` (a key of QUALITIES)."""
    return 1 + (root % 12) * len(QUALITIES) + list(QUALITIES).index(quality)


def root_and_quality(value: int) -> tuple[int, str] | None:
    """``(root pitch class, quality)`` of a label; None for N.C."""
    if value == NO_CHORD:
        return None
    root, quality = divmod(value - 1, len(QUALITIES))
    return root, list(QUALITIES)[quality]


def token_names() -> list[str]:
    """MidiTok-style token names of the labels, in label order: ``Chord_N.C.``,
    ``Chord_C:maj``, ``Chord_C:min``, ..."""
    names = ["Chord_N.C."]
    names += [f"Chord_{root}:{quality}" for root in ROOTS for quality in QUALITIES]
    return names


def symbol(value: int) -> str:
    """Lead-sheet symbol of a label: ``"N.C."``, ``"C"``, ``"Am"``, ``"G7"``."""
    parts = root_and_quality(value)
    if parts is None:
        return "N.C."
    return ROOTS[parts[0]] + QUALITIES[parts[1]][1]


def transpose(value: int, semitones: int) -> int:
    """The label moved by ``semitones`` (N.C. stays N.C.)."""
    parts = root_and_quality(value)
    return value if parts is None else label(parts[0] + semitones, parts[1])


def parse_symbol(text: str) -> int:
    """``"C"``, ``"Am"``, ``"F#m7"``, ``"Bb7"``, ``"B-"``, ``"Bm7b5"``, ``"C/E"``, ``"N.C."``
    -> label. A slash bass is accepted and dropped (the vocabulary has no inversions).

    Raises:
        ValueError: not a chord symbol of the vocabulary.
    """
    if text.strip().lower() in _NO_CHORD_NAMES:
        return NO_CHORD
    match = re.fullmatch(r"\s*([A-Ga-g])([#b♯♭-]?)([^/\s]*)(/[A-Ga-g][#b♯♭-]?)?\s*", text)
    if match is None:
        raise ValueError(f"chord {text!r}: expected a root and a quality, e.g. C, Am, G7, F#m7b5")
    letter, accidental, suffix, _bass = match.groups()
    quality = _SUFFIXES.get(suffix)
    if quality is None:
        known = ", ".join(sorted({s for s in _SUFFIXES if s}))
        raise ValueError(f"chord {text!r}: unknown quality {suffix!r} (known: {known})")
    root = _LETTERS[letter.upper()] + _ACCIDENTALS.get(accidental, 0)
    return label(root, quality)


def parse_progression(text: str) -> list[tuple[int, Fraction | None]]:
    """``"C G Am F"`` or ``"C:2 G:2 Am F"`` -> ``[(label, beats or None), ...]``.

    A chord without ``:beats`` lasts one bar (None); ``|`` bar lines are ignored.
    """
    items = [item for item in text.replace("|", " ").split() if item]
    if not items:
        raise ValueError(f"chord progression {text!r} is empty")
    out = []
    for item in items:
        name, sep, beats = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            length = Fraction(beats) if sep else None
        except ValueError:
            raise ValueError(f"chord {item!r}: {beats!r} is not a number of beats") from None
        if length is not None and length <= 0:
            raise ValueError(f"chord {item!r}: the number of beats must be positive")
        out.append((parse_symbol(name), length))
    return out


def pitches(value: int) -> list[int]:
    """MIDI pitches of a label's block-chord voicing (root from C3, close position); [] for N.C."""
    parts = root_and_quality(value)
    if parts is None:
        return []
    base = _BASS_OCTAVE + parts[0]
    return [base + step for step in QUALITIES[parts[1]][0]]


def _templates() -> np.ndarray:
    """``[NUM_LABELS - 1, 12]`` float: 1 where the chord has the pitch class."""
    rows = np.zeros((NUM_LABELS - 1, 12))
    for value in range(1, NUM_LABELS):
        root, quality = root_and_quality(value)
        rows[value - 1, [(root + step) % 12 for step in QUALITIES[quality][0]]] = 1
    return rows


_TEMPLATES = _templates()


def label_scores(weights: np.ndarray, bass: np.ndarray | None = None) -> np.ndarray:
    """Template scores ``[..., NUM_LABELS - 1]`` float of pitch-class weights ``[..., 12]``
    (e.g. seconds sounding), label ``1 + i`` in column ``i``; ``bass`` ``[...]`` int is the
    pitch class of the lowest note, -1 for none.

    Score: weight inside the chord minus weight outside, minus a small penalty per chord
    tone that does not sound, plus a bonus when the bass is the root. The project's one
    chord recogniser (``symbolic.analysis.chords``) slices scores into such weights.
    """
    weights = np.asarray(weights, float)
    total = weights.sum(axis=-1, keepdims=True)
    share = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    inside = share @ _TEMPLATES.T
    missing = (share <= 0).astype(float) @ _TEMPLATES.T
    sizes = _TEMPLATES.sum(axis=1)
    scores = 2 * inside - 1 - _MISSING_TONE_PENALTY * missing - _SEVENTH_PENALTY * (sizes > 3)
    if bass is not None:
        roots = np.repeat(np.arange(12), len(QUALITIES))
        bass = np.asarray(bass)[..., None]
        scores = scores + _BASS_ROOT_BONUS * ((roots == bass % 12) & (bass >= 0))
    return scores


def best_label(weights: np.ndarray, bass: int | None) -> int:
    """The label that best explains pitch-class weights ``[12]`` (``label_scores``); no
    weight at all is N.C.; ties go to the earlier root, then the earlier quality."""
    if float(np.sum(weights)) <= 0:
        return NO_CHORD
    return 1 + int(np.argmax(label_scores(weights, -1 if bass is None else bass)))


def recognise(midi_pitches) -> int:
    """The label of a set of sounding MIDI pitches (bass = the lowest); N.C. if empty."""
    midi_pitches = [int(p) for p in midi_pitches]
    if not midi_pitches:
        return NO_CHORD
    weights = np.bincount(np.asarray(midi_pitches) % 12, minlength=12).clip(max=1)
    return best_label(weights, min(midi_pitches))


def label_events(track) -> list[tuple[int, int]]:
    """``(tick, label)`` at each onset of a block-chord track (a ``symusic`` track)."""
    if not len(track.notes):
        return []
    n = track.notes.numpy()
    events = []
    for tick in np.unique(n["time"]):
        events.append((int(tick), recognise(n["pitch"][n["time"] == tick])))
    return events


@dataclass(frozen=True)
class ChordSlots:
    """Chord-symbol tokens in REMI bars (``symbolic.data.views``): after ``Bar TimeSig``, a bar
    holds exactly ``per_bar[time signature]`` tokens out of ``ids``, before its notes
    (``before_notes``) or after them (then the bar ends with its chords)."""

    ids: tuple[int, ...]  # ids after the tokenizer's vocabulary
    per_bar: dict[str, int]  # TimeSig value ("4/4") -> chord tokens in such a bar
    before_notes: bool = True
