"""`transcribe --plot`: the features (log-mel or log-CQT) with the predicted piano roll and
notes over them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_transcription(
    feats: np.ndarray,
    frames: np.ndarray,
    notes: np.ndarray,
    fps: float,
    out: str | Path,
    feature_kind: str = "log_mel",
) -> Path:
    """feats [T, F] of `feature_kind`, frames [T, K] activations, notes [N, 4] -> a two-panel
    PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = len(feats) / fps
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    top.imshow(feats.T, origin="lower", aspect="auto", extent=(0, seconds, 0, feats.shape[1]))
    name = {"log_mel": "log-mel", "cqt": "log-CQT"}[feature_kind]
    top.set_ylabel(f"{name} bin")
    top.set_title(f"{name} features")
    bottom.imshow(
        frames.T,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        extent=(0, seconds, 21, 21 + frames.shape[1]),
        vmin=0,
        vmax=1,
    )
    for onset, offset, pitch, _ in notes:
        bottom.plot([onset, offset], [pitch + 0.5] * 2, color="tab:red", linewidth=1.5)
    bottom.set_ylabel("MIDI pitch")
    bottom.set_xlabel("seconds")
    bottom.set_title("frame activations (grey) and decoded notes (red)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
