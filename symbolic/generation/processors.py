"""Logit processors and the one record of masks that the sampler and beam search share: pure jnp.

A `LogitProcessor` maps logits [B, V] and a `StepContext` to new logits. `Masks` gathers what
masks a step (the token grammar, a constraint automaton, a repetition penalty, extra processors)
with each row's automaton states, so that `symbolic.generation.sampling.sample` and
`symbolic.generation.beam.beam_search` take one argument instead of seven keywords. It is a
pytree whose extra processors are static, so it passes through `jax.jit` as one argument.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

NEG_INF = -jnp.inf


class StepContext(NamedTuple):
    """What a logit processor may look at when choosing the token at `position + 1`."""

    tokens: jax.Array  # [B, L] int32: prompt and tokens so far, pad beyond
    position: jax.Array  # [] int32: index of the token just fed to the model
    grammar_state: jax.Array  # [B] int32: automaton state (0 when no grammar is used)
    constraint_state: jax.Array | None = None  # [B] int32: `ConstraintArrays` state


LogitProcessor = Callable[[jax.Array, StepContext], jax.Array]


class GrammarArrays(NamedTuple):
    """A token automaton as device arrays (see `symbolic.generation.grammar.Grammar`)."""

    allowed: jax.Array  # [S, V] bool: tokens allowed in each state
    transition: jax.Array  # [S, V] int32: next state after emitting token v in state s


class ConstraintArrays(NamedTuple):
    """A constraint automaton run beside the grammar (see `symbolic.generation.constraints`)."""

    allowed: jax.Array  # [E, V] bool
    transition: jax.Array  # [E, V] int32
    merge_into_eos: jax.Array  # [E, V] bool: forbidden tokens whose probability goes to EOS


def grammar_mask(allowed: jax.Array) -> LogitProcessor:
    """A processor that sets logits of tokens the automaton forbids in each row's state to -inf."""

    def process(logits: jax.Array, ctx: StepContext) -> jax.Array:
        return jnp.where(allowed[ctx.grammar_state], logits, NEG_INF)

    return process


def token_mask(mask: jax.Array) -> LogitProcessor:
    """A processor allowing only tokens where mask [V] bool is true (a static constraint)."""

    def process(logits: jax.Array, ctx: StepContext) -> jax.Array:
        return jnp.where(mask, logits, NEG_INF)

    return process


def constraint_mask(constraints: ConstraintArrays, eos_id: int) -> LogitProcessor:
    """Intersect with the constraint automaton's mask in each row's `ctx.constraint_state`.

    Tokens marked `merge_into_eos` give their probability to EOS (e.g. the Bar that would open
    one bar too many). A row left with no allowed token keeps its incoming logits: the
    constraints yield to the grammar rather than stall the sampler (not expected with the
    tables of `symbolic.generation.constraints`, which avoid dead ends).
    """

    def process(logits: jax.Array, ctx: StepContext) -> jax.Array:
        state = ctx.constraint_state
        merge = constraints.merge_into_eos[state]  # [B, V]
        eos = jax.nn.logsumexp(
            jnp.concatenate([logits[:, eos_id : eos_id + 1], jnp.where(merge, logits, NEG_INF)], 1),
            axis=-1,
        )
        masked = jnp.where(constraints.allowed[state] & ~merge, logits, NEG_INF)
        masked = masked.at[:, eos_id].set(
            jnp.where(constraints.allowed[state, eos_id], eos, NEG_INF)
        )
        alive = jnp.any(masked > NEG_INF, axis=-1, keepdims=True)
        return jnp.where(alive, masked, logits)

    return process


def repetition_penalty(penalty: jax.Array | float, ids: jax.Array) -> LogitProcessor:
    """CTRL-style penalty on tokens in ids [V] bool already in the sequence: positive logits
    are divided by `penalty`, negative ones multiplied (1.0 is off). Only `ids` (e.g. Pitch
    tokens) are penalised, because structural tokens (Bar, Position) must repeat.
    """
    penalty = jnp.asarray(penalty, jnp.float32)

    def process(logits: jax.Array, ctx: StepContext) -> jax.Array:
        batch, length = ctx.tokens.shape
        upto = (jnp.arange(length) <= ctx.position)[None, :]  # [1, L]: tokens fed so far
        rows = jnp.arange(batch)[:, None]
        seen = jnp.zeros(logits.shape, bool).at[rows, ctx.tokens].max(upto)
        hit = seen & ids
        return jnp.where(hit, jnp.where(logits > 0, logits / penalty, logits * penalty), logits)

    return process


def apply_processors(
    logits: jax.Array, ctx: StepContext, processors: Sequence[LogitProcessor]
) -> jax.Array:
    for process in processors:
        logits = process(logits, ctx)
    return logits


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=[
        "grammar",
        "grammar_states",
        "constraints",
        "constraint_states",
        "repetition_penalty",
        "penalty_ids",
    ],
    meta_fields=["processors"],
)
@dataclasses.dataclass(frozen=True)
class Masks:
    """Everything that masks or penalises a step; the defaults mask nothing.

    grammar / grammar_states: the token automaton and the [B] int32 state each row is in after
        its prompt (`grammar.start_state` for a bare BOS); only sampled tokens advance it.
    constraints / constraint_states: a second automaton intersected with the grammar (key, range,
        polyphony, grid, bars: `symbolic.generation.constraints`) and each row's [B] int32 state.
    repetition_penalty / penalty_ids: penalise tokens in penalty_ids [V] bool already present
        (None: no penalty).
    processors: extra processors applied after the grammar and constraint masks (static under
        jit: a tuple of functions).
    """

    grammar: GrammarArrays | None = None
    grammar_states: jax.Array | None = None
    constraints: ConstraintArrays | None = None
    constraint_states: jax.Array | None = None
    repetition_penalty: jax.Array | float = 1.0
    penalty_ids: jax.Array | None = None
    processors: tuple[LogitProcessor, ...] = ()

    def repeat_rows(self, times: int) -> Masks:
        """Each row's states repeated `times` times ([B] -> [B * times]), as beam search needs."""
        grammar, constraint = self.grammar_states, self.constraint_states
        return dataclasses.replace(
            self,
            grammar_states=None if grammar is None else jnp.repeat(grammar, times),
            constraint_states=None if constraint is None else jnp.repeat(constraint, times),
        )

    def chain(self, batch: int, eos_id: int) -> tuple[list[LogitProcessor], tuple, tuple]:
        """Processors in order (penalty, grammar, constraints, extra), the automata's transition
        tables (None for one not used), and their [B] int32 start states (zeros if not used).

        Raises:
            ValueError: an automaton without the states of its rows.
        """
        chain: list[LogitProcessor] = []
        if self.penalty_ids is not None:
            chain.append(repetition_penalty(self.repetition_penalty, self.penalty_ids))
        transitions: list[jax.Array | None] = [None, None]
        starts = [jnp.zeros((batch,), jnp.int32)] * 2
        if self.grammar is not None:
            if self.grammar_states is None:
                raise ValueError("grammar needs grammar_states: each row's state after its prompt")
            chain.append(grammar_mask(self.grammar.allowed))
            transitions[0] = self.grammar.transition
            starts[0] = jnp.asarray(self.grammar_states, jnp.int32)
        if self.constraints is not None:
            if self.constraint_states is None:
                raise ValueError("constraints need constraint_states: each row's state")
            chain.append(constraint_mask(self.constraints, eos_id))
            transitions[1] = self.constraints.transition
            starts[1] = jnp.asarray(self.constraint_states, jnp.int32)
        return [*chain, *self.processors], tuple(transitions), (starts[0], starts[1])


def advance(
    transitions: tuple[jax.Array | None, ...],
    states: tuple[jax.Array, ...],
    token: jax.Array,
    moving: jax.Array,
) -> tuple[jax.Array, ...]:
    """Step each automaton's [B] states by token [B] where moving [B] bool (None: no table)."""
    return tuple(
        s if t is None else jnp.where(moving, t[s, token], s)
        for t, s in zip(transitions, states, strict=True)
    )
