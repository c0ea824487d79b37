"""MIDI -> WAV with FluidSynth and a General MIDI SoundFont; the only module that runs a synth.

FluidSynth renders to raw 32-bit float, which cannot clip, then the audio is peak-normalised here
(numpy + the stdlib `wave` module) and written as 16-bit PCM, so a dense piece never clips and a
sparse one is not left near silence. Audio whose peak is below `NOISE_FLOOR_DBFS` (a MIDI file
without notes) gets no gain and is written as the silence it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from symbolic.paths import output_file

SOUNDFONT_ENV = "SYMBOLIC_SOUNDFONT"
# Debian/Ubuntu paths of `fluid-soundfont-gm` (FluidR3) and the alternatives' default.
DEFAULT_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
INSTALL_HINT = "install it with `sudo apt-get install fluidsynth fluid-soundfont-gm`"
PEAK_DBFS = -1.0
# Below this peak the audio is no music to normalise: FluidSynth's reverb and chorus ringing on a
# file with no notes leave float residue near -150 dBFS, which peak normalisation used to raise to
# 2 s of noise at -1 dBFS. The quietest note it plays (velocity 1, GM piano) peaks near -107 dBFS,
# so the floor sits between the two; unscaled, audio that quiet rounds to zero in 16-bit PCM.
NOISE_FLOOR_DBFS = -120.0
CHANNELS = 2  # FluidSynth's file renderer writes interleaved stereo


class RenderError(RuntimeError):
    """FluidSynth or a SoundFont is missing, or FluidSynth failed."""


def find_fluidsynth() -> str:
    """Path of the `fluidsynth` executable, or RenderError saying how to install it."""
    path = shutil.which("fluidsynth")
    if path is None:
        raise RenderError(f"fluidsynth not found on PATH; {INSTALL_HINT}")
    return path


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """The SoundFont to use: the argument, else $SYMBOLIC_SOUNDFONT, else the Debian GM paths."""
    explicit = soundfont or os.environ.get(SOUNDFONT_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise RenderError(f"SoundFont {path} does not exist")
        return _checked_soundfont(path)
    for candidate in DEFAULT_SOUNDFONTS:
        if Path(candidate).is_file():  # follows the default-GM.sf2 symlink
            return Path(candidate)
    raise RenderError(
        f"no General MIDI SoundFont found (looked in {', '.join(DEFAULT_SOUNDFONTS)}); "
        f"{INSTALL_HINT}, or set {SOUNDFONT_ENV}=/path/to/font.sf2"
    )


def _checked_soundfont(path: Path) -> Path:
    """`path` if it starts like a SoundFont 2 file (a RIFF chunk of form "sfbk"): FluidSynth
    given anything else warns, falls back to no font or another one, and exits 0."""
    with path.open("rb") as f:
        header = f.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise RenderError(f"{path}: not a SoundFont (.sf2 files start with RIFF....sfbk)")
    return path


def fluidsynth_command(
    midi_path: Path, raw_path: Path, soundfont: Path, sample_rate: int, reverb: bool
) -> list[str]:
    """The FluidSynth command line that renders MIDI to raw little-endian float32 stereo."""
    switch = "1" if reverb else "0"
    return [
        find_fluidsynth(),
        "-ni",
        "-q",
        "-F",
        str(raw_path),
        "-T",
        "raw",
        "-O",
        "float",
        "-E",
        "little",
        "-r",
        str(sample_rate),
        "-R",
        switch,
        "-C",
        switch,
        str(soundfont),
        str(midi_path),
    ]


def peak_normalize(
    audio: np.ndarray, peak_dbfs: float = PEAK_DBFS, floor_dbfs: float = NOISE_FLOOR_DBFS
) -> np.ndarray:
    """Scale float audio [frames, channels] so its peak is `peak_dbfs`; silence stays silence:
    audio whose peak is below `floor_dbfs` (numeric residue, not music) is returned unscaled."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak <= 10.0 ** (floor_dbfs / 20.0):
        return audio
    return audio * (10.0 ** (peak_dbfs / 20.0) / peak)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write float audio [frames, channels] in [-1, 1] as 16-bit PCM (values beyond are clipped)."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(audio.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV -> (float32 audio [frames, channels] in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * f.getsampwidth()}-bit")
        data = np.frombuffer(f.readframes(f.getnframes()), "<i2")
        audio = data.reshape(-1, f.getnchannels()).astype(np.float32) / 32767.0
        return audio, f.getframerate()


def _synthesize(midi_path: Path, soundfont: Path, sample_rate: int, reverb: bool) -> np.ndarray:
    """Run FluidSynth; -> float32 audio [frames, 2]."""
    with tempfile.TemporaryDirectory(prefix="symbolic-render-") as tmp:
        raw_path = Path(tmp) / "out.raw"
        command = fluidsynth_command(midi_path, raw_path, soundfont, sample_rate, reverb)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not raw_path.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise RenderError(f"fluidsynth failed on {midi_path}: {detail[-1] if detail else ''}")
        audio = np.fromfile(raw_path, dtype="<f4")
    return audio[: audio.size - audio.size % CHANNELS].reshape(-1, CHANNELS)


def render(
    midi_path: str | Path,
    wav_path: str | Path,
    *,
    sample_rate: int = 44100,
    reverb: bool = True,
    soundfont: str | Path | None = None,
    gain_normalize: bool = True,
) -> Path:
    """Render a MIDI file to a 16-bit stereo WAV with FluidSynth; returns wav_path.

    reverb switches FluidSynth's reverb and chorus together. gain_normalize scales the peak to
    -1 dBFS; without it FluidSynth's own gain is kept (and anything beyond full scale clips).
    A file without notes (peak below NOISE_FLOOR_DBFS) gets no gain: its WAV is silence.
    Raises RenderError (one line, with the install command) when fluidsynth or a SoundFont is
    missing (or the font is no .sf2), FileNotFoundError when the MIDI file is, IsADirectoryError
    when wav_path is a folder.
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if not midi_path.is_file():
        raise FileNotFoundError(f"{midi_path}: no such MIDI file")
    output_file(wav_path)  # before the render, not after it
    find_fluidsynth()  # before the font: its install hint installs a General MIDI font too
    font = find_soundfont(soundfont)
    audio = _synthesize(midi_path, font, sample_rate, reverb)
    if gain_normalize:
        audio = peak_normalize(audio)
    write_wav(wav_path, audio, sample_rate)
    return wav_path
