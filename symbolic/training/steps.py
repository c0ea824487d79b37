"""Pure train and eval steps; the trainer jits them once, with shardings.

The loss is the model's objective (`symbolic.training.losses.OBJECTIVES`, chosen per model by the
registry): `objective(model, params, batch, *, step, rng, train) -> (loss, sums)`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import optax
from flax import linen as nn

from symbolic.training.losses import lm_objective
from symbolic.training.state import TrainState

Objective = Callable[..., tuple[jax.Array, dict]]


# The generator behind the train step's random draws (dropout masks, a VAE's latent noise).
# Measured on the demo Transformer (benchmarks/train_throughput/results.md): XLA's
# RngBitGenerator ("rbg", "unsafe_rbg") draws a mask for 15-20% less CPU than threefry on one
# device, but under a data-parallel Mesh it draws the whole batch's mask on every device, where
# the partitionable threefry draws only each device's shard; bits narrower than 32 cost the same.
STEP_KEY_IMPL = "threefry2x32"


def step_key(seed: int, step: jax.Array) -> jax.Array:
    """The train step's key: a function of (seed, step) only, so a resumed run draws the same."""
    return jax.random.fold_in(jax.random.key(seed, impl=STEP_KEY_IMPL), step)


def train_step(
    state: TrainState,
    batch: dict,
    *,
    model: nn.Module,
    tx: optax.GradientTransformation,
    seed: int,
    objective: Objective = lm_objective,
) -> tuple[TrainState, dict]:
    """One AdamW step on batch {inputs, targets [B, T] int32, mask [B, T] float32}."""
    rng = step_key(seed, state.step)

    def loss_fn(params):
        return objective(model, params, batch, step=state.step, rng=rng, train=True)

    (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {**sums, "loss": loss, "grad_norm": optax.tree.norm(grads)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(
    params, batch: dict, *, model: nn.Module, objective: Objective = lm_objective
) -> dict:
    """The objective's sums (NLL, accuracy, ...) over the unmasked positions of one batch."""
    _, sums = objective(
        model, params, batch, step=jax.numpy.int32(0), rng=jax.random.PRNGKey(0), train=False
    )
    return {k: v for k, v in sums.items() if k != "beta"}
