"""A MuseGAN-style multi-track piano-roll GAN (Dong et al., AAAI 2018), "hybrid" form.

Generator: four latents per phrase, each `latent_dim` wide: a shared time-independent latent,
a shared temporal latent (turned into one latent per bar by a temporal generator), and per
track a private time-independent and a private temporal latent (its own temporal generator).
Each bar of each track is decoded from [shared, shared_t[bar], private[track],
private_t[track, bar]] by a bar generator of transposed convolutions (matmuls, as every
kernel equals its stride): a trunk shared by the tracks, then private layers per track; time
is upsampled 2x per layer and the last layer spreads each octave cell over its 12 pitches
(MuseGAN's time / pitch factorisation). With `smooth` that last layer is a time convolution
(against the blocky, flickering output of stride-2 upsampling, which breaks notes into
one-step fragments). With `harmony` a chroma per beat is drawn from the shared inputs and read
by every track's pitch output. With `shared_latent=False` (the ablation) the two shared
latents are zeroed.

Conditioning (MuseGAN's track-conditional mode, made optional): a given track's roll, encoded
bar by bar, and a one-hot of which track it is are added to every bar's input (with
`given_frames` also the given roll and its chroma step by step, beside the features of the
pitch output, so the other tracks can follow its harmony); `present` 0 drops it, and training
drops it at random, so one generator samples from scratch and accompanies a given track.

Discriminator (a WGAN critic, no normalisation, for the gradient penalty): tracks as channels
over (time in bar, pitch), plus BinaryMuseGAN's onset stream (positive time differences) and a
chroma stream (pitch classes per beat), each reduced per bar, then across bars to one score.

Shapes: rolls are [B, tracks, bars * steps_per_bar, pitches] float32 in [0, 1]. Imports only
jax, flax and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import linen as nn

from symbolic.models import checks

LATENTS = ("shared", "shared_t", "private", "private_t")


@dataclass(frozen=True)
class GANConfig:
    """The GAN's shape (tracks, bars, steps_per_bar, pitches and steps_per_beat are filled
    from the phrases folder by the trainer) and its WGAN-GP training knobs."""

    tracks: int = 4
    bars: int = 4
    steps_per_bar: int = 48
    steps_per_beat: int = 12
    pitches: int = 84
    latent_dim: int = 32
    g_channels: int = 64
    d_channels: int = 32
    shared_latent: bool = True  # False: the "no shared latent" ablation
    condition: bool = True  # a given track input, dropped at random while training
    condition_rate: float = 0.5  # the share of training phrases that get a given track
    streams: bool = True  # the discriminator's onset and chroma streams
    binarize: str = "none"  # "ste": the generator's output binarised, straight-through
    smooth: int = 0  # > 0: each track's pitch output is a time convolution this wide
    given_frames: bool = False  # the given roll and its chroma, step by step, at the output
    harmony: bool = False  # a chroma per beat from the shared inputs, read by every track
    n_critic: int = 5  # critic updates per generator update
    gp_weight: float = 10.0
    d_learning_rate_ratio: float = 1.0  # the critic's learning rate / train.learning_rate

    def __post_init__(self) -> None:
        checks.at_least(self, 1, "tracks", "bars", "steps_per_bar", "steps_per_beat")
        checks.at_least(self, 1, "pitches", "latent_dim", "g_channels", "d_channels", "n_critic")
        checks.at_least(self, 0, "smooth")
        checks.in_range(self, "condition_rate", 0.0, 1.0)
        checks.positive(self, "d_learning_rate_ratio")
        checks.in_range(self, "gp_weight", 0.0, 1e6)
        if self.binarize not in ("none", "ste"):
            raise ValueError(f"GANConfig.binarize must be 'none' or 'ste', got {self.binarize!r}")
        if self.steps_per_bar % self.steps_per_beat:
            raise ValueError("GANConfig.steps_per_bar must be a multiple of steps_per_beat")

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar

    @property
    def upsamples(self) -> int:
        """Time doublings of the bar generator (at most 4, as the bar length allows)."""
        n, length = 0, self.steps_per_bar
        while n < 4 and length % 2 == 0:
            n, length = n + 1, length // 2
        return n


def latent_shapes(config: GANConfig, batch: int) -> dict[str, tuple[int, ...]]:
    """The shape of each latent for `batch` phrases (drawn N(0, I) by the caller)."""
    z, t = config.latent_dim, config.tracks
    return {"shared": (batch, z), "shared_t": (batch, z), "private": (batch, t, z)} | {
        "private_t": (batch, t, z)
    }


def up_time(x: jax.Array, features: int, name: str) -> jax.Array:
    """A transposed convolution of kernel = stride = 2 along time, as one matmul (faster than
    XLA:CPU's convolution): [N, S, O, C] -> [N, 2S, O, features]."""
    n, s, o, _ = x.shape
    y = nn.Dense(2 * features, name=name)(x).reshape(n, s, o, 2, features)
    return y.transpose(0, 1, 3, 2, 4).reshape(n, 2 * s, o, features)


def down_time(x: jax.Array, k: int, features: int, name: str) -> jax.Array:
    """A convolution of kernel = stride = k along time (axis 1), as one matmul:
    [N, S, ..., C] -> [N, S // k, ..., features]."""
    n, s, *rest, c = x.shape
    y = x.reshape(n, s // k, k, *rest, c)
    y = jnp.moveaxis(y, 2, -2).reshape(n, s // k, *rest, k * c)
    return nn.Dense(features, name=name)(y)


def octave_cells(x: jax.Array) -> jax.Array:
    """[N, S, P, C] (P whole octaves) -> [N, S, P // 12, 12 * C]: each octave's 12 pitches as
    features, for a pitch convolution of kernel = stride = 12 as one matmul."""
    n, s, p, c = x.shape
    return x.reshape(n, s, p // 12, 12 * c)


class TemporalGenerator(nn.Module):
    """[N, Z] -> [N, bars, Z]: one latent per bar, so that the bars of a phrase hang together."""

    bars: int
    dim: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = nn.relu(nn.Dense(self.dim * self.bars)(z)).reshape(*z.shape[:-1], self.bars, -1)
        return nn.Dense(self.dim)(h)


class GivenEncoder(nn.Module):
    """A given track's roll [B, S, P] -> one feature per bar [B, bars, F]."""

    config: GANConfig

    @nn.compact
    def __call__(self, roll: jax.Array) -> jax.Array:
        cfg = self.config
        x = octave_cells(_octaves(roll.reshape(-1, cfg.steps_per_bar, cfg.pitches)[..., None]))
        x = nn.leaky_relu(nn.Dense(16, name="pitch")(x), 0.2)
        x = nn.leaky_relu(down_time(x, cfg.steps_per_beat, 32, "beats"), 0.2)
        x = nn.Dense(cfg.latent_dim)(x.reshape(x.shape[0], -1))
        return x.reshape(roll.shape[0], cfg.bars, -1)


def _octaves(x: jax.Array) -> jax.Array:
    """[..., S, P, C] padded with silent pitches to whole octaves."""
    pad = -x.shape[-2] % 12
    return jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, pad), (0, 0)]) if pad else x


class Generator(nn.Module):
    """latents (`latent_shapes`) + a given track -> rolls [B, tracks, steps, pitches] in [0, 1].

    `given` [B, S, P] float, `given_track` [B] int32, `present` [B] float (1: use the given
    track). The given track's own output is not replaced here: the caller puts the given roll
    in its place (`compose`)."""

    config: GANConfig

    @nn.compact
    def __call__(self, z: dict, given=None, given_track=None, present=None) -> jax.Array:
        cfg = self.config
        batch = z["shared"].shape[0]
        scale = 1.0 if cfg.shared_latent else 0.0  # the ablation keeps the shapes, not the input
        shared = jnp.broadcast_to(
            z["shared"][:, None, None] * scale, (batch, cfg.tracks, cfg.bars, cfg.latent_dim)
        )
        shared_t = TemporalGenerator(cfg.bars, cfg.latent_dim, name="temporal_shared")(
            z["shared_t"] * scale
        )[:, None]
        private = jnp.broadcast_to(z["private"][:, :, None], shared.shape)
        private_t = TemporalGenerator(cfg.bars, cfg.latent_dim, name="temporal_private")(
            z["private_t"]
        )
        parts = [shared, jnp.broadcast_to(shared_t, shared.shape), private, private_t]
        frames, common = None, [shared[:, 0], shared_t[:, 0]]  # the shared inputs, per bar
        if cfg.condition:
            given, given_track, present = _given_or_none(cfg, batch, given, given_track, present)
            given_feats = self._given_features(given, given_track, present, batch)
            parts.append(given_feats)
            common.append(given_feats[:, 0])
            if cfg.given_frames:
                frames = given * present[:, None, None]
        h = jnp.concatenate(parts, axis=-1)  # [B, tracks, bars, F]
        plan = self._harmony(jnp.concatenate(common, -1)) if cfg.harmony else None
        bars = self._bars(h, frames, plan)
        return bars.reshape(batch, cfg.tracks, cfg.steps, cfg.pitches)

    def _given_features(self, given, given_track, present, batch: int) -> jax.Array:
        cfg = self.config
        feats = GivenEncoder(cfg, name="given_encoder")(given) * present[:, None, None]
        which = jax.nn.one_hot(given_track, cfg.tracks) * present[:, None]
        feats = jnp.concatenate(
            [feats, jnp.broadcast_to(which[:, None], (batch, cfg.bars, cfg.tracks))], -1
        )
        return jnp.broadcast_to(feats[:, None], (batch, cfg.tracks, *feats.shape[1:]))

    def _harmony(self, common: jax.Array) -> jax.Array:
        """The shared inputs of each bar [B, bars, F] -> a chroma per step [B * bars,
        steps_per_bar, 1, 12] in [0, 1], one per beat, that every track's output reads: the
        tracks then share their harmony, as the voices of a chorale do."""
        cfg = self.config
        beats = cfg.steps_per_bar // cfg.steps_per_beat
        h = nn.relu(nn.Dense(4 * cfg.latent_dim, name="harmony_in")(common))
        plan = jax.nn.sigmoid(nn.Dense(beats * 12, name="harmony_out")(h))
        return jnp.repeat(plan.reshape(-1, beats, 1, 12), cfg.steps_per_beat, axis=1)

    def _bars(self, h: jax.Array, frames, plan) -> jax.Array:
        """[B, tracks, bars, F] (+ the given roll [B, S, P] and the harmony plan, or None) ->
        bars [B, tracks, bars, steps_per_bar, pitches]."""
        cfg = self.config
        batch = h.shape[0]
        ups, octaves, c = cfg.upsamples, -(-cfg.pitches // 12), cfg.g_channels
        start = cfg.steps_per_bar // 2**ups
        x = nn.relu(nn.Dense(start * octaves * c, name="trunk_in")(h))
        x = x.reshape(-1, start, octaves, c)  # rows: (batch, track, bar)
        shared_layers = ups // 2
        for i in range(shared_layers):
            c = max(c // 2, 8)
            x = nn.relu(up_time(x, c, f"trunk_up{i}"))
        x = x.reshape(batch, cfg.tracks, cfg.bars, *x.shape[1:])
        given_cells = None if frames is None else _frame_features(frames, cfg)
        ys = [x[:, t].reshape(batch * cfg.bars, *x.shape[3:]) for t in range(cfg.tracks)]
        ct = c
        for i in range(shared_layers, ups):  # private layers per track
            ct = max(ct // 2, 8)
            ys = [nn.relu(up_time(y, ct, f"t{t}_up{i}")) for t, y in enumerate(ys)]
        out = [self._pitch_output(y, t, given_cells, plan) for t, y in enumerate(ys)]
        return jax.nn.sigmoid(jnp.stack(out, axis=1))

    def _pitch_output(self, y: jax.Array, track: int, given_cells, plan) -> jax.Array:
        """One track's features [B * bars, steps_per_bar, octaves, C] (+ the given track's
        `_frame_features` and the harmony plan) -> logits [B, bars, steps_per_bar, pitches]."""
        cfg = self.config
        if given_cells is not None:
            y = jnp.concatenate([y, given_cells], -1)
        if plan is not None:
            y = jnp.concatenate([y, jnp.broadcast_to(plan, (*y.shape[:3], 12))], -1)
        if cfg.smooth:
            # the pitch output as a time convolution (linear: an extra ReLU here let whole
            # tracks die), so that neighbouring steps agree and notes hold
            y = nn.Conv(12, (cfg.smooth, 1), name=f"t{track}_pitch")(y)
        else:
            y = nn.Dense(12, name=f"t{track}_pitch")(y)  # each octave cell -> 12 pitches
        return y.reshape(-1, cfg.bars, cfg.steps_per_bar, y.shape[2] * 12)[..., : cfg.pitches]


def _given_or_none(cfg: GANConfig, batch: int, given, given_track, present) -> tuple:
    """The given track's inputs, zeros (absent) when sampling from scratch."""
    if given is not None:
        return given, given_track, present
    zeros = jnp.zeros((batch, cfg.steps, cfg.pitches))
    return zeros, jnp.zeros((batch,), jnp.int32), jnp.zeros((batch,))


def _frame_features(frames: jax.Array, cfg: GANConfig) -> jax.Array:
    """The given roll [B, S, P] as per-step features of every bar and octave cell
    [B * bars, steps_per_bar, octaves, 24]: its 12 pitches in that octave and its chroma."""
    cells = octave_cells(_octaves(frames[..., None]))  # [B, S, O, 12]
    chroma = jnp.broadcast_to(cells.sum(2, keepdims=True).clip(0, 1), cells.shape)
    feats = jnp.concatenate([cells, chroma], -1)
    return feats.reshape(-1, cfg.steps_per_bar, *feats.shape[2:])


def binarize_ste(probs: jax.Array) -> jax.Array:
    """BinaryMuseGAN's deterministic binary neurons: forward 1[p > 0.5], backward identity."""
    hard = (probs > 0.5).astype(probs.dtype)
    return probs + jax.lax.stop_gradient(hard - probs)


def compose(fake: jax.Array, given, given_track, present) -> jax.Array:
    """The generated rolls with the given track put back in its place where `present`."""
    if given is None:
        return fake
    mask = jax.nn.one_hot(given_track, fake.shape[1]) * present[:, None]  # [B, tracks]
    mask = mask[:, :, None, None]
    return fake * (1 - mask) + given[:, None] * mask


class Discriminator(nn.Module):
    """A WGAN critic: rolls [B, tracks, steps, pitches] -> scores [B] float32."""

    config: GANConfig

    @nn.compact
    def __call__(self, rolls: jax.Array) -> jax.Array:
        cfg, c = self.config, self.config.d_channels
        batch = rolls.shape[0]
        bars = rolls.reshape(batch, cfg.tracks, cfg.bars, cfg.steps_per_bar, cfg.pitches)
        bars = bars.transpose(0, 2, 3, 4, 1).reshape(-1, cfg.steps_per_bar, cfg.pitches, cfg.tracks)
        feats = [self._main(_octaves(bars), c)]
        if cfg.streams:
            feats += [self._onsets(bars, c), self._chroma(bars, c)]
        h = jnp.concatenate(feats, -1).reshape(batch, -1)  # the bars side by side
        h = nn.leaky_relu(nn.Dense(4 * c, name="across_bars")(h), 0.2)
        return nn.Dense(1, name="score")(h)[:, 0]

    def _main(self, x: jax.Array, c: int) -> jax.Array:
        act = lambda y: nn.leaky_relu(y, 0.2)  # noqa: E731
        beat = self.config.steps_per_beat
        k = max(beat // 4, 1)
        x = act(down_time(octave_cells(x), k, c, "pitch_in"))  # [N, S / k, octaves, c]
        x = act(down_time(x, beat // k, 2 * c, "time_b"))  # one cell per beat and octave
        x = act(nn.Dense(2 * c, name="octaves")(x.reshape(*x.shape[:2], -1)))
        return act(nn.Dense(2 * c, name="main_out")(x.reshape(x.shape[0], -1)))

    def _onsets(self, x: jax.Array, c: int) -> jax.Array:
        """Positive time differences summed over pitch: where notes start, per track."""
        diff = jnp.maximum(x - jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1], 0.0)
        y = diff.sum(axis=2)  # [N, steps_per_bar, tracks]
        beat = self.config.steps_per_beat
        y = nn.leaky_relu(down_time(y, max(beat // 4, 1), c, "onset_a"), 0.2)
        return nn.leaky_relu(nn.Dense(c, name="onset_out")(y.reshape(y.shape[0], -1)), 0.2)

    def _chroma(self, x: jax.Array, c: int) -> jax.Array:
        """Pitch classes per beat and track."""
        cfg = self.config
        octv = _octaves(x)
        chroma = octv.reshape(octv.shape[0], cfg.steps_per_bar, -1, 12, cfg.tracks).sum(2)
        beats = chroma.reshape(chroma.shape[0], -1, cfg.steps_per_beat, 12, cfg.tracks).mean(2)
        y = beats.reshape(*beats.shape[:2], -1)  # [N, beats, 12 * tracks]
        y = nn.leaky_relu(nn.Dense(c, name="chroma_a")(y), 0.2)
        return nn.leaky_relu(nn.Dense(c, name="chroma_out")(y.reshape(y.shape[0], -1)), 0.2)


class MuseGAN(nn.Module):
    """The registry's module: `generator` and `discriminator` under one parameter tree
    ({"generator": ..., "discriminator": ...}); calling it generates and scores (for init)."""

    config: GANConfig

    def setup(self) -> None:
        self.generator = Generator(self.config)
        self.discriminator = Discriminator(self.config)

    def __call__(self, z: dict, given=None, given_track=None, present=None) -> jax.Array:
        return self.discriminator(self.generate(z, given, given_track, present))

    def generate(self, z: dict, given=None, given_track=None, present=None) -> jax.Array:
        fake = self.generator(z, given, given_track, present)
        if self.config.binarize == "ste":
            fake = binarize_ste(fake)
        return compose(fake, given, given_track, present)

    def critic(self, rolls: jax.Array) -> jax.Array:
        return self.discriminator(rolls)
