"""Audio in, features out: loading any file librosa reads (resampled, mixed to mono) and the
time-frequency picture the transcriber reads, a log-mel spectrogram or a log constant-Q
transform (`FeatureParams.kind`). All DSP is librosa's; this module only fixes the parameters
and names the file in every error. Never imports jax.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FEATURE_KINDS = ("log_mel", "cqt")
A0_HZ = 27.5  # the piano's lowest key, MIDI pitch 21


@dataclass(frozen=True)
class FeatureParams:
    """Feature parameters. Both kinds share the sample rate and a 20 ms hop, so that a frame is
    well inside the ±50 ms onset tolerance. The CQT is the default: on unseen programs it
    transcribed better than the log-mel at equal training (benchmarks/transcription/notes.md).

    ``log_mel`` (Onsets and Frames: 16 kHz, 229 mel bins) reads ``n_fft``, ``n_mels``,
    ``fmin`` and ``fmax``. ``cqt`` (as basic-pitch) reads ``bins_per_octave`` and ``n_bins``: its
    bins are log-spaced, so a semitone is as many bins at the bass as at the treble (the mel
    scale gives a 100 Hz bass note about one bin), and its lowest bin sits a third of a
    semitone below A0 (`cqt_fmin`)."""

    sample_rate: int = 16000
    hop_length: int = 320
    n_fft: int = 2048
    n_mels: int = 229
    fmin: float = 30.0
    fmax: float = 8000.0
    kind: str = "cqt"
    bins_per_octave: int = 36
    n_bins: int = 288

    def __post_init__(self) -> None:
        for name in ("sample_rate", "hop_length", "n_fft", "n_mels", "bins_per_octave", "n_bins"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"FeatureParams.{name} must be an integer >= 1")
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"FeatureParams.kind must be in {FEATURE_KINDS}, got {self.kind!r}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError("FeatureParams: need 0 <= fmin < fmax <= sample_rate / 2")
        if self.kind == "cqt":
            top = self.cqt_fmin * 2 ** ((self.n_bins - 1) / self.bins_per_octave)
            if top >= self.sample_rate / 2:
                raise ValueError(
                    f"FeatureParams: the top CQT bin ({top:.0f} Hz) must lie below the Nyquist "
                    f"frequency ({self.sample_rate / 2:.0f} Hz); use fewer n_bins"
                )

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def num_bins(self) -> int:
        """Feature bins per frame: the model's input width."""
        return self.n_mels if self.kind == "log_mel" else self.n_bins

    @property
    def cqt_fmin(self) -> float:
        """The lowest CQT bin's centre: bin 1 is A0 when a semitone has 3 bins."""
        return A0_HZ * 2 ** (-1 / self.bins_per_octave)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FeatureParams:
        return cls(**data)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Any audio file librosa reads (WAV, FLAC, OGG, MP3, ...) -> float32 mono [samples] at
    `sample_rate` (resampled by librosa, channels averaged). A missing, empty, corrupt or
    non-audio file is a one-line ValueError/FileNotFoundError naming it."""
    import librosa

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, not audio")
    try:
        with warnings.catch_warnings():  # librosa warns as it falls back to audioread
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=sample_rate, mono=True)
    except Exception as err:  # soundfile, audioread and their backends raise their own types
        detail = " ".join(str(err).split())[:120] or type(err).__name__
        raise ValueError(f"{path}: not a readable audio file ({detail})") from None
    if audio.size == 0:
        raise ValueError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: holds non-finite samples (corrupt audio)")
    return audio.astype(np.float32)


def compute(audio: np.ndarray, params: FeatureParams) -> np.ndarray:
    """float32 mono [samples] -> features [frames, params.num_bins] float32, of `params.kind`."""
    return log_mel(audio, params) if params.kind == "log_mel" else log_cqt(audio, params)


def log_mel(audio: np.ndarray, params: FeatureParams) -> np.ndarray:
    """float32 mono [samples] -> log-mel [frames, n_mels] float32 (natural log of power + 1e-6).
    Frame t is centred on sample t * hop_length (librosa's center=True)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
    )
    return np.log(mel.T + 1e-6).astype(np.float32)


def log_cqt(audio: np.ndarray, params: FeatureParams) -> np.ndarray:
    """float32 mono [samples] -> log constant-Q power [frames, n_bins] float32 (natural log of
    |CQT|^2 + 1e-6, about the log-mel's range). Frames are centred as in `log_mel`."""
    import librosa

    cqt = librosa.cqt(
        y=audio,
        sr=params.sample_rate,
        hop_length=params.hop_length,
        fmin=params.cqt_fmin,
        n_bins=params.n_bins,
        bins_per_octave=params.bins_per_octave,
    )
    return np.log(np.abs(cqt.T) ** 2 + 1e-6).astype(np.float32)


def num_frames(num_samples: int, params: FeatureParams) -> int:
    """How many frames `compute` gives for `num_samples` samples (either kind)."""
    return 1 + num_samples // params.hop_length
