"""Stacked LSTM language model.

Each layer computes its input projection for the whole sequence in one matmul and scans only the
recurrent part, the same split cuDNN and torch.nn.LSTM make; the same parameters serve full-sequence
training and one-token incremental decoding (a sequence of length 1 with a carried state).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import linen as nn

from symbolic.models import checks

Carry = tuple[jax.Array, jax.Array]  # (h, c), each [B, H]


@dataclass(frozen=True)
class LSTMConfig:
    """Stacked LSTM language model."""

    vocab_size: int = 0
    embed_dim: int = 256
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        checks.at_least(self, 0, "vocab_size")  # 0 until the data fills it in
        checks.at_least(self, 1, "embed_dim", "hidden_size", "num_layers")
        checks.in_range(self, "dropout", 0.0, 1.0, high_open=True)
        checks.one_of(self, "dtype", checks.DTYPES)


def _forget_bias_init(key, shape, dtype=jnp.float32):
    """Bias [4H] with the forget gate at 1, so early training does not forget everything."""
    hidden = shape[0] // 4
    return jnp.zeros(shape, dtype).at[hidden : 2 * hidden].set(1.0)


class LSTMLayer(nn.Module):
    hidden_size: int
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jax.Array, carry: Carry) -> tuple[jax.Array, Carry]:
        """x [B, T, E], carry (h, c) [B, H] -> (outputs [B, T, H], final carry)."""
        hidden = self.hidden_size
        w_in = self.param("w_in", nn.initializers.lecun_normal(), (x.shape[-1], 4 * hidden))
        w_rec = self.param("w_rec", nn.initializers.orthogonal(), (hidden, 4 * hidden))
        bias = self.param("bias", _forget_bias_init, (4 * hidden,))
        gates_in = (x.astype(self.dtype) @ w_in.astype(self.dtype)).astype(jnp.float32) + bias

        def step(state: Carry, gate_in: jax.Array) -> tuple[Carry, jax.Array]:
            h, c = state
            z = gate_in + (h.astype(self.dtype) @ w_rec.astype(self.dtype)).astype(jnp.float32)
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        carry, outputs = jax.lax.scan(step, carry, jnp.swapaxes(gates_in, 0, 1))
        return jnp.swapaxes(outputs, 0, 1), carry


class LSTMLM(nn.Module):
    """tokens [B, T] int32 (+ optional carries) -> logits [B, T, vocab] float32 (+ carries)."""

    config: LSTMConfig

    @nn.compact
    def __call__(
        self,
        tokens: jax.Array,
        carries: tuple[Carry, ...] | None = None,
        *,
        train: bool = False,
        return_carries: bool = False,
    ):
        cfg = self.config
        if carries is None:
            carries = initial_carries(cfg, tokens.shape[0])
        drop = nn.Dropout(cfg.dropout, deterministic=not train)
        x = drop(nn.Embed(cfg.vocab_size, cfg.embed_dim, name="embed")(tokens))
        new_carries = []
        for i in range(cfg.num_layers):
            x, carry = LSTMLayer(cfg.hidden_size, cfg.dtype, name=f"lstm_{i}")(x, carries[i])
            x = drop(x)
            new_carries.append(carry)
        logits = nn.Dense(cfg.vocab_size, dtype=cfg.dtype, name="head")(x).astype(jnp.float32)
        return (logits, tuple(new_carries)) if return_carries else logits


def initial_carries(config: LSTMConfig, batch_size: int) -> tuple[Carry, ...]:
    zeros = jnp.zeros((batch_size, config.hidden_size), jnp.float32)
    return tuple((zeros, zeros) for _ in range(config.num_layers))


def init_decode_state(config: LSTMConfig, params, batch_size: int) -> tuple[Carry, ...]:
    """Zero carries for `batch_size` sequences."""
    del params
    return initial_carries(config, batch_size)


def decode_step(config: LSTMConfig, params, state, tokens: jax.Array):
    """Feed tokens [B] int32: -> (logits [B, vocab] float32, new carries)."""
    logits, carries = LSTMLM(config).apply(
        {"params": params}, tokens[:, None], state, return_carries=True
    )
    return logits[:, 0], carries
