"""Notes <-> frame arrays: the transcriber's targets from known notes, notes decoded back from
its activations, and notes as a DAW-ready MIDI file. Never imports jax.

Notes are float64 arrays [N, 4]: onset (s), offset (s), MIDI pitch, velocity (1..127), sorted
by onset then pitch. Frame arrays are [frames, num_keys], key k being MIDI pitch
`lowest_pitch + k` (the 88 piano keys by default); frame t covers time t / fps, the centre of
the feature frame (`features.compute`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOWEST_PITCH, NUM_KEYS = 21, 88  # A0 .. C8


def sorted_notes(rows) -> np.ndarray:
    """[N, 4] float64 notes (onset, offset, pitch, velocity), sorted by onset, then pitch."""
    notes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def merge_unisons(notes: np.ndarray) -> np.ndarray:
    """Cut a note where the same pitch starts again while it sounds: rendered on one channel,
    two voices in unison are one key (the second note-on retriggers it), so the targets must
    say so too. Notes cut to nothing are dropped."""
    notes = sorted_notes(notes).copy()
    for pitch in np.unique(notes[:, 2]):
        rows = np.flatnonzero(notes[:, 2] == pitch)
        nxt = notes[rows[1:], 0]
        notes[rows[:-1], 1] = np.minimum(notes[rows[:-1], 1], nxt)
    return notes[notes[:, 1] > notes[:, 0]]


def frame_targets(
    notes: np.ndarray,
    num_frames: int,
    fps: float,
    lowest_pitch: int = LOWEST_PITCH,
    num_keys: int = NUM_KEYS,
) -> dict[str, np.ndarray]:
    """Known notes -> {"onsets", "frames", "offsets", "velocities"} uint8 [num_frames, num_keys].

    A note's onset is the frame nearest its start, its frames run from there to the frame
    nearest its end (at least one), its offset is that end frame, and its velocity (1..127) is
    written at its onset frame. Notes outside the keys or past the last frame are left out."""
    out = {name: np.zeros((num_frames, num_keys), np.uint8) for name in _TARGETS}
    for onset, offset, pitch, velocity in notes:
        key, start = int(pitch) - lowest_pitch, int(round(onset * fps))
        if not 0 <= key < num_keys or start >= num_frames:
            continue
        end = min(max(start + 1, int(round(offset * fps))), num_frames)
        out["onsets"][start, key] = 1
        out["frames"][start:end, key] = 1
        out["offsets"][min(end, num_frames - 1), key] = 1
        out["velocities"][start, key] = int(np.clip(round(velocity), 1, 127))
    return out


_TARGETS = ("onsets", "frames", "offsets", "velocities")


@dataclass(frozen=True)
class Thresholds:
    """Decoding thresholds on the sigmoid activations."""

    onset: float = 0.5
    frame: float = 0.5


def decode_notes(
    onsets: np.ndarray,
    frames: np.ndarray,
    velocities: np.ndarray | None,
    fps: float,
    thresholds: Thresholds = Thresholds(),
    lowest_pitch: int = LOWEST_PITCH,
) -> np.ndarray:
    """Onsets and Frames decoding of activations [frames, keys] in [0, 1] -> notes [N, 4].

    A note starts on each frame where its key's onset activation rises above the threshold;
    it lasts while the key's frame activation stays above its threshold (at least one frame)
    and ends early where the next onset of the key starts. Velocity is the velocity
    activation at the onset frame times 127 (80 without a velocity head)."""
    on = onsets > thresholds.onset
    starts = on & ~np.vstack([np.zeros((1, on.shape[1]), bool), on[:-1]])  # rising edges
    active = frames > thresholds.frame
    rows = []
    for key in np.flatnonzero(starts.any(axis=0)):
        onset_frames = np.flatnonzero(starts[:, key])
        off_frames = np.flatnonzero(~active[:, key])
        for i, start in enumerate(onset_frames):
            later = off_frames[np.searchsorted(off_frames, start + 1) :]
            end = int(later[0]) if later.size else len(active)
            if i + 1 < len(onset_frames):
                end = min(end, int(onset_frames[i + 1]))
            end = max(end, start + 1)
            vel = 80.0 if velocities is None else float(velocities[start, key]) * 127.0
            rows.append((start / fps, end / fps, key + lowest_pitch, np.clip(round(vel), 1, 127)))
    return sorted_notes(rows)


def notes_to_score(notes: np.ndarray, tempo: float = 120.0, program: int = 0):
    """Notes [N, 4] -> a one-track symusic ScoreTick at 480 ticks per quarter and `tempo`."""
    from symusic import Note, Score, Tempo, TimeSignature, Track

    tpq = 480
    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=float(tempo)))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    track = Track(name="Transcription", program=program)
    ticks_per_second = tempo / 60.0 * tpq
    for onset, offset, pitch, velocity in notes:
        start = int(round(onset * ticks_per_second))
        duration = max(1, int(round(offset * ticks_per_second)) - start)
        track.notes.append(Note(start, duration, int(pitch), int(velocity)))
    score.tracks.append(track)
    return score


def write_notes_midi(notes: np.ndarray, path: str | Path, tempo: float = 120.0) -> Path:
    """Notes as a DAW-ready MIDI file (`symbolic.output.midi.save_daw_midi`: a conductor track
    with tempo, meter and estimated key, then the one note track) at `tempo` quarters/min."""
    from symbolic.output.midi import save_daw_midi
    from symbolic.paths import output_file

    if not 10.0 <= tempo <= 400.0:
        raise ValueError(f"--tempo {tempo}: expected 10..400 quarter notes per minute")
    return save_daw_midi(notes_to_score(notes, tempo), output_file(path))


def score_notes(score) -> np.ndarray:
    """Every non-drum note of a `symusic.Score`, in seconds, as notes [N, 4]."""
    seconds = score.to("second")
    rows = [
        (n.time, n.time + n.duration, n.pitch, n.velocity)
        for track in seconds.tracks
        if not track.is_drum
        for n in track.notes
    ]
    return sorted_notes(rows)


def midi_file_notes(path: str | Path) -> np.ndarray:
    """Every non-drum note of a MIDI file, in seconds, as notes [N, 4]."""
    from symusic import Score

    return score_notes(Score(str(path)))
