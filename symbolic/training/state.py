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
    model: nn.Module, tx: optax.GradientTransformation, seed: int, example: jax.ShapeDtypeStruct
) -> TrainState:
    """Initialise parameters from `seed` on zeros shaped like `example` (one model input, e.g.
    [1, T] int32 token ids) and the optimizer state (pure: jit it with shardings)."""
    dummy = jnp.zeros(example.shape, example.dtype)
    params = model.init(jax.random.PRNGKey(seed), dummy)["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))
