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
    rng = jax.random.fold_in(jax.random.PRNGKey(seed), state.step)

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
