"""A loaded GAN run: its generator and critic, and piano-roll phrases from latents, from
scratch, along latent walks and around a given track (accompaniment), optionally the critic's
pick of several draws.

Rolls are bool [N, tracks, steps, pitches], binarised at `threshold` (MuseGAN's hard
thresholding); `scores` turns them into multi-track `symusic.Score`s with one named track per GAN
track (an empty track stays, named), on the phrases' grid (`symbolic.data.phrases`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from symusic import Score

from symbolic.data import phrases as ph
from symbolic.data.meta import PhrasesMeta
from symbolic.data.phrase_sets import grid_of
from symbolic.models.gan import GANConfig, MuseGAN, latent_shapes
from symbolic.training import checkpoint
from symbolic.training.config import RunConfig

CHUNK = 64  # fixed batch for the jitted generator, so varying counts do not recompile
CANDIDATES = 1  # draws a phrase by default: plain sampling, no critic's pick (`best_of`)


@dataclass(frozen=True)
class GANRun:
    """A trained GAN run: its config, parameters and the meta.json of its phrases."""

    run_dir: Path
    config: RunConfig
    params: Any
    meta: PhrasesMeta

    @property
    def model(self) -> GANConfig:
        return self.config.model

    @property
    def grid(self) -> ph.Grid:
        return grid_of(self.meta)

    @property
    def tracks(self) -> tuple[str, ...]:
        return self.meta.tracks

    def latents(self, num: int, seed: int = 0) -> dict[str, np.ndarray]:
        """num draws of every latent ~ N(0, I): {name: [num, ...] float32}."""
        rng = np.random.default_rng(seed)
        return {
            name: rng.standard_normal(shape, np.float32)
            for name, shape in latent_shapes(self.model, num).items()
        }

    def generate(
        self,
        z: dict[str, np.ndarray],
        given: np.ndarray | None = None,
        track: int = 0,
        threshold: float = 0.5,
    ) -> np.ndarray:
        """Latents (`latents`) -> rolls [N, tracks, S, P] bool; with `given` [N, S, P] bool,
        track `track` is that roll, exactly, and the others are generated around it."""
        num = len(next(iter(z.values())))
        out = []
        for start in range(0, num, CHUNK):
            part = {k: _padded(v[start : start + CHUNK]) for k, v in z.items()}
            rows = min(CHUNK, num - start)
            if given is None:
                cond = np.zeros((CHUNK, self.model.steps, self.model.pitches), np.float32)
                present = np.zeros(CHUNK, np.float32)
            else:
                cond = _padded(np.asarray(given[start : start + CHUNK], np.float32))
                present = np.ones(CHUNK, np.float32)
            tracks = np.full(CHUNK, track, np.int32)
            probs = _generate(self.model, self.params, part, cond, tracks, present)
            out.append(np.asarray(probs)[:rows] > threshold)
        return np.concatenate(out) if out else np.zeros((0, *self.roll_shape), bool)

    @property
    def roll_shape(self) -> tuple[int, int, int]:
        return (self.model.tracks, self.model.steps, self.model.pitches)

    def critic(self, rolls: np.ndarray) -> np.ndarray:
        """The run's critic's scores [N] float32 of rolls [N, tracks, S, P] bool: the higher,
        the more real the rolls look to it."""
        out = []
        for start in range(0, len(rolls), CHUNK):
            part = _padded(np.asarray(rolls[start : start + CHUNK], np.float32))
            scores = np.asarray(_critic(self.model, self.params, part))
            out.append(scores[: min(CHUNK, len(rolls) - start)])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def best_of(
        self,
        num: int,
        *,
        seed: int = 0,
        candidates: int = CANDIDATES,
        given: np.ndarray | None = None,
        track: int = 0,
        threshold: float = 0.5,
    ) -> np.ndarray:
        """num rolls [num, tracks, S, P] bool, each the one the critic scores highest of
        `candidates` draws: the greedy, best-of-K form of discriminator rejection sampling
        (Azadi et al. 2019), since the critic judges whole phrases, harmony across tracks
        included, where the generator alone decodes one draw blind. candidates=1 is plain
        sampling from `latents(num, seed)`. With `given` [num, S, P] every draw of a phrase
        is generated around that phrase's given roll (track `track`)."""
        if candidates < 1:
            raise ValueError(f"--candidates {candidates}: draw at least one candidate a phrase")
        z = self.latents(num * candidates, seed)  # phrase i's draws: rows i*K .. i*K + K - 1
        out = []
        for start in range(0, num, CHUNK):  # a block of phrases at a time: bounded memory
            stop = min(num, start + CHUNK)
            part = {k: v[start * candidates : stop * candidates] for k, v in z.items()}
            cond = None if given is None else np.repeat(given[start:stop], candidates, axis=0)
            rolls = self.generate(part, cond, track, threshold)
            if candidates > 1:
                best = self.critic(rolls).reshape(stop - start, candidates).argmax(axis=1)
                rolls = rolls.reshape(stop - start, candidates, *rolls.shape[1:])
                rolls = rolls[np.arange(stop - start), best]
            out.append(rolls)
        return np.concatenate(out) if out else np.zeros((0, *self.roll_shape), bool)

    def sample_rolls(
        self, num: int, *, seed: int = 0, threshold: float = 0.5, candidates: int = CANDIDATES
    ) -> np.ndarray:
        """num phrases from scratch: [num, tracks, S, P] bool (`best_of`)."""
        return self.best_of(num, seed=seed, candidates=candidates, threshold=threshold)

    def sample(
        self, num: int, *, seed: int = 0, threshold: float = 0.5, candidates: int = CANDIDATES
    ) -> list[Score]:
        """num phrases from scratch as multi-track Scores."""
        rolls = self.sample_rolls(num, seed=seed, threshold=threshold, candidates=candidates)
        return self.scores(rolls)

    def interpolate(self, steps: int = 8, *, seed: int = 0, walk: str = "shared") -> np.ndarray:
        """Rolls [steps, ...] along a straight line between two draws of the `walk` latents
        ("shared": the shared ones, the private ones fixed; "private": the reverse)."""
        if steps < 2:
            raise ValueError(f"--steps {steps}: an interpolation needs at least 2 steps")
        if walk not in ("shared", "private"):
            raise ValueError(f"walk must be 'shared' or 'private', got {walk!r}")
        ends = self.latents(2, seed)
        weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)
        z = {}
        for name, value in ends.items():
            if name.startswith(walk):
                shape = (steps,) + (1,) * (value.ndim - 1)
                z[name] = value[0] * (1 - weights.reshape(shape)) + value[1] * weights.reshape(
                    shape
                )
            else:
                z[name] = np.repeat(value[:1], steps, axis=0)
        return self.generate(z)

    def accompany(
        self, source: str | Path, track: str, *, seed: int = 0, candidates: int = CANDIDATES
    ) -> Score:
        """A MIDI file's track named (or numbered) `track`, kept exactly, with the other GAN
        tracks generated around it phrase by phrase (`best_of`): one Score as long as the
        given track."""
        given, index = self.given_phrases(source, track)
        rolls = self.best_of(len(given), seed=seed, candidates=candidates, given=given, track=index)
        return self.score(np.concatenate(list(rolls), axis=1) if len(rolls) else rolls[0:0])

    def given_phrases(self, source: str | Path, track: str) -> tuple[np.ndarray, int]:
        """The `track` of MIDI file `source` cut into phrases: ([N, S, P] bool, the GAN track
        it plays). Its bars come from its meter, as `gan prepare` takes them."""
        path = Path(source)
        index = _track_index(self.tracks, track)
        from symbolic.data.convert import load_score

        score = load_score(path)
        ids = ph.match_tracks(score, (track,))
        grid = self.grid
        bars = ph.work_bars(score, path, grid.beats_per_bar)
        roll, _, outside = ph.track_rolls(score, ids, bars, grid)
        if outside.any():
            raise ValueError(f"{path}: track {track!r} has notes outside the run's pitch range")
        count = -(-roll.shape[1] // grid.steps)
        padded = np.zeros((count * grid.steps, grid.pitches), bool)
        padded[: roll.shape[1]] = roll[0]
        if not padded.any():
            raise ValueError(f"{path}: track {track!r} has no notes to accompany")
        return padded.reshape(count, grid.steps, grid.pitches), index

    def score(self, roll: np.ndarray) -> Score:
        """One roll [tracks, S, P] bool -> a Score with one named track per GAN track."""
        return ph.phrase_score(roll, self.grid, self.tracks, self.meta.programs)

    def scores(self, rolls: np.ndarray) -> list[Score]:
        return [self.score(roll) for roll in rolls]


def _track_index(tracks: tuple[str, ...], track: str) -> int:
    key = track.strip().lower()
    names = [t.lower() for t in tracks]
    if key in names:
        return names.index(key)
    if key.isdigit() and int(key) < len(tracks):
        return int(key)
    raise ValueError(f"--track {track!r}: this run's tracks are {list(tracks)}")


def _padded(x: np.ndarray) -> np.ndarray:
    """x [n, ...] padded with zero rows to CHUNK rows."""
    out = np.zeros((CHUNK, *x.shape[1:]), x.dtype)
    out[: len(x)] = x
    return out


@functools.partial(jax.jit, static_argnums=0)
def _generate(config: GANConfig, params, z, given, tracks, present) -> jax.Array:
    model = MuseGAN(config)
    z = {k: jnp.asarray(v) for k, v in z.items()}
    return model.apply({"params": params}, z, given, tracks, present, method=MuseGAN.generate)


@functools.partial(jax.jit, static_argnums=0)
def _critic(config: GANConfig, params, rolls) -> jax.Array:
    return MuseGAN(config).apply({"params": params}, rolls, method=MuseGAN.critic)


def load_gan(run_dir: str | Path) -> GANRun:
    """The GAN run in RUN_DIR (its latest checkpoint: a GAN keeps no "best")."""
    run_dir = Path(run_dir)
    config_path = run_dir / checkpoint.CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {checkpoint.CONFIG_FILE})")
    config, params, meta = checkpoint.load_run(run_dir, "latest")
    if config.model_name != "gan" or not isinstance(meta, PhrasesMeta):
        raise ValueError(f"{run_dir}: is a {config.model_name!r} run, not a GAN run")
    return GANRun(run_dir, config, params, meta)
