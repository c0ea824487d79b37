"""MIDI -> WAV with FluidSynth and a General MIDI SoundFont; the only module that runs a synth.

FluidSynth renders to raw 32-bit float, which cannot clip, then the audio is peak-normalised here
(numpy + the stdlib `wave` module) and written as 16-bit PCM, so a dense piece never clips and a
sparse one is not left near silence. Audio whose peak is below `NOISE_FLOOR_DBFS` (a MIDI file
without notes) gets no gain and is written as the silence it is.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.paths import output_file, remove_stale_temps, temp_name, write_atomic

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
RELEASE_S = 2.0  # rendered after the last note-off: the release and the reverb's tail
MAX_SECONDS = 3600.0  # a last note-off later than this is a damaged file, not a piece
CHUNK_FRAMES = 1 << 18  # frames per read and write: memory stays bounded whatever the length
POLL_S = 0.02  # how often the size of FluidSynth's output is checked against the cap


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


def synth_available() -> bool:
    """Whether FluidSynth and a General MIDI SoundFont are installed (`render` needs both)."""
    try:
        find_fluidsynth()
        find_soundfont()
    except RenderError:
        return False
    return True


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


def render_seconds(midi_path: Path, max_seconds: float = MAX_SECONDS) -> float:
    """How long the WAV of MIDI_PATH is: its last note-off plus `RELEASE_S` (FluidSynth plays
    on to the file's last event, which in a damaged or hostile file can lie years later).

    Raises:
        ValueError: the last note ends after `max_seconds`: a file with a note at delta
            0x0FFFFFFF would be rendered for days into gigabytes.
    """
    if not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds must be finite and > 0, got {max_seconds}")
    try:
        score = Score(str(midi_path), ttype="second")
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{midi_path}: not a valid MIDI file ({err})") from None
    last = 0.0
    for track in score.tracks:
        notes = track.notes.numpy()
        if notes["time"].size:
            last = max(last, float(np.max(notes["time"] + notes["duration"])))
    if not last <= max_seconds:
        raise ValueError(
            f"{midi_path}: its last note ends {last:,.0f} s ({last / 3600:,.1f} h) in, past "
            f"the render limit of {max_seconds:,.0f} s; a damaged file, or raise --max-seconds"
        )
    return last + RELEASE_S


def _run_capped(command: list[str], raw_path: Path, max_bytes: int, midi_path: Path) -> None:
    """Run FluidSynth, stopping it once RAW_PATH holds `max_bytes`: it writes to disk as it
    renders, and a file whose events run past its last note would fill the disk."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                if raw_path.is_file() and raw_path.stat().st_size >= max_bytes:
                    process.kill()  # the rest is past the cap: nothing of it is kept
                    process.wait()
                    return
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:  # an exception or a signal here: no orphan synth
                process.kill()
                process.wait()
        if process.returncode != 0 or not raw_path.is_file():
            log.seek(0)
            detail = log.read().strip().splitlines()
            raise RenderError(f"fluidsynth failed on {midi_path}: {detail[-1] if detail else ''}")


def _peak(raw_path: Path, frames: int) -> float:
    """Peak |sample| of the first `frames` stereo frames of a raw float32 file, read in chunks."""
    peak = 0.0
    for chunk in _chunks(raw_path, frames):
        peak = max(peak, float(np.max(np.abs(chunk), initial=0.0)))
    return peak


def _chunks(raw_path: Path, frames: int):
    """The first `frames` frames of a raw float32 stereo file as [n, 2] arrays of CHUNK_FRAMES."""
    with raw_path.open("rb") as f:
        for start in range(0, frames, CHUNK_FRAMES):
            count = min(CHUNK_FRAMES, frames - start)
            data = np.fromfile(f, dtype="<f4", count=count * CHANNELS)
            yield data[: data.size - data.size % CHANNELS].reshape(-1, CHANNELS)


def _write_wav_stream(path: Path, raw_path: Path, frames: int, gain: float, rate: int) -> None:
    """Write `frames` frames of a raw float file, times `gain`, as 16-bit PCM, chunk by chunk."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(2)
        out.setframerate(rate)
        for chunk in _chunks(raw_path, frames):
            pcm = np.round(np.clip(chunk * gain, -1.0, 1.0) * 32767.0).astype("<i2")
            out.writeframes(pcm.tobytes())


def render(
    midi_path: str | Path,
    wav_path: str | Path,
    *,
    sample_rate: int = 44100,
    reverb: bool = True,
    soundfont: str | Path | None = None,
    gain_normalize: bool = True,
    max_seconds: float = MAX_SECONDS,
) -> Path:
    """Render a MIDI file to a 16-bit stereo WAV with FluidSynth; returns wav_path.

    reverb switches FluidSynth's reverb and chorus together. gain_normalize scales the peak to
    -1 dBFS; without it FluidSynth's own gain is kept (and anything beyond full scale clips).
    A file without notes (peak below NOISE_FLOOR_DBFS) gets no gain: its WAV is silence.
    The WAV lasts until the last note-off plus RELEASE_S, however late the file's last event;
    a file whose last note ends after `max_seconds` is a ValueError naming it. FluidSynth's
    output streams through a temp file (removed on every exit; one a killed render left is
    removed by the next) and the WAV is written atomically, chunk by chunk.
    Raises RenderError (one line, with the install command) when fluidsynth or a SoundFont is
    missing (or the font is no .sf2), FileNotFoundError when the MIDI file is, IsADirectoryError
    when wav_path is a folder.
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if not 8000 <= sample_rate <= 96000:  # FluidSynth's range; outside it fails after loading
        raise ValueError(f"sample_rate must be in [8000, 96000] Hz, got {sample_rate}")
    if not midi_path.is_file():
        raise FileNotFoundError(f"{midi_path}: no such MIDI file")
    output_file(wav_path)  # before the render, not after it
    find_fluidsynth()  # before the font: its install hint installs a General MIDI font too
    font = find_soundfont(soundfont)
    frames = math.ceil(render_seconds(midi_path, max_seconds) * sample_rate)
    scratch = Path(tempfile.gettempdir()) / "symbolic-render"
    remove_stale_temps(scratch)  # the raw audio of renders that were killed
    with tempfile.TemporaryDirectory(prefix=temp_name(scratch, "-")) as tmp:
        raw_path = Path(tmp) / "out.raw"
        command = fluidsynth_command(midi_path, raw_path, font, sample_rate, reverb)
        _run_capped(command, raw_path, frames * CHANNELS * 4, midi_path)
        frames = min(frames, raw_path.stat().st_size // (CHANNELS * 4))
        gain = 1.0
        if gain_normalize:
            peak = _peak(raw_path, frames)
            if peak > 10.0 ** (NOISE_FLOOR_DBFS / 20.0):
                gain = 10.0 ** (PEAK_DBFS / 20.0) / peak
        remove_stale_temps(wav_path)
        # atomic: a full disk or a kill leaves the old WAV or none, never a truncated one
        write_atomic(
            wav_path,
            lambda tmp_wav: _write_wav_stream(tmp_wav, raw_path, frames, gain, sample_rate),
        )
    return wav_path
