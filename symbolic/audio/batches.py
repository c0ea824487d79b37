"""Batches of an `audio prepare` folder for the transcriber: windows of feature frames with
their frame labels. Train windows are random (a function of seed and step, so a resumed run sees
the same batches); eval windows tile each piece once, padded and masked. Never imports jax.

A batch: {"inputs": [B, T, F] float32 features, "onsets"/"frames"/"offsets": [B, T, K] float32
0/1, "velocities": [B, T, K] float32 in [0, 1] (at onset frames), "mask": [B, T] float32}.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.audio.dataset import LABELS

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class AudioSplit:
    """One split of an audio folder, its big arrays memory-mapped."""

    features: np.ndarray  # [frames, F] float16
    labels: np.ndarray  # [frames, 4, K] uint8
    index: np.ndarray  # [pieces + 1] int64
    notes: np.ndarray  # [N, 5] float64: piece, onset, offset, pitch, velocity

    @property
    def num_pieces(self) -> int:
        return len(self.index) - 1

    def piece_notes(self, piece: int) -> np.ndarray:
        """Reference notes [N, 4] of one piece."""
        return self.notes[self.notes[:, 0] == piece, 1:]


def load_audio_split(data_dir: str | Path, split: str) -> AudioSplit:
    data_dir = Path(data_dir)
    path = data_dir / f"{split}_features.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{data_dir}: no split {split!r}; run `symbolic audio prepare`")
    return AudioSplit(
        features=np.load(path, mmap_mode="r"),
        labels=np.load(data_dir / f"{split}_labels.npy", mmap_mode="r"),
        index=np.load(data_dir / f"{split}_index.npy"),
        notes=np.load(data_dir / f"{split}_notes.npy"),
    )


def _batch(features: list[np.ndarray], labels: list[np.ndarray], length: int) -> Batch:
    """Stack windows (each at most `length` frames), zero-padded and masked."""
    rows = len(features)
    num_bins, num_keys = features[0].shape[1], labels[0].shape[2]
    inputs = np.zeros((rows, length, num_bins), np.float32)
    targets = np.zeros((rows, length, len(LABELS), num_keys), np.float32)
    mask = np.zeros((rows, length), np.float32)
    for i, (feats, labs) in enumerate(zip(features, labels, strict=True)):
        inputs[i, : len(feats)] = feats
        targets[i, : len(labs)] = labs
        mask[i, : len(feats)] = 1.0
    targets[:, :, 3] /= 127.0
    out = {name: targets[:, :, i] for i, name in enumerate(LABELS)}
    return {"inputs": inputs, **out, "mask": mask}


def train_batch(split: AudioSplit, batch_size: int, length: int, seed: int, step: int) -> Batch:
    """`batch_size` random windows of `length` frames (a window never spans two pieces; a piece
    shorter than `length` is padded)."""
    rng = np.random.default_rng([seed, step])
    sizes = np.diff(split.index)
    pieces = rng.choice(len(sizes), size=batch_size, p=sizes / sizes.sum())
    features, labels = [], []
    for piece in pieces:
        start, size = split.index[piece], sizes[piece]
        offset = start + int(rng.integers(0, max(1, size - length + 1)))
        stop = min(offset + length, start + size)
        features.append(split.features[offset:stop])
        labels.append(split.labels[offset:stop])
    return _batch(features, labels, length)


def eval_batches(
    split: AudioSplit, batch_size: int, length: int, max_windows: int = 0
) -> Iterator[Batch]:
    """Every frame of the split once, in windows of `length` frames (the last of each piece
    padded), `batch_size` windows a batch (the last batch padded with empty rows);
    `max_windows` > 0 stops after that many windows."""
    windows = [
        (int(s), int(min(s + length, stop)))
        for start, stop in zip(split.index[:-1], split.index[1:], strict=True)
        for s in range(int(start), int(stop), length)
    ]
    if max_windows > 0:
        windows = windows[:max_windows]
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        features = [split.features[a:b] for a, b in chunk]
        labels = [split.labels[a:b] for a, b in chunk]
        while len(features) < batch_size:
            features.append(features[0][:0])
            labels.append(labels[0][:0])
        yield _batch(features, labels, length)
