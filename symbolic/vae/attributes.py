"""Attribute vectors (MusicVAE section 5.3): directions in latent space along which a measured
property of the melody (note density, mean pitch, syncopation) grows, saved beside the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.data import segments as seg
from symbolic.vae.files import write_midis
from symbolic.vae.run import VAERun, decode_latents, encode_segments

ATTRIBUTES_FILE = "attributes.npz"


def attribute_values(events: np.ndarray) -> dict[str, np.ndarray]:
    """Measured attributes of events [N, T]: density (note onsets per 16th step), mean pitch
    (MIDI, NaN for silent rows), syncopation (fraction of onsets off the quarter-note beat)."""
    events = np.asarray(events)
    onsets = events >= seg.FIRST_PITCH
    count = onsets.sum(axis=1)
    pitch = np.where(onsets, events - seg.FIRST_PITCH, 0).sum(axis=1)
    off_beat = (onsets & (np.arange(events.shape[1]) % seg.STEPS_PER_QUARTER != 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "density": count / events.shape[1],
            "mean_pitch": np.where(count > 0, pitch / np.maximum(count, 1), np.nan),
            "syncopation": np.where(count > 0, off_beat / np.maximum(count, 1), 0.0),
        }


ATTRIBUTE_NAMES = ("density", "mean_pitch", "syncopation")


def attribute_vector(mu: np.ndarray, values: np.ndarray) -> np.ndarray:
    """MusicVAE's attribute vector: mean latent of the top quartile of `values` minus that of the
    bottom quartile. mu [N, Z], values [N] -> [Z]."""
    ok = np.isfinite(values)
    mu, values = mu[ok], values[ok]
    low, high = np.quantile(values, [0.25, 0.75])
    top, bottom = mu[values >= high], mu[values <= low]
    if len(top) == 0 or len(bottom) == 0 or high == low:
        raise ValueError("the attribute does not vary over these segments")
    return top.mean(axis=0) - bottom.mean(axis=0)


def compute_attributes(
    run: VAERun, data_dir: str | Path | None = None, max_segments: int = 4096
) -> dict[str, np.ndarray]:
    """Attribute vectors over (up to `max_segments` of) the run's training segments, saved as
    RUN_DIR/attributes.npz {name: [Z]}."""
    data_dir = data_dir or run.meta.data_dir
    if data_dir is None:
        raise ValueError("the run's meta.json names no data_dir; pass --data SEGMENTS_DIR")
    segments = seg.load_segments(data_dir, "train")["segments"][:max_segments]
    mu = encode_segments(run, segments)
    values = attribute_values(segments)
    vectors = {name: attribute_vector(mu, values[name]) for name in ATTRIBUTE_NAMES}
    np.savez(run.run_dir / ATTRIBUTES_FILE, **vectors)
    return vectors


def attribute_examples(
    run: VAERun,
    vectors: dict[str, np.ndarray],
    out_dir: str | Path,
    amounts: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    *,
    render: bool = False,
) -> list[Path]:
    """To hear what a vector does: the prior mean moved by each of `amounts` times each vector,
    decoded; OUT_DIR/{name}_{i:03d}.mid is `amounts[i]` (+ WAV if render)."""
    paths = []
    for name, vector in vectors.items():
        z = np.asarray(amounts, np.float32)[:, None] * vector[None, :]
        paths += write_midis(decode_latents(run, z), out_dir, name, render=render)
    return paths


def load_attributes(run: VAERun) -> dict[str, np.ndarray]:
    """RUN_DIR/attributes.npz, computed first if missing."""
    path = run.run_dir / ATTRIBUTES_FILE
    if not path.is_file():
        return compute_attributes(run)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def parse_attribute_shifts(specs: list[str]) -> dict[str, float]:
    """["density=+1.5", "mean_pitch=-1"] -> {"density": 1.5, "mean_pitch": -1.0}."""
    out = {}
    for spec in specs:
        name, sep, amount = spec.partition("=")
        if not sep or name not in ATTRIBUTE_NAMES:
            raise ValueError(f"--attribute {spec}: expected NAME=AMOUNT, NAME in {ATTRIBUTE_NAMES}")
        out[name] = float(amount)
    return out


def apply_attributes(z: np.ndarray, vectors: dict[str, np.ndarray], shifts: dict[str, float]):
    """z [N, Z] moved by amount * vector for each requested attribute."""
    for name, amount in shifts.items():
        z = z + amount * vectors[name][None, :]
    return z.astype(np.float32)
