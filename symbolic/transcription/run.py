"""`TranscriberRun`: a trained transcriber's parameters plus the feature settings it was trained
on, run over overlapping windows of any length of audio.

The model sees `window` frames at a time; consecutive windows overlap by `2 * context` frames and
only each window's centre is kept, so every kept frame had `context` frames of audio on both
sides (the conv stack and BiLSTMs see past a window's edge poorly). Windows run `batch` at a time
through one jitted function of fixed shape, so memory is bounded by `batch * window` frames
whatever the file's length (a 10-minute file's CQT features are 30,000 x 288 float32, 35 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from symbolic import models
from symbolic.audio import features as features_lib
from symbolic.audio.notes import Thresholds, decode_notes, write_notes_midi
from symbolic.data.meta import AudioMeta
from symbolic.paths import read_json
from symbolic.training import checkpoint
from symbolic.training.config import RunConfig

WINDOW, CONTEXT, BATCH = 512, 32, 4
DECODING_FILE = (
    "decoding.json"  # thresholds tuned on the valid split (`evaluation.tune_thresholds`)
)


@dataclass
class TranscriberRun:
    """A trained transcriber (`load_transcriber`)."""

    run_dir: Path
    config: RunConfig
    params: Any
    meta: AudioMeta
    thresholds: Thresholds = Thresholds()

    def __post_init__(self) -> None:
        self.params_features = features_lib.FeatureParams.from_json(self.meta.features)
        model = models.build(self.config.model_name, self.config.model)
        self._apply = jax.jit(lambda p, x: jax.tree.map(jax.nn.sigmoid, model.apply(p, x)))

    @property
    def fps(self) -> float:
        return self.params_features.frames_per_second

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Mono audio at the run's sample rate -> its features [T, F] float32."""
        return features_lib.compute(audio, self.params_features)

    def activations(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        """Features [T, F] -> {"onsets", "frames", "offsets", "velocities"} [T, K] float32 in
        [0, 1], over overlapping windows (module docstring)."""
        total, hop = len(feats), WINDOW - 2 * CONTEXT
        padded = np.pad(feats, ((CONTEXT, WINDOW), (0, 0)), constant_values=float(feats.min()))
        starts = list(range(0, total, hop))
        out: dict[str, list[np.ndarray]] = {}
        for i in range(0, len(starts), BATCH):
            chunk = starts[i : i + BATCH]
            batch = np.zeros((BATCH, WINDOW, feats.shape[1]), np.float32)
            for row, start in enumerate(chunk):
                batch[row] = padded[start : start + WINDOW]
            probs = jax.device_get(self._apply({"params": self.params}, batch))
            for name, value in probs.items():
                for row in range(len(chunk)):
                    out.setdefault(name, []).append(value[row, CONTEXT : CONTEXT + hop])
        return {name: np.concatenate(parts)[:total] for name, parts in out.items()}

    def notes(self, acts: dict[str, np.ndarray]) -> np.ndarray:
        """Activations -> notes [N, 4] (onset s, offset s, pitch, velocity)."""
        return decode_notes(
            acts["onsets"],
            acts["frames"],
            acts["velocities"],
            self.fps,
            self.thresholds,
            self.meta.lowest_pitch,
        )

    def transcribe_audio(self, audio: np.ndarray) -> np.ndarray:
        """Mono audio at the run's sample rate -> notes [N, 4]."""
        return self.notes(self.activations(self.features(audio)))

    def transcribe(
        self, audio_path: str | Path, out: str | Path, *, tempo: float = 120.0, plot: bool = False
    ) -> tuple[Path, np.ndarray]:
        """Transcribe an audio file (any sample rate, stereo mixed down) to a one-track MIDI
        file at `tempo`; `plot` writes OUT.png (features with the predicted roll over them).
        Returns (MIDI path, notes)."""
        audio = features_lib.load_audio(audio_path, self.params_features.sample_rate)
        feats = self.features(audio)
        acts = self.activations(feats)
        notes = self.notes(acts)
        path = write_notes_midi(notes, out, tempo)
        if plot:
            from symbolic.transcription.plot import plot_transcription

            plot_transcription(
                feats,
                acts["frames"],
                notes,
                self.fps,
                path.with_suffix(".png"),
                self.params_features.kind,
            )
        return path, notes

    def continue_with(
        self, audio_path: str | Path, lm_dir: str | Path, out_dir: str | Path, **settings
    ) -> list[Path]:
        """Transcribe, tokenize and continue the piece with the language model in `lm_dir`
        (`symbolic.load_run(lm_dir).continue_from`); writes OUT_DIR/transcription.mid and
        the continuations OUT_DIR/sample_NNN.mid. `settings` are `Sampling` fields."""
        import symbolic
        from symbolic.paths import output_folder

        out_dir = output_folder(out_dir, create=True)
        midi, notes = self.transcribe(audio_path, out_dir / "transcription.mid")
        if len(notes) == 0:
            raise ValueError(f"{audio_path}: no notes transcribed, nothing to continue")
        lm = symbolic.load_run(lm_dir)
        scores = lm.continue_from(midi, **settings)
        return [midi, *symbolic.write_midi(scores, out_dir)]


def load_transcriber(run_dir: str | Path, which: str = "best") -> TranscriberRun:
    """The transcriber in RUN_DIR, decoding with the thresholds in RUN_DIR/decoding.json when
    `tune_thresholds` wrote one (else 0.5); a run of another model is a one-line error."""
    config, params, meta = checkpoint.load_run(Path(run_dir), which)
    if config.model_name != "transcriber" or not isinstance(meta, AudioMeta):
        raise ValueError(f"{run_dir}: a {config.model_name!r} run, not a transcriber")
    thresholds = Thresholds()
    if (Path(run_dir) / DECODING_FILE).is_file():
        thresholds = Thresholds(**read_json(Path(run_dir) / DECODING_FILE)["thresholds"])
    return TranscriberRun(Path(run_dir), config, params, meta, thresholds)
