"""The melody track of a score: the project's one melody-track finder.

Ranking (issue "a real user's folder"): a track named as a melody comes first (melody, vocal,
voice, lead, soprano, tune, in a few languages), unless the name also says it is an
accompaniment (backing vocals, bass, pads); then, among the tracks left, a score of monophony,
register and note density. Percussion (GM channel 10, programs 112-127) is never chosen.
Numpy and symusic only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from symusic import Score

from symbolic.analysis.notes import is_percussion

# Words of a melody's track name (lower case, matched as whole words or as CJK substrings).
MELODY_WORDS = (
    "melody", "melodie", "mélodie", "melodia", "melodía", "melodi", "mel", "lead", "vocal",
    "vocals", "voice", "vox", "voix", "voce", "voz", "stimme", "gesang", "canto", "chant",
    "singer", "sing", "singing", "soprano", "sopran", "tune", "theme", "main", "solo",
)  # fmt: skip
_CJK_WORDS = ("主旋律", "旋律", "メロディ", "ボーカル", "歌", "멜로디", "보컬")
# Words that make a name an accompaniment even with a melody word beside them.
NOT_MELODY_WORDS = (
    "back", "backing", "backup", "bgv", "bg", "harmony", "harm", "choir", "chorus", "pad",
    "bass", "drum", "drums", "chord", "chords", "accomp", "accompaniment", "comp", "rhythm",
    "arp", "strings", "perc", "fx",
)  # fmt: skip
# Weights of the feature score: monophony and register say "a line on top"; density keeps a
# single long note from beating a busy part.
_MONOPHONY, _REGISTER, _DENSITY = 0.4, 0.4, 0.2


@dataclass(frozen=True)
class MelodyChoice:
    """The chosen track: its index in ``score.tracks``, its name as written, and why."""

    index: int
    name: str
    reason: str  # "name" (a melody's name) or "features" (monophony, register, density)
    by_name: bool

    @property
    def is_lead(self) -> bool:
        """A lead line over an accompaniment (named so, not a choir's soprano): the chord
        recogniser leaves such a track out of the harmony."""
        return self.by_name and not _words(self.name) & {"soprano", "sopran"}


def _words(name: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", name.lower()))


def name_says_melody(name: str) -> bool:
    """Whether a track name (first line) names a melody and not an accompaniment."""
    first = name.replace("\r", "\n").split("\n")[0].strip()
    words = _words(first)
    if words & set(NOT_MELODY_WORDS):
        return False
    return bool(words & set(MELODY_WORDS)) or any(w in first for w in _CJK_WORDS)


def track_features(track) -> tuple[float, float, float]:
    """``(monophony, register, onsets)`` of a track: the share of onsets where one note starts
    and no earlier note still sounds (Laplace-smoothed), the mean pitch of the highest note
    per onset, and the number of distinct onsets."""
    n = track.notes.numpy()
    onsets, counts = np.unique(n["time"], return_counts=True)
    order = np.lexsort((-n["pitch"], n["time"]))
    top = n["pitch"][order][np.r_[True, np.diff(n["time"][order]) != 0]]
    ends = np.maximum.accumulate((n["time"] + n["duration"])[np.argsort(n["time"], kind="stable")])
    last_end = ends[np.cumsum(counts) - 1]  # the latest end of the notes up to each onset
    tolerance = max(int(np.median(n["duration"])) // 8, 1)  # legato overlaps are still a line
    clear = np.r_[True, last_end[:-1] <= onsets[1:] + tolerance]
    # Laplace's rule: a track of two onsets is weak evidence of a line, whatever they are.
    monophony = (float(np.sum((counts == 1) & clear)) + 1) / (len(onsets) + 2)
    return monophony, float(np.mean(top)), float(len(onsets))


def find_melody(score: Score) -> MelodyChoice | None:
    """The melody track of ``score`` (see the module's ranking); None without a pitched track.

    Among several named melodies, the one with the best feature score wins.
    """
    candidates = [i for i, t in enumerate(score.tracks) if len(t.notes) and not is_percussion(t)]
    if not candidates:
        return None
    named = [i for i in candidates if name_says_melody(score.tracks[i].name)]
    pool = named or candidates
    features = {i: track_features(score.tracks[i]) for i in pool}
    most_onsets = max(f[2] for f in features.values())

    def score_of(i: int) -> float:
        mono, register, onsets = features[i]
        high = np.clip((register - 40.0) / 40.0, 0.0, 1.0)
        return _MONOPHONY * mono + _REGISTER * high + _DENSITY * onsets / most_onsets

    best = max(pool, key=score_of)
    name = score.tracks[best].name.replace("\r", "\n").split("\n")[0].strip()
    reason = "name" if named else "features"
    return MelodyChoice(best, name, reason, bool(named))
