"""A loaded VAE run: its parameters, and latents to and from melody segments and MIDI files.

Latents are the posterior means mu [N, Z] of bar-aligned melody segments (see
`symbolic.data.segments`); decoding is greedy unless a temperature is given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from symusic import Score

from symbolic.data import segments as seg
from symbolic.data.meta import SegmentsMeta
from symbolic.models import vae
from symbolic.models.vae import VAEConfig
from symbolic.training import checkpoint
from symbolic.training.config import RunConfig
from symbolic.vae.latent import interpolate_latents

CHUNK = 64  # fixed batch for jitted encode/decode, so varying counts do not recompile


@dataclass(frozen=True)
class VAERun:
    """A trained run: its config, parameters and the meta.json of the segments it was trained on."""

    run_dir: Path
    config: RunConfig
    params: Any
    meta: SegmentsMeta

    @property
    def model(self) -> VAEConfig:
        return self.config.model

    def encode(self, source: str | Path | np.ndarray) -> np.ndarray:
        """A MIDI or score file's segments, or segments [N, T] int32 -> mu [N, Z] float32."""
        if isinstance(source, (str, Path)):
            source = file_segments(self, source)[0]
        return encode_segments(self, source)

    def decode(self, z: np.ndarray, *, temperature: float = 0.0, seed: int = 0) -> list[Score]:
        """Latents z [N, Z] -> N one-track melodies (greedy at temperature 0)."""
        return scores(decode_latents(self, z, seed=seed, temperature=temperature))

    def prior(self, num: int, seed: int = 0) -> np.ndarray:
        """num latents z ~ N(0, I): [num, Z] float64."""
        return np.random.default_rng(seed).standard_normal((num, self.model.latent_dim))

    def sample(self, num: int, *, seed: int = 0, temperature: float = 0.0) -> list[Score]:
        """num melodies decoded from the prior (the seed draws the latents and the samples)."""
        return self.decode(self.prior(num, seed), temperature=temperature, seed=seed)

    def interpolate(
        self,
        a: str | Path | np.ndarray,
        b: str | Path | np.ndarray,
        steps: int = 8,
        *,
        method: str = "slerp",
        segment: int = 0,
    ) -> list[Score]:
        """steps melodies from a to b, ends included, decoded greedily. a and b are latents [Z],
        or files whose segment number `segment` is encoded ("slerp" or "lerp" between them)."""
        za, zb = (self.latent_of(x, segment) for x in (a, b))
        return self.decode(interpolate_latents(za, zb, steps, method))

    def latent_of(self, source: str | Path | np.ndarray, segment: int = 0) -> np.ndarray:
        """mu [Z] of segment number `segment` of a file; a latent [Z] is returned as it is."""
        if isinstance(source, (str, Path)):
            return encode_segments(self, file_segments(self, source)[0][segment : segment + 1])[0]
        return np.asarray(source, np.float32)


def load_vae(run_dir: str | Path, which: str = "best") -> VAERun:
    """The VAE run in RUN_DIR (its `which` checkpoint)."""
    config, params, meta = checkpoint.load_run(Path(run_dir), which)
    if config.model_name != "vae":
        raise ValueError(f"{run_dir}: holds a {config.model_name!r} model, not a VAE")
    return VAERun(Path(run_dir), config, params, meta)


@functools.lru_cache(maxsize=8)
def _jitted(config: VAEConfig):
    encode = jax.jit(functools.partial(vae.encode, config))
    sample = jax.jit(functools.partial(vae.sample, config), static_argnames="temperature")
    return encode, sample


def chunks(array: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (padded chunk [CHUNK, ...], number of real rows) over the rows of `array`."""
    for first in range(0, len(array), CHUNK):
        part = array[first : first + CHUNK]
        padded = np.zeros((CHUNK, *array.shape[1:]), array.dtype)
        padded[: len(part)] = part
        yield padded, len(part)


def encode_segments(run: VAERun, segments: np.ndarray) -> np.ndarray:
    """segments [N, T] int32 -> posterior means mu [N, Z] float32."""
    encode, _ = _jitted(run.model)
    out = [np.asarray(encode(run.params, chunk)[0])[:n] for chunk, n in chunks(segments)]
    return np.concatenate(out) if out else np.zeros((0, run.model.latent_dim), np.float32)


def decode_latents(
    run: VAERun, z: np.ndarray, *, seed: int = 0, temperature: float = 0.0
) -> np.ndarray:
    """z [N, Z] -> events [N, T] int32 (greedy at temperature 0)."""
    _, sample = _jitted(run.model)
    out = []
    for i, (chunk, n) in enumerate(chunks(np.asarray(z, np.float32))):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        out.append(np.asarray(sample(run.params, chunk, key, temperature=temperature))[:n])
    return np.concatenate(out) if out else np.zeros((0, run.model.seq_len), np.int32)


def scores(events: np.ndarray) -> list[Score]:
    """One melody Score per row of events [N, T] int32."""
    return [seg.events_to_score(row) for row in events]


def file_segments(run: VAERun, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A MIDI or score file's melody segments as the run's data were cut:
    (segments [N, T] int32, first bars [N] int32); an error if it has none."""
    from symbolic.data.convert import load_score

    score = load_score(path)
    segments, bars = seg.score_segments(score, run.meta.bars, run.meta.melody_program)
    if len(segments) == 0:
        raise ValueError(f"{path}: no 4/4 melody segment with notes to encode")
    return segments, bars
