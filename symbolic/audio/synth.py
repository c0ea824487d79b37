"""Rendering notes to mono audio for training pairs, through `symbolic.output.render` (the one
FluidSynth path): a `Variant` says how one copy of a work sounds (GM program, velocity scale,
tempo factor, reverb, noise), and `render_variant` gives its audio and the notes it plays, so
targets are exact by construction. Never imports jax.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mido
import numpy as np

from symbolic.audio.notes import merge_unisons, sorted_notes
from symbolic.output import render as render_lib

# GM programs (0-based) the train split is rendered with, and others held out for the
# benchmark's unseen-programs set. Twenty-one timbres from every family that plays chorales or
# pop parts (keyboards, organs, guitars, bowed strings, voices, brass, reeds, flutes, a pad): a
# small acoustic model learns pitch apart from timbre only from many timbres (trained on eight,
# its frame recall on unseen programs was 0.40; on these 21, 0.63).
SEEN_PROGRAMS = (
    *(0, 1, 4, 16, 19, 21),  # pianos, e-piano, drawbar and church organ, accordion
    *(24, 25, 46, 40, 48),  # nylon and steel guitar, harp, violin, string ensemble
    *(52, 53, 56, 61),  # choir aahs, voice oohs, trumpet, brass section
    *(65, 70, 71, 73, 74, 89),  # alto sax, bassoon, clarinet, flute, recorder, warm pad
)
UNSEEN_PROGRAMS = (6, 11, 42, 68)  # harpsichord, vibraphone, cello, oboe
TICKS_PER_SECOND = 960  # mido at 480 ticks per quarter and 120 bpm


@dataclass(frozen=True)
class Variant:
    """How one rendered copy of a work sounds."""

    program: int = 0
    velocity_scale: float = 1.0
    tempo: float = 1.0  # > 1 plays faster
    reverb: bool = True
    noise_db: float | None = None  # white noise this many dB below the signal's RMS; None: none

    def to_json(self) -> dict:
        return asdict(self)


def random_variant(rng: np.random.Generator, programs: tuple[int, ...]) -> Variant:
    """One train-split augmentation: a program from `programs`, velocities scaled by 0.6..1.3,
    tempo 0.85..1.15, reverb on half the time, noise 30..50 dB below the signal half the time."""
    return Variant(
        program=int(rng.choice(programs)),
        velocity_scale=float(rng.uniform(0.6, 1.3)),
        tempo=float(rng.uniform(0.85, 1.15)),
        reverb=bool(rng.random() < 0.5),
        noise_db=float(rng.uniform(30.0, 50.0)) if rng.random() < 0.5 else None,
    )


def variant_notes(notes: np.ndarray, variant: Variant, rng: np.random.Generator) -> np.ndarray:
    """The notes a variant plays: times divided by the tempo factor, velocities scaled (with a
    +-8 jitter per note, so the velocity head sees more than one level per piece), unisons
    merged as one channel plays them."""
    out = sorted_notes(notes).copy()
    out[:, :2] /= variant.tempo
    jitter = rng.integers(-8, 9, size=len(out))
    out[:, 3] = np.clip(np.round(out[:, 3] * variant.velocity_scale) + jitter, 1, 127)
    return merge_unisons(out)


def write_notes_mido(notes: np.ndarray, path: Path, program: int) -> None:
    """Notes as a one-channel MIDI file at 120 bpm, so ticks map to seconds exactly."""
    events = [(0, 1, mido.Message("program_change", program=program, channel=0))]
    for onset, offset, pitch, velocity in notes:
        on, off = round(onset * TICKS_PER_SECOND), round(offset * TICKS_PER_SECOND)
        events.append((on, 2, mido.Message("note_on", note=int(pitch), velocity=int(velocity))))
        events.append((max(off, on + 1), 0, mido.Message("note_off", note=int(pitch))))
    track, now = mido.MidiTrack(), 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):  # note-offs first
        track.append(msg.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def render_notes(
    notes: np.ndarray,
    variant: Variant,
    sample_rate: int,
    soundfont: Path | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Notes (already the variant's) -> float32 mono audio [samples], through FluidSynth."""
    with tempfile.TemporaryDirectory(prefix="symbolic-audio-") as tmp:
        midi, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        write_notes_mido(notes, midi, variant.program)
        render_lib.render(
            midi, wav, sample_rate=sample_rate, reverb=variant.reverb, soundfont=soundfont
        )
        audio, _ = render_lib.read_wav(wav)
    mono = audio.mean(axis=1).astype(np.float32)
    if variant.noise_db is not None:
        rms = float(np.sqrt(np.mean(mono**2))) or 1e-4
        noise = rng.standard_normal(mono.size).astype(np.float32)
        mono = mono + noise * rms * 10.0 ** (-variant.noise_db / 20.0)
    return mono
