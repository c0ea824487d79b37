"""The file-writing VAE commands: sample, interpolate and vary, each -> one MIDI per melody."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.generation.settings import Sampling
from symbolic.vae.attributes import apply_attributes, load_attributes, parse_attribute_shifts
from symbolic.vae.files import write_midis
from symbolic.vae.latent import interpolate_latents
from symbolic.vae.run import VAERun, decode_latents


def check_sampling(num: int, seed: int, temperature: float = 0.0) -> None:
    """The checks of `symbolic generate`'s values (`Sampling`): num >= 1, a seed jax takes,
    a finite temperature >= 0 (0 greedy); a one-line ValueError, not a NaN melody or an
    OverflowError."""
    Sampling(num=num, temperature=temperature, seed=seed)


def _with_attributes(run: VAERun, z: np.ndarray, specs: list[str]) -> np.ndarray:
    """z [N, Z] shifted by `--attribute NAME=AMOUNT` specs (vectors computed on first use)."""
    shifts = parse_attribute_shifts(list(specs))
    return apply_attributes(z, load_attributes(run), shifts) if shifts else z


def sample_command(
    run: VAERun,
    num: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    temperature: float = 0.0,
    attributes: list[str] = (),
    render: bool = False,
) -> list[Path]:
    """`num` melodies decoded from z ~ N(0, I), optionally shifted along attribute vectors."""
    check_sampling(num, seed, temperature)
    z = _with_attributes(run, run.prior(num, seed), attributes)
    events = decode_latents(run, z, seed=seed, temperature=temperature)
    return write_midis(events, out_dir, "sample", render=render)


def interpolate_command(
    run: VAERun,
    a: str | Path,
    b: str | Path,
    steps: int,
    out_dir: str | Path,
    *,
    method: str = "slerp",
    segment: int = 0,
    render: bool = False,
) -> list[Path]:
    """One MIDI per step from segment `segment` of A to that of B (ends included)."""
    za, zb = run.latent_of(a, segment), run.latent_of(b, segment)
    events = decode_latents(run, interpolate_latents(za, zb, steps, method))
    return write_midis(events, out_dir, "interp", render=render)


def vary_command(
    run: VAERun,
    path: str | Path,
    amount: float,
    num: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    segment: int = 0,
    attributes: list[str] = (),
    render: bool = False,
) -> list[Path]:
    """`num` variations of one segment of IN: z = mu + amount * N(0, I) (+ attribute shifts)."""
    check_sampling(num, seed)
    mu = run.latent_of(path, segment)
    noise = np.random.default_rng(seed).standard_normal((num, len(mu)))
    z = _with_attributes(run, mu[None, :] + amount * noise, attributes)
    return write_midis(decode_latents(run, z, seed=seed), out_dir, "vary", render=render)
