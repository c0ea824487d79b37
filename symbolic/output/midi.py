"""DAW-ready MIDI files: clean notes, named tracks, tempo / meter / key meta events.

`save_daw_midi(score, path, key=...)` writes a standard MIDI file of type 1 at 480 ticks per
quarter note whose first track is a conductor track (the piece's name, tempo, time signature and
key signature, as DAWs expect and as symusic alone does not lay it out), followed by one named
track per instrument with its GM program change. Notes are cleaned first: zero-length notes get
a 32nd-note minimum, and a note that still sounds when the same pitch starts again in its track
is cut there (most DAWs and synths merge or drop such overlaps). The key signature is the
requested key or a Krumhansl-Schmuckler estimate from duration-weighted pitch classes (as
music21's `analyze`). Never imports jax.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mido
from symusic import KeySignature, Note
from symusic.core import ScoreTick

from symbolic import tokenization
from symbolic.analysis.key import global_key
from symbolic.analysis.notes import note_table
from symbolic.music.keys import Key
from symbolic.music.notes import clean_notes, clip_to_next_onset

# Tokenizers decode at a coarse resolution (24 ticks per quarter for our presets); DAWs expect
# 480 or more, and 480 is an exact multiple of every coarser resolution we produce.
DAW_TICKS_PER_QUARTER = 480
CONDUCTOR_META = ("set_tempo", "time_signature", "key_signature")
DRUM_CHANNEL = 9  # General MIDI's channel 10
MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)


def estimate_key(score: ScoreTick) -> Key | None:
    """The key of the pitched notes: the analysis's global key (`symbolic.analysis.key`, the
    project's one Krumhansl-Schmuckler finder, weighted by duration); None without notes."""
    found = global_key(note_table(score))
    return None if found is None else Key(found.pitch_class, found.mode)


def prepare_score(
    score: ScoreTick, key: Key | None = None, monophonic: bool = False
) -> tuple[ScoreTick, Key | None]:
    """A cleaned copy of `score` with tempo, meter, key signature and track names (GM program
    names for unnamed tracks);
    `monophonic` also cuts pitched notes at the next onset of their track."""
    score = tokenization.ensure_tempo_and_meter(score.copy())
    tpq = score.ticks_per_quarter
    if tpq < DAW_TICKS_PER_QUARTER and DAW_TICKS_PER_QUARTER % tpq == 0:  # exact
        score = score.resample(DAW_TICKS_PER_QUARTER, min_dur=1)
    min_len = max(score.ticks_per_quarter // 8, 1)
    for track in score.tracks:
        # A name the decoder gave (the "Chords" track of chord views) stays.
        track.name = track.name or tokenization.program_name(track.program, track.is_drum)
        clean_track(track, min_len, monophonic and not track.is_drum)
    key = key or estimate_key(score)
    score.key_signatures.clear()
    if key is not None:
        score.key_signatures.append(KeySignature(0, key.sharps(), int(key.mode == "minor")))
    return score, key


def clean_track(track, min_len: int, monophonic: bool = False) -> None:
    """`track`'s notes as one MIDI channel sounds them (`clean_notes`), in place; `monophonic`
    also cuts each note at the next onset."""
    if not len(track.notes):
        return
    n = track.notes.numpy()
    keep, fixed = clean_notes(n["time"], n["duration"], n["pitch"], min_len)
    if monophonic:
        fixed[keep] = clip_to_next_onset(n["time"][keep], fixed[keep])
    track.notes = Note.from_numpy(
        n["time"][keep],
        fixed[keep].astype(n["duration"].dtype),
        n["pitch"][keep],
        n["velocity"][keep],
    )


def _absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    now, events = 0, []
    for msg in track:
        now += msg.time
        events.append((now, msg))
    return events


def _relative(events: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    track, now = mido.MidiTrack(), 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def with_conductor_track(midi: mido.MidiFile, title: str) -> mido.MidiFile:
    """Move tempo, meter and key events into a new first track named `title`."""
    conductor = [(0, mido.MetaMessage("track_name", name=title))]
    tracks = []
    for track in midi.tracks:
        events = _absolute(track)
        conductor += [(t, m) for t, m in events if m.type in CONDUCTOR_META]
        kept = [(t, m) for t, m in events if m.type not in (*CONDUCTOR_META, "end_of_track")]
        tracks.append(_relative(kept))
    out = mido.MidiFile(type=1, ticks_per_beat=midi.ticks_per_beat)
    out.tracks = [_relative(conductor), *tracks]
    return out


def assign_channels(midi: mido.MidiFile) -> int:
    """Give each track channel messages on a channel of its own, drums on channel 10 only.

    Symusic numbers channels by track, so a 17th track wraps onto the first track's channel
    and plays with its program. Here each melodic track gets its own channel while there are
    enough; past 15 tracks, tracks of one program share a channel (one instrument, one
    channel). Returns the number of distinct melodic programs: above 15 some programs must
    share a channel, and the caller warns.
    """
    tracks = [t for t in midi.tracks if any(m.type == "program_change" for m in t)]
    melodic = [t for t in tracks if not any(getattr(m, "channel", None) == DRUM_CHANNEL for m in t)]
    programs = [next(m.program for m in t if m.type == "program_change") for t in melodic]
    if len(melodic) <= len(MELODIC_CHANNELS):
        channels = list(MELODIC_CHANNELS[: len(melodic)])
    else:
        order = list(dict.fromkeys(programs))
        channels = [MELODIC_CHANNELS[order.index(p) % len(MELODIC_CHANNELS)] for p in programs]
    for track, channel in zip(melodic, channels, strict=True):
        for i, msg in enumerate(track):
            if hasattr(msg, "channel"):
                track[i] = msg.copy(channel=channel)
    return len(set(programs))


def save_daw_midi(
    score: ScoreTick, path: str | Path, key: Key | None = None, monophonic: bool = False
) -> Path:
    """Write `score` as a DAW-ready type-1 MIDI file (see the module docstring and
    `prepare_score`)."""
    path = Path(path)
    score, _ = prepare_score(score, key, monophonic)
    tokenization.save_midi(score, path)
    midi = with_conductor_track(mido.MidiFile(path), path.stem)
    num_programs = assign_channels(midi)
    if num_programs > len(MELODIC_CHANNELS):
        warnings.warn(
            f"{path}: {num_programs} melodic programs but MIDI has {len(MELODIC_CHANNELS)} "
            "melodic channels: some programs share a channel and play with one instrument",
            stacklevel=2,
        )
    midi.save(path)
    return path
