"""Audio in, log-mel features out: loading any file librosa reads (resampled, mixed to mono) and
the log-mel spectrogram the transcriber reads. All DSP is librosa's; this module only fixes the
parameters and names the file in every error. Never imports jax.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FEATURE_KIND = "log_mel"


@dataclass(frozen=True)
class FeatureParams:
    """Log-mel parameters (Onsets and Frames: 16 kHz, 229 mel bins; a 20 ms hop here, so that
    a frame is well inside the ±50 ms onset tolerance)."""

    sample_rate: int = 16000
    hop_length: int = 320
    n_fft: int = 2048
    n_mels: int = 229
    fmin: float = 30.0
    fmax: float = 8000.0
    kind: str = FEATURE_KIND

    def __post_init__(self) -> None:
        for name in ("sample_rate", "hop_length", "n_fft", "n_mels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"FeatureParams.{name} must be an integer >= 1")
        if self.kind != FEATURE_KIND:
            raise ValueError(f"FeatureParams.kind must be {FEATURE_KIND!r}, got {self.kind!r}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError("FeatureParams: need 0 <= fmin < fmax <= sample_rate / 2")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

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


def num_frames(num_samples: int, params: FeatureParams) -> int:
    """How many frames `log_mel` gives for `num_samples` samples."""
    return 1 + num_samples // params.hop_length
