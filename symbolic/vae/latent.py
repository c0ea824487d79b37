"""Paths through the latent space (numpy only): spherical and linear interpolation."""

from __future__ import annotations

import numpy as np


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latents a, b [Z] (lerp when they are parallel)."""
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate_latents(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp"):
    """[steps, Z] float32 from a to b [Z] inclusive; method "slerp" or "lerp"."""
    if method not in ("slerp", "lerp"):
        raise ValueError(f"interpolation method {method!r}: choose slerp or lerp")
    ts = np.linspace(0.0, 1.0, steps)
    if method == "lerp":
        return np.stack([(1 - t) * a + t * b for t in ts]).astype(np.float32)
    return np.stack([slerp(a, b, t) for t in ts]).astype(np.float32)
