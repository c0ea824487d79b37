"""Count-based reference models, so a neural model's NLL has something honest to beat."""

from __future__ import annotations

import numpy as np


def unigram_nll(train_tokens: np.ndarray, eval_targets: np.ndarray, vocab_size: int) -> float:
    """Mean NLL (nats/token) of `eval_targets` [N] under add-one-smoothed train frequencies."""
    counts = np.bincount(np.asarray(train_tokens), minlength=vocab_size).astype(np.float64) + 1.0
    log_probs = np.log(counts / counts.sum())
    return float(-log_probs[np.asarray(eval_targets)].mean())
