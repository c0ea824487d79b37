"""Decoding past the window of a model with learned absolute positions, by re-prefilling.

A learned position table ends at max_len, so its KV cache cannot slide as RoPE's does: a key
written at position p keeps p's embedding. When the cache is full, this adapter empties it and
feeds the last max_len // 2 tokens again from position 0, then decodes on; each refill costs
max_len // 2 decode steps once per max_len // 2 new tokens, so decoding past the window runs at
about half speed, and each token sees between max_len // 2 and max_len - 1 tokens of context.
This is how absolute-position models are usually run past their length (re-encoding a shifted
window) at a fraction of the cost of re-encoding every step.

It wraps a model's `init_decode_state` / `decode_step` (`symbolic.models.decoder`), so the
sampler, beam search and streaming use it unchanged.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class RefillState(NamedTuple):
    cache: Any  # the model's own decode state
    recent: jax.Array  # [B, max_len] int32: token number n in slot n % max_len
    fed: jax.Array  # [] int32: tokens fed since the start
    in_cache: jax.Array  # [] int32: tokens the cache holds (its next position)


def needs_refill(config) -> bool:
    """Whether decoding `config` past its window needs this adapter (learned positions)."""
    return getattr(config, "position", None) == "learned"


def init_decode_state(impl: ModuleType, config, params, batch_size: int) -> RefillState:
    zero = jnp.zeros((), jnp.int32)
    recent = jnp.zeros((batch_size, config.max_len), jnp.int32)
    return RefillState(impl.init_decode_state(config, params, batch_size), recent, zero, zero)


def decode_step(impl: ModuleType, config, params, state: RefillState, tokens: jax.Array):
    """`impl.decode_step` of tokens [B] int32, first re-prefilling the last max_len // 2 tokens
    into an empty cache when the cache is full: -> (logits [B, V] float32, new state)."""
    window, keep = config.max_len, config.max_len // 2

    def refill(s: RefillState) -> RefillState:
        cache = jax.tree.map(jnp.zeros_like, s.cache)  # an empty cache, as init makes it
        oldest = s.fed - keep

        def feed(i, cache):
            return impl.decode_step(config, params, cache, s.recent[:, (oldest + i) % window])[1]

        cache = jax.lax.fori_loop(0, keep, feed, cache)
        return s._replace(cache=cache, in_cache=jnp.asarray(keep, jnp.int32))

    state = jax.lax.cond(state.in_cache >= window, refill, lambda s: s, state)
    logits, cache = impl.decode_step(config, params, state.cache, tokens)
    recent = jax.lax.dynamic_update_slice(state.recent, tokens[:, None], (0, state.fed % window))
    return logits, RefillState(cache, recent, state.fed + 1, state.in_cache + 1)
