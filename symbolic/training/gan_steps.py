"""Pure WGAN-GP steps for the piano-roll GAN (`symbolic.models.gan`), jitted by `compile_gan`.

One train step is `n_critic` critic updates and one generator update (Gulrajani et al. 2017,
as MuseGAN trains), each critic update on its own real phrases. Every random draw (latents,
the given track and whether it is dropped, the gradient penalty's mixing weights) comes in the
batch, drawn on the host from (seed, step) by `symbolic.training.sources.PhraseData`: a resumed
run sees the same draws, and the step's result does not depend on how many devices share it.

The state is the engine's `TrainState` with two of everything: params and opt_state are
{"generator": ..., "discriminator": ...}, so Orbax saves both networks and both Adam states in
one checkpoint. The step's metrics carry `log`: the critic and generator losses, the Wasserstein
estimate, the penalty, and EB / QN / PP of the binarised generated batch (for training curves).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from symbolic.data.meta import PhrasesMeta
from symbolic.models.gan import GANConfig, MuseGAN
from symbolic.training import parallel
from symbolic.training.config import RunConfig, TrainConfig
from symbolic.training.optim import learning_rate_schedule
from symbolic.training.state import TrainState

G, D = "generator", "discriminator"


def make_optimizers(config: GANConfig, tcfg: TrainConfig) -> dict:
    """Adam with MuseGAN's betas (0.5, 0.9), one per network, on the engine's schedule (warmup,
    cosine decay to min_lr_ratio: the rate the log records); the critic's scaled by
    d_learning_rate_ratio."""
    schedule = learning_rate_schedule(tcfg)
    ratio = config.d_learning_rate_ratio
    return {
        G: optax.adam(schedule, b1=0.5, b2=0.9),
        D: optax.adam(lambda step: schedule(step) * ratio, b1=0.5, b2=0.9),
    }


def example_inputs(config: GANConfig, batch: int = 1) -> tuple:
    """Zeros shaped like the generator's inputs (latents, given roll, its track, present)."""
    from symbolic.models.gan import latent_shapes

    z = {k: jnp.zeros(s) for k, s in latent_shapes(config, batch).items()}
    given = jnp.zeros((batch, config.steps, config.pitches))
    return z, given, jnp.zeros((batch,), jnp.int32), jnp.ones((batch,))


def init_gan_state(model: MuseGAN, txs: dict, seed: int) -> TrainState:
    """Both networks' parameters from `seed` and both optimizer states (pure: jit it)."""
    params = model.init(jax.random.PRNGKey(seed), *example_inputs(model.config))["params"]
    opt = {name: txs[name].init(params[name]) for name in (G, D)}
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=opt)


def _generate(model: MuseGAN, params: dict, z: dict, given, track, present) -> jax.Array:
    return model.apply({"params": params}, z, given, track, present, method=MuseGAN.generate)


def _critic(model: MuseGAN, params: dict, rolls: jax.Array) -> jax.Array:
    return model.apply({"params": params}, rolls, method=MuseGAN.critic)


def _given(real: jax.Array, track: jax.Array) -> jax.Array:
    """The given track of each phrase: real [B, tracks, S, P], track [B] -> [B, S, P]."""
    return jnp.take_along_axis(real, track[:, None, None, None], axis=1)[:, 0]


def critic_loss(d_params, g_params, model: MuseGAN, real, z, track, present, eps):
    """WGAN-GP critic loss on one batch of real phrases [B, tracks, S, P]; -> (loss, parts)."""
    cfg = model.config
    fake = _generate(model, {G: g_params}, z, _given(real, track), track, present)
    fake = jax.lax.stop_gradient(fake)
    d = functools.partial(_critic, model)
    real_score, fake_score = d({D: d_params}, real), d({D: d_params}, fake)
    mix = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake

    def score_sum(x):
        return d({D: d_params}, x).sum()

    grads = jax.grad(score_sum)(mix)
    norms = jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3)) + 1e-12)
    penalty = jnp.mean((norms - 1.0) ** 2)
    w_dist = real_score.mean() - fake_score.mean()
    return -w_dist + cfg.gp_weight * penalty, {"w_dist": w_dist, "gp": penalty}


def generator_loss(g_params, d_params, model: MuseGAN, real, z, track, present):
    """-E[critic(G(z))]; -> (loss, the generated rolls)."""
    fake = _generate(model, {G: g_params}, z, _given(real, track), track, present)
    return -_critic(model, {D: d_params}, fake).mean(), fake


def roll_stats(fake: jax.Array, weight: jax.Array, steps_per_bar: int) -> dict:
    """EB, QN and PP (as `symbolic.music.pianoroll_metrics` defines them) of rolls
    [B, tracks, S, P] binarised at 0.5, rows weighted by `weight` [B] (the unconditioned ones)."""
    hard = fake > 0.5
    b, t, s, p = hard.shape
    w = weight / jnp.maximum(weight.sum(), 1.0)
    bars = hard.reshape(b, t, s // steps_per_bar, steps_per_bar, p).any(axis=(3, 4))
    eb = jnp.sum((1.0 - bars.mean(axis=(1, 2))) * w)
    prev = jnp.pad(hard, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]
    nxt = jnp.pad(hard, ((0, 0), (0, 0), (0, 1), (0, 0)))[:, :, 1:]
    onsets = (hard & ~prev).sum(axis=(1, 2, 3))
    short = (hard & ~prev & ~nxt).sum(axis=(1, 2, 3))  # notes one step long
    qn = 1.0 - jnp.sum(short * w) / jnp.maximum(jnp.sum(onsets * w), 1.0)
    poly = (hard.sum(axis=3) > 2).mean(axis=(1, 2))
    return {"eb": eb, "qn": qn, "pp": jnp.sum(poly * w)}


def gan_train_step(state: TrainState, batch: dict, *, model: MuseGAN, txs: dict) -> tuple:
    """`n_critic` critic updates, then one generator update. batch: real [B, K, tracks, S, P]
    (uint8 or bool), z_d {name: [B, K, ...]}, z_g {name: [B, ...]}, track [B, K + 1] int32,
    present [B, K + 1] float32, eps [B, K] float32 (K = n_critic)."""
    real_all = batch["real"].astype(jnp.float32)
    k_axis = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731 - [B, K, ...] -> [K, B, ...]
    xs = (
        k_axis(real_all),
        {name: k_axis(batch[f"zd_{name}"]) for name in _latent_names(batch)},
        k_axis(batch["track"][:, :-1]),
        k_axis(batch["present"][:, :-1]),
        k_axis(batch["eps"]),
    )
    g_params = state.params[G]

    def critic_update(carry, x):
        d_params, d_opt = carry
        real, z, track, present, eps = x
        (loss, parts), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            d_params, g_params, model, real, z, track, present, eps
        )
        updates, d_opt = txs[D].update(grads, d_opt, d_params)
        return (optax.apply_updates(d_params, updates), d_opt), (loss, parts, grads)

    (d_params, d_opt), (d_losses, parts, d_grads) = jax.lax.scan(
        critic_update, (state.params[D], state.opt_state[D]), xs
    )
    z_g = {name: batch[f"zg_{name}"] for name in _latent_names(batch)}
    track, present = batch["track"][:, -1], batch["present"][:, -1]
    (g_loss, fake), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g_params, d_params, model, real_all[:, 0], z_g, track, present
    )
    updates, g_opt = txs[G].update(g_grads, state.opt_state[G], g_params)
    params = {G: optax.apply_updates(g_params, updates), D: d_params}
    last_d_grads = jax.tree.map(lambda g: g[-1], d_grads)
    stats = roll_stats(fake, 1.0 - present, model.config.steps_per_bar)
    log = {"d_loss": d_losses[-1], "g_loss": g_loss, "w_dist": parts["w_dist"][-1]}
    log |= {"gp": parts["gp"][-1], **stats}
    metrics = {
        "loss": d_losses[-1],
        "grad_norm": optax.tree.norm({G: g_grads, D: last_d_grads}),
        "log": log,
    }
    new_state = state.replace(step=state.step + 1, params=params, opt_state={G: g_opt, D: d_opt})
    return new_state, metrics


def _latent_names(batch: dict) -> tuple[str, ...]:
    return tuple(sorted(key[3:] for key in batch if key.startswith("zd_")))


def with_phrase_shape(config: RunConfig, meta: PhrasesMeta) -> RunConfig:
    """The config with the GAN shaped like the phrases folder's rolls (tracks, bars, steps,
    pitches); train.seq_len becomes the phrase's steps, so the log's tokens_per_s counts steps."""
    model = dataclasses.replace(
        config.model,
        tracks=len(meta.tracks),
        bars=meta.bars,
        steps_per_bar=meta.beats_per_bar * meta.steps_per_beat,
        steps_per_beat=meta.steps_per_beat,
        pitches=meta.pitches,
    )
    train = dataclasses.replace(config.train, seq_len=meta.phrase_steps)
    return dataclasses.replace(config, model=model, train=train)


def no_evaluation(params, batch):
    """A GAN has no likelihood to validate: its source has no eval batches (`validates`)."""
    raise ValueError("a GAN run has no validation loss; score it with `symbolic gan sample`")


OBJECTIVE = "gan"  # the registry's objective for the GAN: this module's step, not a loss


def compile_gan(config: RunConfig, devices=None) -> tuple:
    """(init, train, mesh): the GAN's init and train step jitted over a data-parallel mesh of
    `devices` (default: all), parameters replicated and the batch split along its first axis."""
    model = MuseGAN(config.model)
    txs = make_optimizers(config.model, config.train)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.train.batch_size, mesh)
    rep, data = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    init = functools.partial(init_gan_state, model, txs, config.train.seed)
    init = jax.jit(init, out_shardings=rep)
    train = jax.jit(
        functools.partial(gan_train_step, model=model, txs=txs),
        in_shardings=(rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
    )
    return init, train, mesh
