"""Token-level losses returned as sums plus a denominator, so that means are taken on the host
over exactly the unmasked tokens (eval batches are partly padding)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def token_nll_sums(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """logits [B, T, V] float32, targets [B, T] int32, mask [B, T] float32 ->
    {"nll_sum", "correct_sum", "token_count"} scalars (nats)."""
    nll = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return {
        "nll_sum": jnp.sum(nll * mask),
        "correct_sum": jnp.sum(correct * mask),
        "token_count": jnp.sum(mask),
    }


def mean_metrics(sums: dict[str, float]) -> dict[str, float]:
    """Host-side means from accumulated sums: nll (nats/token), accuracy, token count."""
    count = max(float(sums["token_count"]), 1.0)
    return {
        "nll": float(sums["nll_sum"]) / count,
        "accuracy": float(sums["correct_sum"]) / count,
        "tokens": float(sums["token_count"]),
    }
