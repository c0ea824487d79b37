"""Token- and frame-level losses returned as sums plus a denominator, so that means are taken on
the host over exactly the unmasked positions (eval batches are partly padding)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def token_nll_sums(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """logits [B, T, V] float32, targets [B, T] int32, mask [B, T] float32 ->
    {"nll_sum", "correct_sum", "token_count"} scalars (nats).

    One pass over the logits: NLL = logsumexp - the target's logit, both taken from the logits
    shifted by their maximum, and the target is the argmax exactly when its shifted logit is 0,
    so accuracy needs no separate argmax (a tie for the maximum counts as right). No [B, T, V]
    one-hot is built; the gradient scatters into the target positions."""
    shifted = logits.astype(jnp.float32)
    shifted = shifted - jax.lax.stop_gradient(jnp.max(shifted, axis=-1, keepdims=True))
    target = jnp.take_along_axis(shifted, targets[..., None], axis=-1)[..., 0]
    nll = jnp.log(jnp.sum(jnp.exp(shifted), axis=-1)) - target
    return {
        "nll_sum": jnp.sum(nll * mask),
        "correct_sum": jnp.sum((target >= 0.0) * mask),
        "token_count": jnp.sum(mask),
    }


def mean_metrics(sums: dict[str, float]) -> dict[str, float]:
    """Host-side means from accumulated sums: nll (nats/token), accuracy, token count."""
    count = max(float(sums["token_count"]), 1.0)
    return {
        "nll": float(sums["nll_sum"]) / count,
        "accuracy": float(sums["correct_sum"]) / count,
        "tokens": float(sums["token_count"]),
        **_segment_means(sums),
        **_transcription_means(sums),
    }


def _transcription_means(sums: dict[str, float]) -> dict[str, float]:
    """A transcriber's onset and frame NLL per frame and velocity error per onset; {} else."""
    if "onset_count" not in sums:
        return {}
    frames = max(float(sums["token_count"]), 1.0)
    return {
        "onset_nll": float(sums["onset_nll_sum"]) / frames,
        "frame_nll": float(sums["frame_nll_sum"]) / frames,
        "velocity_mse": float(sums["velocity_sum"]) / max(float(sums["onset_count"]), 1.0),
    }


def _segment_means(sums: dict[str, float]) -> dict[str, float]:
    """Per-segment means of a VAE's sums (KL nats per segment, exact copies); {} for LMs."""
    if "segment_count" not in sums:
        return {}
    segments = max(float(sums["segment_count"]), 1.0)
    return {
        "kl": float(sums["kl_sum"]) / segments,
        "segment_accuracy": float(sums["segment_correct_sum"]) / segments,
        "segments": float(sums["segment_count"]),
    }


def kl_beta(step: jax.Array, beta: float, rate: float) -> jax.Array:
    """MusicVAE's KL annealing: beta * (1 - rate ** step), rising from 0 towards `beta`."""
    return beta * (1.0 - jnp.power(rate, step.astype(jnp.float32)))


def elbo_sums(
    logits: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    mu: jax.Array,
    logvar: jax.Array,
    free_bits: float,
) -> dict[str, jax.Array]:
    """Reconstruction sums (as `token_nll_sums`) plus KL over the segments with any unmasked step:
    logits [B, T, V], targets [B, T] int32, mask [B, T], mu/logvar [B, Z] -> scalars
    {..., "kl_sum", "kl_penalty_sum" (KL above `free_bits` nats), "segment_count",
    "segment_correct_sum" (segments reproduced exactly)}."""
    sums = token_nll_sums(logits, targets, mask)
    rows = jnp.max(mask, axis=-1)  # [B]
    kl = 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)
    correct = (jnp.argmax(logits, axis=-1) == targets) | (mask == 0)
    return {
        **sums,
        "kl_sum": jnp.sum(kl * rows),
        "kl_penalty_sum": jnp.sum(jnp.maximum(kl - free_bits, 0.0) * rows),
        "segment_count": jnp.sum(rows),
        "segment_correct_sum": jnp.sum(jnp.all(correct, axis=-1) * rows),
    }


def lm_objective(model, params, batch: dict, *, step, rng, train: bool):
    """Next-token cross-entropy: (mean nats per unmasked token, sums)."""
    logits = model.apply({"params": params}, batch["inputs"], train=train, rngs={"dropout": rng})
    sums = token_nll_sums(logits, batch["targets"], batch["mask"])
    return sums["nll_sum"] / jnp.maximum(sums["token_count"], 1.0), sums


def elbo_objective(model, params, batch: dict, *, step, rng, train: bool):
    """MusicVAE's loss per segment: reconstruction NLL + beta(step) * max(KL - free bits, 0).
    The batch's targets are the segments [B, T] int32 (inputs are the same segments)."""
    cfg = model.config
    latent_rng, dropout_rng = jax.random.split(rng)
    logits, mu, logvar = model.apply(
        {"params": params},
        batch["targets"],
        train=train,
        rngs={"latent": latent_rng, "dropout": dropout_rng},
    )
    sums = elbo_sums(logits, batch["targets"], batch["mask"], mu, logvar, cfg.free_bits)
    beta = kl_beta(step, cfg.kl_beta, cfg.kl_anneal_rate)
    loss = (sums["nll_sum"] + beta * sums["kl_penalty_sum"]) / jnp.maximum(
        sums["segment_count"], 1.0
    )
    return loss, {**sums, "beta": beta}


def frame_nll_sums(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Piano-roll frames: logits, targets [B, T, K] (targets 0/1 float32), mask [B, T] float32 ->
    {"nll_sum" (the K Bernoulli NLLs of each frame, summed), "correct_sum" (frames whose every
    key is right), "token_count" (frames)} scalars, so `mean_metrics` gives nats per frame."""
    per_frame = optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1)  # [B, T]
    correct = jnp.all((logits > 0) == (targets > 0.5), axis=-1).astype(jnp.float32)
    return {
        "nll_sum": jnp.sum(per_frame * mask),
        "correct_sum": jnp.sum(correct * mask),
        "token_count": jnp.sum(mask),
    }


def frame_objective(model, params, batch: dict, *, step, rng, train: bool):
    """Next-frame multi-label NLL: inputs, targets [B, T, K] float32 rolls (targets = the frames
    after the inputs) -> (mean nats per unmasked frame, sums)."""
    logits = model.apply({"params": params}, batch["inputs"], train=train, rngs={"dropout": rng})
    sums = frame_nll_sums(logits, batch["targets"], batch["mask"])
    return sums["nll_sum"] / jnp.maximum(sums["token_count"], 1.0), sums


def transcription_sums(logits: dict, batch: dict) -> dict[str, jax.Array]:
    """Onsets and Frames' loss as sums: logits {onsets, frames, offsets, velocities} and batch
    targets of the same names [B, T, K] float32, mask [B, T] -> {"nll_sum" (per frame, the onset,
    frame and offset Bernoulli NLLs summed over keys, plus the velocity squared error at the
    onsets), "correct_sum" (frames whose every key's frame prediction is right), "token_count"
    (frames), "onset_nll_sum", "frame_nll_sum", "velocity_sum", "onset_count"} scalars."""
    mask = batch["mask"]
    bce = {
        name: optax.sigmoid_binary_cross_entropy(logits[name], batch[name]).sum(-1) * mask
        for name in ("onsets", "frames", "offsets")
    }
    onsets = batch["onsets"] * mask[..., None]
    # O&F's velocity loss: squared error on the frames where a note starts, in [0, 1] units.
    velocity = jnp.sum(onsets * (jax.nn.sigmoid(logits["velocities"]) - batch["velocities"]) ** 2)
    right = jnp.all((logits["frames"] > 0) == (batch["frames"] > 0.5), axis=-1)
    total = bce["onsets"] + bce["frames"] + bce["offsets"]
    return {
        "nll_sum": jnp.sum(total),
        "correct_sum": jnp.sum(right.astype(jnp.float32) * mask),
        "token_count": jnp.sum(mask),
        "onset_nll_sum": jnp.sum(bce["onsets"]),
        "frame_nll_sum": jnp.sum(bce["frames"]),
        "velocity_sum": velocity,
        "onset_count": jnp.sum(onsets),
    }


def transcription_objective(model, params, batch: dict, *, step, rng, train: bool):
    """The transcriber's loss: per-frame onset + frame + offset NLL (summed over keys) plus the
    velocity error per onset, each a mean over its unmasked frames / onsets. Valid NLL (early
    stopping) is the three NLLs per frame."""
    logits = model.apply({"params": params}, batch["inputs"], train=train, rngs={"dropout": rng})
    sums = transcription_sums(logits, batch)
    frames = jnp.maximum(sums["token_count"], 1.0)
    loss = sums["nll_sum"] / frames + sums["velocity_sum"] / jnp.maximum(sums["onset_count"], 1.0)
    return loss, sums


# Training objectives by name; `symbolic.models.objective(model_name)` picks one per model, and a
# model outside the registry (the chorale benchmark's frame LSTM) names its own.
OBJECTIVES = {
    "lm": lm_objective,
    "elbo": elbo_objective,
    "frames": frame_objective,
    "transcription": transcription_objective,
}
