"""The notes of a score as flat arrays in seconds: what every analysis reads.

A ``symusic.Score`` in tick time holds notes per track; analysis wants all notes at once, in
seconds (beats and chords live on the clock, not on a tempo map that may be a default 120 BPM),
with the track each note came from. Numpy and symusic only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from symusic import Score

# GM programs 112-127 are percussive (Tinkle Bell .. Taiko, Agogo) and sound effects: never
# harmony, never a melody.
PERCUSSIVE_PROGRAMS = range(112, 128)


@dataclass(frozen=True)
class Notes:
    """Every note of a score, sorted by onset. Arrays ``[notes]``: ``start``/``end`` float64
    seconds, ``pitch``/``velocity`` int, ``track`` int (index in ``score.tracks``), ``pitched``
    bool (False for drums and percussive programs). ``track_names`` per track."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    track: np.ndarray
    pitched: np.ndarray
    track_names: tuple[str, ...]
    duration: float  # seconds, the end of the last note

    def select(self, keep: np.ndarray) -> Notes:
        """The notes where ``keep`` ``[notes]`` bool is True."""
        return Notes(
            self.start[keep],
            self.end[keep],
            self.pitch[keep],
            self.velocity[keep],
            self.track[keep],
            self.pitched[keep],
            self.track_names,
            self.duration,
        )

    def __len__(self) -> int:
        return len(self.start)


def is_percussion(track) -> bool:
    """Drums (GM channel 10) or a percussive GM program: neither harmony nor melody."""
    return bool(track.is_drum) or track.program in PERCUSSIVE_PROGRAMS


def load(source: str | Path | Score) -> Score:
    """A ``symusic.Score`` (tick time) of a MIDI path or a Score.

    Raises:
        FileNotFoundError: no file at the path.
        ValueError: the file is not a readable MIDI file (the message names it).
    """
    if isinstance(source, Score):
        return source
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return Score(str(path))
    except Exception as err:  # symusic raises RuntimeError or its own types on bad bytes
        raise ValueError(f"{path}: not a readable MIDI file ({err})") from None


def note_table(score: Score, unit: str = "second") -> Notes:
    """All notes of ``score`` in seconds (symusic's tempo-map conversion), or in quarter notes
    with ``unit="quarter"`` (the chord views' windows are in quarters)."""
    seconds = score.to(unit)
    parts, names = [], []
    for index, track in enumerate(seconds.tracks):
        names.append(track.name.replace("\r", "\n").split("\n")[0].strip())
        if not len(track.notes):
            continue
        n = track.notes.numpy()
        count = len(n["time"])
        parts.append(
            (
                n["time"].astype(float),
                (n["time"] + n["duration"]).astype(float),
                n["pitch"].astype(int),
                n["velocity"].astype(int),
                np.full(count, index),
                np.full(count, not is_percussion(track)),
            )
        )
    if not parts:
        empty = np.zeros(0)
        return Notes(
            empty,
            empty,
            empty.astype(int),
            empty.astype(int),
            empty.astype(int),
            empty.astype(bool),
            tuple(names),
            0.0,
        )
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    order = np.argsort(columns[0], kind="stable")
    start, end, pitch, velocity, track, pitched = (c[order] for c in columns)
    end = np.maximum(end, start + 1e-3)  # a zero-length note still sounds a little
    return Notes(start, end, pitch, velocity, track, pitched, tuple(names), float(end.max()))


def overlaps(notes: Notes, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (note, window) pair that overlaps, windows between ``edges`` ``[W + 1]`` float
    seconds: ``(note index, window index, seconds of overlap)``, each ``[pairs]``."""
    windows = len(edges) - 1
    if windows <= 0 or not len(notes):
        empty = np.zeros(0, int)
        return empty, empty, np.zeros(0)
    first = np.clip(np.searchsorted(edges, notes.start, side="right") - 1, 0, windows - 1)
    last = np.clip(np.searchsorted(edges, notes.end, side="left") - 1, 0, windows - 1)
    spans = np.maximum(last - first + 1, 1)
    note = np.repeat(np.arange(len(notes)), spans)
    window = first[note] + np.arange(len(note)) - np.repeat(np.cumsum(spans) - spans, spans)
    overlap = np.minimum(notes.end[note], edges[window + 1]) - np.maximum(
        notes.start[note], edges[window]
    )
    keep = overlap > 0
    return note[keep], window[keep], overlap[keep]


def pitch_class_weights(notes: Notes, edges: np.ndarray, on_beat: float = 1.0) -> np.ndarray:
    """Seconds each pitch class sounds in each window between ``edges`` ``[W + 1]`` float
    seconds, -> ``[W, 12]`` float (windows may be beats, bars or key windows); a note already
    sounding when its window starts counts ``on_beat`` times (the accented sonority)."""
    out = np.zeros((max(len(edges) - 1, 0), 12))
    note, window, overlap = overlaps(notes, edges)
    accent = np.where(notes.start[note] <= edges[window] + 1e-6, on_beat, 1.0)
    np.add.at(out, (window, notes.pitch[note] % 12), overlap * accent)
    return out


def bass_pitches(notes: Notes, edges: np.ndarray, min_share: float = 0.25) -> np.ndarray:
    """The bass of each window, ``[W]`` int, -1 where nothing sounds: the lowest pitch
    sounding as the window starts, else the lowest held for ``min_share`` of it, else the
    lowest at all (a passing low note inside the window is not the bass)."""
    windows = max(len(edges) - 1, 0)
    none = 999
    at_start, held, any_low = (np.full(windows, none) for _ in range(3))
    note, window, overlap = overlaps(notes, edges)
    pitch = notes.pitch[note]
    np.minimum.at(any_low, window, pitch)
    long = overlap >= min_share * np.diff(edges)[window]
    np.minimum.at(held, window[long], pitch[long])
    starting = notes.start[note] <= edges[window] + 1e-6
    np.minimum.at(at_start, window[starting], pitch[starting])
    out = np.where(at_start < none, at_start, np.where(held < none, held, any_low))
    return np.where(out < none, out, -1)
