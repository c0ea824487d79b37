"""Stacked LSTM language model, and the LSTM layer the VAE builds on.

Each layer computes its input projection for the whole sequence in one matmul and scans only the
recurrent part, the same split cuDNN and torch.nn.LSTM make: a step is one [B, H] x [H, 4H]
matmul and one fusion of the gates, with the state batch-major and no transposes inside the
scan. The backward pass is written by hand (`recurrence`), and a bidirectional pair runs both
directions in one scan (`bidirectional`). The same parameters serve full-sequence training and
one-token incremental decoding (a sequence of length 1 with a carried state).
"""

from __future__ import annotations

import functools
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


# Time steps per iteration of the recurrence's `lax.scan`, chosen by measurement on 2 CPU cores
# (benchmarks/train_throughput/results.md): unrolling 2 to 16 steps made the demo LSTM's step
# slower on XLA:CPU, not faster, and its compile up to 10x longer.
UNROLL = 1


class LSTMLayer(nn.Module):
    hidden_size: int
    dtype: str = "float32"

    @nn.compact
    def weights(self, in_dim: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(w_in [in_dim, 4H], w_rec [H, 4H], bias [4H]), gates in the order i, f, g, o."""
        hidden = self.hidden_size
        w_in = self.param("w_in", nn.initializers.lecun_normal(), (in_dim, 4 * hidden))
        w_rec = self.param("w_rec", nn.initializers.orthogonal(), (hidden, 4 * hidden))
        bias = self.param("bias", _forget_bias_init, (4 * hidden,))
        return w_in, w_rec, bias

    def __call__(self, x: jax.Array, carry: Carry) -> tuple[jax.Array, Carry]:
        """x [B, T, E], carry (h, c) [B, H] -> (outputs [B, T, H], final carry)."""
        w_in, w_rec, bias = self.weights(x.shape[-1])
        gates_in = _input_gates(x, w_in, bias, self.dtype)
        outputs, carry = recurrence(self.dtype, UNROLL, gates_in, w_rec, carry)
        return jnp.swapaxes(outputs, 0, 1), carry


def bidirectional(
    forward: LSTMLayer, backward: LSTMLayer, x: jax.Array, carry: Carry
) -> tuple[Carry, Carry]:
    """Run `forward` over x [B, T, E] and `backward` over it reversed, both from `carry`, in one
    scan whose every step is one batched [2, B, H] x [2, H, 4H] matmul -> the final carries
    (forward, backward)."""
    if forward.hidden_size != backward.hidden_size or forward.dtype != backward.dtype:
        raise ValueError("bidirectional: both LSTMLayers need the same hidden_size and dtype")
    w_in_f, w_rec_f, bias_f = forward.weights(x.shape[-1])
    w_in_b, w_rec_b, bias_b = backward.weights(x.shape[-1])
    gates_in = jnp.stack(
        [
            _input_gates(x, w_in_f, bias_f, forward.dtype),
            _input_gates(x[:, ::-1], w_in_b, bias_b, forward.dtype),
        ],
        axis=1,
    )  # [T, 2, B, 4H]
    h, c = (jnp.stack([part, part]) for part in carry)
    _, (h, c) = recurrence(forward.dtype, UNROLL, gates_in, jnp.stack([w_rec_f, w_rec_b]), (h, c))
    return (h[0], c[0]), (h[1], c[1])


def _input_gates(x: jax.Array, w_in: jax.Array, bias: jax.Array, dtype: str) -> jax.Array:
    """x [B, T, E] -> every step's input part of the gates, time-major [T, B, 4H] float32, in one
    matmul (the transpose to time-major folds into the matmul's output layout)."""
    projected = jnp.einsum("bte,eg->tbg", x.astype(dtype), w_in.astype(dtype))
    return projected.astype(jnp.float32) + bias


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a [..., B, K] @ b [..., K, N] in the operands' dtype, returned as float32 (XLA:CPU has no
    bf16 x bf16 -> f32 dot)."""
    return jnp.matmul(a, b).astype(jnp.float32)


def _cell(z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Fused gates z [..., 4H] and cell c [..., H] -> (activated gates [..., 4H], new c, new h)."""
    i, f, g, o = jnp.split(z, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c = f * c + i * g
    return jnp.concatenate([i, f, g, o], axis=-1), c, o * jnp.tanh(c)


def _scan(dtype: str, unroll: int, gates_in, w_rec, carry, keep_residuals: bool):
    """The forward recurrence over gates_in [T, ..., B, 4H] (`...`: an optional direction axis
    matching w_rec [..., H, 4H]) -> (h for every step [T, ..., B, H], final carry, residuals)."""
    w = w_rec.astype(dtype)

    def step(state: Carry, gate_in: jax.Array):
        h, c = state
        act, c, h = _cell(gate_in + _matmul(h.astype(dtype), w), c)
        return (h, c), ((h, act, c) if keep_residuals else h)

    carry, ys = jax.lax.scan(step, carry, gates_in, unroll=unroll)
    return (ys[0], carry, ys[1:]) if keep_residuals else (ys, carry, None)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def recurrence(dtype: str, unroll: int, gates_in, w_rec, carry: Carry):
    """h_t, c_t from gates_in [T, ..., B, 4H] float32 (input part of the gates, bias included),
    w_rec [..., H, 4H] and the initial carry (h, c) [..., B, H] -> (h [T, ..., B, H], final carry).

    The gradient is written by hand, as cuDNN does: the backward scan carries only dh and dc and
    does one [B, 4H] x [4H, H] matmul per step, and dw_rec is one matmul over all steps after it,
    where autodiff of the scan would also accumulate a [H, 4H] weight gradient in every step."""
    hs, carry, _ = _scan(dtype, unroll, gates_in, w_rec, carry, keep_residuals=False)
    return hs, carry


def _recurrence_fwd(dtype, unroll, gates_in, w_rec, carry):
    hs, final, (acts, cs) = _scan(dtype, unroll, gates_in, w_rec, carry, keep_residuals=True)
    return (hs, final), (w_rec, carry, hs, acts, cs)


def _recurrence_bwd(dtype, unroll, residuals, cotangents):
    w_rec, (h0, c0), hs, acts, cs = residuals
    d_hs, (d_h_final, d_c_final) = cotangents
    c_prev = jnp.concatenate([c0[None], cs[:-1]])
    w_t = jnp.swapaxes(w_rec, -1, -2).astype(dtype)

    def step(state, xs):
        dh, dc = state
        d_h_out, act, c, c_before = xs
        i, f, g, o = jnp.split(act, 4, axis=-1)
        tanh_c = jnp.tanh(c)
        dh = dh + d_h_out
        dc = dc + dh * o * (1.0 - tanh_c**2)
        dz = jnp.concatenate(
            [
                dc * g * i * (1.0 - i),
                dc * c_before * f * (1.0 - f),
                dc * i * (1.0 - g**2),
                dh * tanh_c * o * (1.0 - o),
            ],
            axis=-1,
        )
        return (_matmul(dz.astype(dtype), w_t), dc * f), dz

    (d_h0, d_c0), dz = jax.lax.scan(
        step, (d_h_final, d_c_final), (d_hs, acts, cs, c_prev), reverse=True, unroll=unroll
    )
    h_prev = jnp.concatenate([h0[None], hs[:-1]]).astype(dtype)
    d_w = jnp.einsum("t...bh,t...bg->...hg", h_prev, dz.astype(dtype))
    return dz, d_w.astype(w_rec.dtype), (d_h0, d_c0)


recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


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
