"""The training state: a plain pytree, so Orbax saves and restores it as is."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct


@struct.dataclass
class TrainState:
    step: jax.Array  # [] int32
    params: Any
    opt_state: Any


def init_state(
    model: nn.Module, tx: optax.GradientTransformation, seed: int, batch_size: int, seq_len: int
) -> TrainState:
    """Initialise parameters from `seed` and the optimizer state (pure: jit it with shardings)."""
    dummy = jnp.zeros((batch_size, seq_len), jnp.int32)
    params = model.init(jax.random.PRNGKey(seed), dummy)["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))
