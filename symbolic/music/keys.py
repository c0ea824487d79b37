"""Keys: a tonic and mode, parsed from text, and found from pitch-class weights.

Numpy only; every stage may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}  # natural minor
_CIRCLE = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 5: -1, 10: -2, 3: -3, 8: -4, 1: -5}
# Krumhansl-Kessler key profiles, C major / C minor.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and mode (``"major"`` or ``"minor"``)."""

    tonic: int
    mode: str

    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + step) % 12 for step in _SCALES[self.mode])

    def sharps(self) -> int:
        """Sharps (> 0) or flats (< 0) of the key signature, as a MIDI key_signature needs."""
        major_tonic = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        return _CIRCLE[major_tonic]


def parse_key(text: str) -> Key:
    """``"D minor"``, ``"F# major"``, ``"Bb minor"``, ``"c"`` (major) -> ``Key``."""
    match = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min|m)?\s*", text)
    if not match:
        raise ValueError(f"key {text!r}: expected e.g. 'D minor', 'F# major', 'Bb minor'")
    letter, accidental, mode = match.groups()
    tonic = _PITCH_CLASSES[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]
    mode = "minor" if mode in ("minor", "min", "m") else "major"
    return Key(tonic % 12, mode)


def best_key(pitch_class_weights: np.ndarray) -> Key | None:
    """Krumhansl-Schmuckler: the key whose profile correlates best with weights [12] (duration
    per pitch class, as music21's ``analyze``); None when every weight is 0."""
    if not np.asarray(pitch_class_weights).any():
        return None
    best, best_r = None, -np.inf
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            r = np.corrcoef(pitch_class_weights, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = Key(tonic, mode), r
    return best
