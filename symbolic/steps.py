"""Pure train and eval steps; the trainer jits them once, with shardings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from symbolic.losses import token_nll_sums
from symbolic.state import TrainState


def train_step(
    state: TrainState, batch: dict, *, model: nn.Module, tx: optax.GradientTransformation, seed: int
) -> tuple[TrainState, dict]:
    """One AdamW step on batch {inputs, targets [B, T] int32, mask [B, T] float32}."""
    dropout_rng = jax.random.fold_in(jax.random.PRNGKey(seed), state.step)

    def loss_fn(params):
        logits = model.apply(
            {"params": params}, batch["inputs"], train=True, rngs={"dropout": dropout_rng}
        )
        sums = token_nll_sums(logits, batch["targets"], batch["mask"])
        return sums["nll_sum"] / jnp.maximum(sums["token_count"], 1.0), sums

    (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {**sums, "loss": loss, "grad_norm": optax.tree.norm(grads)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(params, batch: dict, *, model: nn.Module) -> dict:
    """NLL and accuracy sums over the unmasked tokens of one batch."""
    logits = model.apply({"params": params}, batch["inputs"], train=False)
    return token_nll_sums(logits, batch["targets"], batch["mask"])
