"""Beam search over any model's `decode_step`, with the sampler's processors: pure jnp.

Same contract as `symbolic.generation.sampling.sample` (the grammar, constraints, repetition
penalty and extra processors of one `Masks` record apply at every step), but instead of
drawing a token each row keeps the `beam_width` most likely continuations of its prompt. Scores
are summed log-probabilities of the processed logits, without length normalisation, so beam
width 1 is exactly greedy decoding (argmax of log_softmax is argmax of logits). A finished beam
may only repeat EOS at no cost, so it keeps its score and competes with the open ones. Kept in
its own module so that sampling.py stays small.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from symbolic.generation.processors import (
    NEG_INF,
    Masks,
    StepContext,
    advance,
    apply_processors,
)
from symbolic.generation.sampling import DecodeStepFn, prefill


class BeamOutput(NamedTuple):
    tokens: jax.Array  # [B, W, P + N] int32: prompt, continuation, EOS, then pad; best beam first
    lengths: jax.Array  # [B, W] int32: tokens before the padding
    scores: jax.Array  # [B, W] float32: summed log-probabilities of the continuation


class _Carry(NamedTuple):
    position: jax.Array  # [] int32: index of the token fed next
    tokens: jax.Array  # [B * W, L] int32
    lengths: jax.Array  # [B * W] int32
    finished: jax.Array  # [B * W] bool
    scores: jax.Array  # [B, W] float32
    states: tuple[jax.Array, jax.Array]  # grammar and constraint states, [B * W] int32 each
    decode_state: Any


def _reorder(tree: Any, index: jax.Array, rows: int) -> Any:
    """Gather rows [B * W] of every leaf whose leading axis has `rows` entries (a KV cache, LSTM
    carries); scalars such as a shared cache index are left alone."""
    return jax.tree.map(lambda x: x[index] if x.ndim and x.shape[0] == rows else x, tree)


def _candidates(logits: jax.Array, c: _Carry, eos_id: int, width: int) -> jax.Array:
    """Scores [B, W * V] of every (beam, next token) pair."""
    logprobs = jax.nn.log_softmax(logits, axis=-1)  # [B * W, V]
    vocab = logits.shape[-1]
    only_eos = jnp.where(jnp.arange(vocab) == eos_id, 0.0, NEG_INF)
    logprobs = jnp.where(c.finished[:, None], only_eos, logprobs)
    total = c.scores.reshape(-1, 1) + logprobs
    return total.reshape(-1, width * vocab)


def beam_search(
    decode_step_fn: DecodeStepFn,
    params,
    init_state,
    prompt: jax.Array,
    *,
    beam_width: int,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    masks: Masks = Masks(),
) -> BeamOutput:
    """Keep the `beam_width` best continuations of each prompt [B, P] int32 (equal lengths).

    init_state: the model's empty decode state for B * beam_width rows.
    masks: as `sample`'s, with [B] int32 automaton states after each prompt.
    Returns tokens [B, W, P + N], lengths [B, W] and scores [B, W], best beam first.
    Pure and traceable: jit it with decode_step_fn, beam_width and max_new_tokens bound.
    """
    if beam_width < 1 or max_new_tokens < 1:
        raise ValueError(
            f"beam_width and max_new_tokens must be >= 1 ({beam_width}, {max_new_tokens})"
        )
    batch, prompt_len = prompt.shape
    rows, total = batch * beam_width, prompt_len + max_new_tokens
    tokens = jnp.full((rows, total), pad_id, jnp.int32)
    tokens = tokens.at[:, :prompt_len].set(jnp.repeat(prompt, beam_width, axis=0))
    chain, transitions, starts = masks.repeat_rows(beam_width).chain(rows, eos_id)
    decode_state = prefill(decode_step_fn, params, init_state, tokens, prompt_len - 1)
    # Only beam 0 is live at first, so the first step does not pick W copies of one token.
    scores = jnp.where(jnp.arange(beam_width) == 0, 0.0, NEG_INF)
    scores = jnp.broadcast_to(scores, (batch, beam_width)).astype(jnp.float32)

    def body(c: _Carry) -> _Carry:
        logits, state = decode_step_fn(params, c.decode_state, c.tokens[:, c.position])
        ctx = StepContext(c.tokens, c.position, *c.states)
        logits = apply_processors(logits, ctx, chain)
        best, flat = jax.lax.top_k(_candidates(logits, c, eos_id, beam_width), beam_width)
        vocab = logits.shape[-1]
        parent = (flat // vocab + jnp.arange(batch)[:, None] * beam_width).reshape(-1)
        token = (flat % vocab).reshape(-1).astype(jnp.int32)
        was_finished = c.finished[parent]
        states = advance(transitions, tuple(s[parent] for s in c.states), token, ~was_finished)
        nxt = c.position + 1
        done = was_finished | (token == eos_id) | (nxt + 1 >= total)
        return _Carry(
            position=nxt,
            tokens=c.tokens[parent].at[:, nxt].set(token),
            lengths=jnp.where(was_finished, c.lengths[parent], nxt + 1),
            finished=done,
            scores=best,
            states=states,
            decode_state=_reorder(state, parent, rows),
        )

    init = _Carry(
        jnp.asarray(prompt_len - 1, jnp.int32),
        tokens,
        jnp.full((rows,), prompt_len, jnp.int32),
        jnp.zeros((rows,), bool),
        scores,
        starts,
        decode_state,
    )
    out = jax.lax.while_loop(lambda c: (c.position < total - 1) & ~jnp.all(c.finished), body, init)
    keep = jnp.arange(total)[None, :] < out.lengths[:, None]
    final = jnp.where(keep, out.tokens, pad_id).reshape(batch, beam_width, total)
    return BeamOutput(final, out.lengths.reshape(batch, beam_width), out.scores)
