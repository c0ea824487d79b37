"""Key: the global key with a confidence, and key regions from windowed key-finding.

The finder is the project's one Krumhansl-Schmuckler (``symbolic.music.keys``) over
duration-weighted pitch classes, as music21's ``analyze('key')``, with each 2-second stretch
normalised first (``key_evidence``). Regions: the correlations of
overlapping windows of bars, smoothed by a Viterbi path over the 24 keys that pays
``CHANGE_PENALTY`` for every change, so a modulation must hold for several windows to count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic.analysis.notes import Notes, pitch_class_weights
from symbolic.analysis.viterbi import viterbi
from symbolic.music.chords import ROOTS as ROOT_NAMES
from symbolic.music.keys import key_correlations, key_of_index

EVIDENCE_WINDOW_S = 2.0  # about a bar: 1-4 s gave the same agreement on POP909
WINDOW_BARS = 8  # a phrase: long enough to hear a key, short enough to hear it change
CHANGE_PENALTY = 6.0  # correlation units summed over bars: a modulation must hold for a while


@dataclass(frozen=True)
class KeyEstimate:
    """A key: ``tonic`` as a pitch name (``"F#"``), ``mode`` ``"major"``/``"minor"``, and
    ``confidence``: the profile correlation of the best key (0-1, as music21's
    ``correlationCoefficient``)."""

    tonic: str
    mode: str
    confidence: float

    @property
    def pitch_class(self) -> int:
        return ROOT_NAMES.index(self.tonic)

    def harte(self) -> str:
        """mir_eval's key syntax: ``"F# major"``."""
        return f"{self.tonic} {self.mode}"


@dataclass(frozen=True)
class KeyRegion:
    """A span ``[start, end)`` in seconds in one key."""

    start: float
    end: float
    tonic: str
    mode: str


def _estimate(correlations: np.ndarray) -> KeyEstimate:
    index = int(np.argmax(correlations))
    key = key_of_index(index)
    return KeyEstimate(
        ROOT_NAMES[key.tonic], key.mode, round(max(float(correlations[index]), 0.0), 4)
    )


def key_evidence(notes: Notes, window: float = EVIDENCE_WINDOW_S) -> np.ndarray:
    """``[12]`` float: the pitch-class shares of each ``window``-second stretch, summed, so
    every stretch of music counts the same however many or long its notes (a held pedal or
    a dense run does not outweigh the rest of the piece)."""
    edges = np.arange(0.0, notes.duration + window, window)
    per_window = pitch_class_weights(notes, edges)
    totals = per_window.sum(axis=1, keepdims=True)
    return np.divide(per_window, totals, out=np.zeros_like(per_window), where=totals > 0).sum(0)


def global_key(notes: Notes) -> KeyEstimate | None:
    """The key of all pitched notes (``key_evidence``); None without notes."""
    pitched = notes.select(notes.pitched)
    if not len(pitched):
        return None
    return _estimate(key_correlations(key_evidence(pitched)))


def key_regions(
    notes: Notes,
    bar_starts: np.ndarray,
    window_bars: int = WINDOW_BARS,
    penalty: float = CHANGE_PENALTY,
) -> list[KeyRegion]:
    """Key regions over bars (``bar_starts`` ``[bars]`` float seconds, ascending): a key per
    bar from the window of ``window_bars`` bars centred on it, smoothed (``viterbi``)."""
    pitched = notes.select(notes.pitched)
    if not len(pitched) or len(bar_starts) == 0:
        return []
    edges = np.r_[bar_starts, max(pitched.duration, bar_starts[-1] + 1e-3)]
    per_bar = pitch_class_weights(pitched, edges)  # [bars, 12]
    cumulative = np.r_[np.zeros((1, 12)), np.cumsum(per_bar, axis=0)]
    bars = len(per_bar)
    low = np.clip(np.arange(bars) - window_bars // 2, 0, bars)
    high = np.clip(low + window_bars, 0, bars)
    windows = cumulative[high] - cumulative[low]  # [bars, 12]
    path = viterbi(key_correlations(windows), penalty)
    regions, first = [], 0
    for bar in range(1, bars + 1):
        if bar == bars or path[bar] != path[first]:
            key = key_of_index(int(path[first]))
            regions.append(
                KeyRegion(float(edges[first]), float(edges[bar]), ROOT_NAMES[key.tonic], key.mode)
            )
            first = bar
    return regions
