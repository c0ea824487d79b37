"""``analyze``: one score in, one typed ``Analysis`` out (key, rhythm, chords, melody, sections).

Times are seconds from the start of the file. The order matters: the melody track is found
first (the chords leave a lead melody out), then beats and bars, then chords per beat, key
regions and sections per bar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.analysis import beats as beats_lib
from symbolic.analysis import chords as chords_lib
from symbolic.analysis.key import KeyEstimate, KeyRegion, global_key, key_regions
from symbolic.analysis.melody import find_melody
from symbolic.analysis.notes import load, note_table
from symbolic.analysis.sections import Section, sections


@dataclass(frozen=True)
class Chord:
    """A chord from ``time`` to ``end`` seconds, in Harte syntax (``"A:min7"``, ``"N"``)."""

    time: float
    end: float
    label: str


@dataclass(frozen=True)
class Analysis:
    """What ``analyze`` finds in one file. ``chords`` are one per beat; ``tempo_source`` says
    whether beats came from the written grid, the tempo map, or the onsets alone."""

    file: str | None
    key: KeyEstimate | None
    key_regions: tuple[KeyRegion, ...]
    tempo: float
    tempo_source: str
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    meter: str
    chords: tuple[Chord, ...]
    melody_track: str | None
    melody_reason: str | None
    sections: tuple[Section, ...]
    duration: float

    def __post_init__(self) -> None:
        if self.tempo <= 0:
            raise ValueError(f"{self.file}: tempo {self.tempo} must be positive")
        if list(self.beats) != sorted(self.beats):
            raise ValueError(f"{self.file}: beats must be in time order")

    def chord_changes(self) -> list[Chord]:
        """The chords with repeats of the same label merged: what a lead sheet shows."""
        out: list[Chord] = []
        for chord in self.chords:
            if out and out[-1].label == chord.label:
                out[-1] = Chord(out[-1].time, chord.end, chord.label)
            else:
                out.append(chord)
        return out

    def table(self, max_chords: int = 24) -> str:
        """A readable summary of the analysis, one item a line (the first ``max_chords`` chord
        changes)."""
        key = (
            "none"
            if self.key is None
            else (f"{self.key.tonic} {self.key.mode} (confidence {self.key.confidence:.2f})")
        )
        regions = " | ".join(
            f"{r.start:.1f}-{r.end:.1f} s {r.tonic} {r.mode}" for r in self.key_regions
        )
        changes = self.chord_changes()
        chord_text = "  ".join(f"{c.time:.1f} {c.label}" for c in changes[:max_chords])
        if len(changes) > max_chords:
            chord_text += f"  ... (+{len(changes) - max_chords} more)"
        melody = (
            "none"
            if self.melody_track is None
            else (f"{self.melody_track or '(unnamed)'} (by {self.melody_reason})")
        )
        rows = [
            ("key", key),
            ("key regions", regions or "none"),
            ("tempo", f"{self.tempo:g} BPM (from the {self.tempo_source})"),
            ("meter", self.meter),
            ("beats", f"{len(self.beats)} beats, {len(self.downbeats)} bars"),
            ("melody track", melody),
            ("sections", " ".join(f"{s.label}@{s.start:.1f}s" for s in self.sections) or "none"),
            ("chords", chord_text or "none"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join([str(self.file)] + [f"  {n:<{width}}  {v}" for n, v in rows])

    def to_json(self) -> dict:
        """The ``--json`` object: ``file``, ``key`` {tonic, mode, confidence}, ``key_regions``,
        ``tempo``, ``beats``, ``downbeats``, ``meter``, ``chords`` [{time, label}], ``sections``."""
        out = asdict(self)
        out["chords"] = [{"time": c.time, "end": c.end, "label": c.label} for c in self.chords]
        round_times = ("beats", "downbeats")
        for name in round_times:
            out[name] = [round(t, 4) for t in out[name]]
        return out


def _round(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in values)


def analyze(source: str | Path | Score, file: str | None = None) -> Analysis:
    """The analysis of a MIDI file (path) or a ``symusic.Score``; ``file`` names it in the
    result (default: the path).

    Raises:
        FileNotFoundError: no file at the path.
        ValueError: not a readable MIDI file, or a file without notes (the message names it).
    """
    score = load(source)
    name = file if file is not None else (None if isinstance(source, Score) else str(source))
    notes = note_table(score)
    if not len(notes):
        raise ValueError(f"{name or 'score'}: no notes to analyse")
    melody = find_melody(score)
    rhythm = beats_lib.rhythm(score, notes)
    harmony = chords_lib.harmony_notes(notes, melody)
    beats = rhythm.beats
    chords: tuple[Chord, ...] = ()
    if len(beats) > 1:
        edges = np.r_[beats, beats[-1] + np.median(np.diff(beats))]
        labels = chords_lib.recognise(harmony, edges)
        chords = tuple(
            Chord(round(float(a), 4), round(float(b), 4), chords_lib.harte(int(v)))
            for a, b, v in zip(edges[:-1], edges[1:], labels, strict=True)
        )
    bars = rhythm.downbeats
    return Analysis(
        file=name,
        key=global_key(notes),
        key_regions=tuple(key_regions(notes, bars)),
        tempo=rhythm.tempo,
        tempo_source=rhythm.source,
        beats=_round(beats),
        downbeats=_round(bars),
        meter=rhythm.meter,
        chords=chords,
        melody_track=None if melody is None else melody.name,
        melody_reason=None if melody is None else melody.reason,
        sections=tuple(sections(notes, bars)),
        duration=round(notes.duration, 4),
    )
