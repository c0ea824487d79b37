"""The five seeded variations of a song that the retrieval benchmark queries with.

Each takes a `symusic.Score` and a numpy Generator and returns a new Score (the input is left as
it is). Times are in ticks; POP909 names its tracks MELODY, BRIDGE and PIANO.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from symusic import Note, Score

MELODY, ACCOMPANIMENT = "MELODY", "PIANO"
DELETE_RATE = 0.15
TEMPO_CHANGE = 0.2


def _with_notes(track, notes: dict) -> None:
    """Replace a track's notes by the columns `notes` (time, duration, pitch, velocity)."""
    order = np.argsort(notes["time"], kind="stable")
    track.notes = Note.from_numpy(**{k: np.ascontiguousarray(v[order]) for k, v in notes.items()})


def transpose(score: Score, rng: np.random.Generator) -> Score:
    """Every pitched track moved by one random shift in -5..+6 semitones, 0 excluded."""
    shift = int(rng.choice([s for s in range(-5, 7) if s != 0]))
    out = score.copy()
    for track in out.tracks:
        if not track.is_drum:
            track.shift_pitch(shift, inplace=True)
    return out


def tempo(score: Score, rng: np.random.Generator) -> Score:
    """The notes played 20% faster or slower (random) against the file's own tempo map and bar
    grid: onsets and durations in ticks divided by 1.2 or 0.8, so no note stays on its beat.
    (Scaling only the tempo events would leave every tick, hence every beat-based feature,
    exactly as it was.)"""
    factor = 1.0 + TEMPO_CHANGE * float(rng.choice([-1.0, 1.0]))
    out = score.copy()
    for track in out.tracks:
        notes = {k: v.copy() for k, v in track.notes.numpy().items()}
        notes["time"] = np.round(notes["time"] / factor).astype(notes["time"].dtype)
        stretched = np.round(notes["duration"] / factor)
        notes["duration"] = np.maximum(stretched, 1).astype(notes["duration"].dtype)
        _with_notes(track, notes)
    return out


def melody_only(score: Score, rng: np.random.Generator) -> Score:
    """The MELODY track alone (the tempo map and meter kept)."""
    del rng  # nothing random
    out = score.copy()
    out.tracks = [t for t in out.tracks if t.name.strip().upper() == MELODY]
    if not out.tracks:
        raise ValueError("no MELODY track")
    return out


def deleted_jittered(score: Score, rng: np.random.Generator) -> Score:
    """15% of the notes deleted at random, and every onset moved by a uniform random offset of
    up to a 32nd note (tpq / 8 ticks) either way."""
    out = score.copy()
    most = score.ticks_per_quarter // 8
    for track in out.tracks:
        notes = track.notes.numpy()
        keep = rng.random(len(notes["time"])) >= DELETE_RATE
        notes = {k: v[keep].copy() for k, v in notes.items()}
        moved = notes["time"] + rng.integers(-most, most + 1, len(notes["time"]))
        notes["time"] = np.maximum(moved, 0).astype(notes["time"].dtype)
        _with_notes(track, notes)
    return out


def revoiced(score: Score, rng: np.random.Generator) -> Score:
    """The accompaniment (PIANO track) moved an octave up or down (random; the other way when
    the move would leave MIDI 0..127), the melody kept."""
    out = score.copy()
    for track in out.tracks:
        if track.name.strip().upper() != ACCOMPANIMENT or len(track.notes) == 0:
            continue
        pitches = track.notes.numpy()["pitch"]
        shift = 12 * int(rng.choice([-1, 1]))
        if pitches.min() + shift < 0 or pitches.max() + shift > 127:
            shift = -shift
        track.shift_pitch(shift, inplace=True)
    return out


KINDS: dict[str, Callable[[Score, np.random.Generator], Score]] = {
    "transpose": transpose,
    "tempo": tempo,
    "melody_only": melody_only,
    "deleted_jittered": deleted_jittered,
    "revoiced": revoiced,
}


def variation(kind: str, score: Score, song: int, seed: int = 0) -> Score:
    """Variation `kind` of song number `song`, drawn from its own seeded generator, so one song's
    variation does not depend on which others were made."""
    rng = np.random.default_rng([seed, song, list(KINDS).index(kind)])
    return KINDS[kind](score, rng)
