"""The sampler against fake logit functions (as lm1b tests its decoder) and against real tiny models
whose cached decode must sample exactly what an uncached full forward pass would."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbolic import models
from symbolic.generation.processors import GrammarArrays, Masks, StepContext
from symbolic.generation.sampling import (
    apply_temperature,
    categorical,
    choose,
    sample,
    top_k_filter,
    top_p_filter,
    warp,
)
from symbolic.generation.settings import Sampling, sampling_of
from symbolic.models.lstm import LSTMConfig
from symbolic.models.transformer import TransformerConfig

BOS, EOS, PAD = 1, 2, 0
VOCAB = 8


def table_step(params, state, tokens):
    """A fake bigram model: logits are a row of the table `params` [V, V]; state counts steps."""
    return params[tokens], state + 1


@functools.cache
def jitted_sampler(step):
    """One jitted sampler per decode function, so tests with equal shapes share a compilation."""
    static = ("max_new_tokens", "eos_id", "pad_id")  # Masks keeps its processors static
    return jax.jit(functools.partial(sample, step), static_argnames=static)


def run(params, prompt, *, step=table_step, init=None, max_new=6, seed=0, **kwargs):
    """Jit and run `sample`; returns numpy (tokens [B, P + max_new], lengths [B])."""
    fn = jitted_sampler(step)
    prompt = jnp.asarray(prompt, jnp.int32)
    init = jnp.zeros((), jnp.int32) if init is None else init
    out = fn(
        params,
        init,
        prompt,
        max_new_tokens=max_new,
        rng=jax.random.PRNGKey(seed),
        eos_id=EOS,
        pad_id=PAD,
        **kwargs,
    )
    return np.asarray(out.tokens), np.asarray(out.lengths)


def cycle_table(next_of: dict[int, int]) -> jnp.ndarray:
    """Bigram logits whose argmax after token a is next_of[a] (other tokens slightly random)."""
    table = 0.1 * np.random.default_rng(0).normal(size=(VOCAB, VOCAB))
    for a, b in next_of.items():
        table[a, b] = 5.0
    return jnp.asarray(table, jnp.float32)


# --- warpers -------------------------------------------------------------------------------------


def test_top_k_keeps_exactly_the_k_largest():
    logits = jax.random.normal(jax.random.PRNGKey(0), (4, 50))
    for k in (1, 3, 17):
        out = np.asarray(top_k_filter(logits, k))
        kept = np.isfinite(out)
        assert (kept.sum(-1) == k).all()
        top = np.argsort(-np.asarray(logits), axis=-1)[:, :k]
        assert np.take_along_axis(kept, top, -1).all()
        np.testing.assert_array_equal(out[kept], np.asarray(logits)[kept])


def test_top_k_zero_or_too_large_keeps_all():
    logits = jax.random.normal(jax.random.PRNGKey(1), (2, 10))
    np.testing.assert_array_equal(top_k_filter(logits, 0), logits)
    np.testing.assert_array_equal(top_k_filter(logits, 99), logits)


@pytest.mark.parametrize(
    "p, nucleus",
    [(0.3, {0}), (0.75, {0, 1}), (0.85, {0, 1, 2}), (0.99, {0, 1, 2, 3}), (1.0, {0, 1, 2, 3, 4})],
)
def test_top_p_keeps_the_nucleus(p, nucleus):
    probs = np.array([0.5, 0.3, 0.15, 0.049, 0.001])
    order = np.array([3, 0, 4, 1, 2])  # shuffle so that position is not rank
    logits = jnp.log(jnp.asarray(probs[order]))[None]
    kept = np.isfinite(np.asarray(top_p_filter(logits, p)))[0]
    assert {int(order[i]) for i in np.flatnonzero(kept)} == nucleus


def test_top_p_sampling_draws_only_from_the_nucleus():
    logits = jnp.log(jnp.asarray([[0.05, 0.6, 0.05, 0.3]]))
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    draws = jax.vmap(lambda k: choose(warp(logits, 1.0, 0, 0.8), k, 1.0))(keys)
    counts = np.bincount(np.asarray(draws).ravel(), minlength=4)
    assert counts[0] == counts[2] == 0 and counts[1] > counts[3] > 0


def sorted_nucleus(logits: np.ndarray, p: float) -> np.ndarray:
    """Reference nucleus mask [B, V] by sorting, the textbook way."""
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    order = np.argsort(-probs, axis=-1)
    mass_before = np.cumsum(np.take_along_axis(probs, order, -1), -1)
    mass_before -= np.take_along_axis(probs, order, -1)
    keep = np.zeros_like(probs, bool)
    np.put_along_axis(keep, order, mass_before < p, -1)
    return keep


def test_sort_free_filters_match_sorting_references():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(32, 97)).astype(np.float32)
    logits[rng.random(logits.shape) < 0.3] = -np.inf  # as after a grammar mask
    for k in (1, 2, 10, 50, 97):
        kept = np.isfinite(np.asarray(top_k_filter(jnp.asarray(logits), k)))
        expected = np.zeros_like(kept)
        np.put_along_axis(expected, np.argsort(-logits, -1)[:, :k], True, -1)
        np.testing.assert_array_equal(kept, expected & np.isfinite(logits))
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = np.isfinite(np.asarray(top_p_filter(jnp.asarray(logits), p)))
        np.testing.assert_array_equal(kept, sorted_nucleus(logits, p) & np.isfinite(logits))


def test_categorical_follows_the_probabilities_and_never_draws_masked_tokens():
    probs = np.array([0.1, 0.0, 0.6, 0.3, 0.0])
    logits = jnp.log(jnp.asarray(np.tile(probs, (20_000, 1))))
    draws = np.asarray(categorical(jax.random.PRNGKey(0), logits))
    freq = np.bincount(draws, minlength=5) / len(draws)
    assert freq[1] == freq[4] == 0
    np.testing.assert_allclose(freq, probs, atol=0.01)


def test_temperature_scales_and_zero_is_greedy():
    logits = jnp.asarray([[1.0, 3.0, 2.0]])
    np.testing.assert_allclose(apply_temperature(logits, 2.0), logits / 2)
    np.testing.assert_array_equal(apply_temperature(logits, 0.0), logits)
    keys = jax.random.split(jax.random.PRNGKey(0), 50)
    greedy = jax.vmap(lambda k: choose(logits, k, 0.0))(keys)
    assert (np.asarray(greedy) == 1).all()


# --- the loop with fake logits -------------------------------------------------------------------


def test_greedy_follows_the_argmax_chain():
    table = cycle_table({BOS: 3, 3: 4, 4: 5, 5: 3})
    tokens, lengths = run(table, [[BOS]], max_new=6, temperature=0.0)
    np.testing.assert_array_equal(tokens[0], [BOS, 3, 4, 5, 3, 4, 5])
    assert lengths[0] == 7


def test_fixed_seed_is_deterministic_and_seeds_differ():
    table = jnp.zeros((VOCAB, VOCAB)).at[:, EOS].set(-1e9)  # uniform, never ends
    prompt = [[BOS]] * 4
    a, _ = run(table, prompt, max_new=20, seed=7)
    b, _ = run(table, prompt, max_new=20, seed=7)
    c, _ = run(table, prompt, max_new=20, seed=8)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert len({tuple(r) for r in a}) > 1  # rows draw independently


def test_eos_finishes_a_row_and_the_rest_is_pad():
    table = cycle_table({BOS: 3, 3: EOS, 4: 5, 5: 4})
    tokens, lengths = run(table, [[BOS, 3], [BOS, 4]], max_new=5, temperature=0.0)
    np.testing.assert_array_equal(tokens[0], [BOS, 3, EOS, PAD, PAD, PAD, PAD])
    np.testing.assert_array_equal(tokens[1], [BOS, 4, 5, 4, 5, 4, 5])
    np.testing.assert_array_equal(lengths, [3, 7])


def test_loop_stops_early_when_every_row_has_finished():
    calls = []

    def counting_step(params, state, tokens):
        jax.debug.callback(lambda: calls.append(1))
        return table_step(params, state, tokens)

    table = cycle_table({BOS: 3, 3: EOS})
    tokens, lengths = run(table, [[BOS], [BOS]], step=counting_step, max_new=50, temperature=0.0)
    np.testing.assert_array_equal(lengths, [3, 3])
    assert len(calls) == 2  # BOS and 3 were fed; nothing after both rows emitted EOS


def test_right_padded_prompts_match_unpadded_runs():
    table = cycle_table({BOS: 3, 3: 4, 4: 6, 6: 7, 7: 3, 5: 7})
    padded, lengths = run(
        table,
        [[BOS, 5, 4, 3], [BOS, 6, PAD, PAD]],
        max_new=4,
        temperature=0.0,
        prompt_lengths=jnp.asarray([4, 2]),
    )
    alone0, _ = run(table, [[BOS, 5, 4, 3]], max_new=4, temperature=0.0)
    alone1, _ = run(table, [[BOS, 6]], max_new=4, temperature=0.0)
    np.testing.assert_array_equal(padded[0], alone0[0])
    np.testing.assert_array_equal(padded[1, :6], alone1[0])  # prompt 2 + 4 new
    assert padded[1, 6:].tolist() == [PAD, PAD] and lengths.tolist() == [8, 6]


def toy_grammar() -> tuple[GrammarArrays, np.ndarray, np.ndarray]:
    """Two states: a 'pitch' state allows {3, 4}, a 'duration' state allows {5, 6} or EOS."""
    allowed = np.zeros((2, VOCAB), bool)
    allowed[0, [3, 4]] = True
    allowed[1, [5, 6, EOS]] = True
    transition = np.zeros((2, VOCAB), np.int32)
    transition[0, [3, 4]] = 1
    transition[1, [5, 6]] = 0
    return GrammarArrays(jnp.asarray(allowed), jnp.asarray(transition)), allowed, transition


def test_grammar_mask_is_respected():
    grammar, allowed, transition = toy_grammar()
    table = jnp.zeros((VOCAB, VOCAB))  # uniform: only the grammar shapes the output
    tokens, lengths = run(
        table,
        [[BOS]] * 16,
        max_new=30,
        masks=Masks(grammar=grammar, grammar_states=jnp.zeros(16, jnp.int32)),
    )
    ended = 0
    for row, n in zip(tokens, lengths, strict=True):
        state = 0
        for tok in row[1:n]:
            assert allowed[state, tok], (row, state, tok)
            state = transition[state, tok]
        ended += row[n - 1] == EOS
    assert ended > 0  # EOS is reachable and ends rows


def test_grammar_starts_from_the_given_states():
    grammar, _, _ = toy_grammar()
    tokens, _ = run(
        jnp.zeros((VOCAB, VOCAB)),
        [[BOS, 3]] * 8,
        max_new=1,
        masks=Masks(grammar=grammar, grammar_states=jnp.ones(8, jnp.int32)),
    )
    assert set(tokens[:, 2].tolist()) <= {5, 6, EOS}


def test_extra_processors_compose_after_the_grammar():
    def forbid_six(logits: jax.Array, ctx: StepContext) -> jax.Array:
        return logits.at[:, 6].set(-jnp.inf)

    grammar, _, _ = toy_grammar()
    tokens, _ = run(
        jnp.zeros((VOCAB, VOCAB)),
        [[BOS]] * 8,
        max_new=20,
        masks=Masks(
            grammar=grammar, grammar_states=jnp.zeros(8, jnp.int32), processors=(forbid_six,)
        ),
    )
    assert 6 not in tokens


# --- real tiny models: the cache must not change what is sampled ---------------------------------

TINY = {
    "transformer": TransformerConfig(
        vocab_size=24, d_model=32, num_layers=2, num_heads=2, d_ff=64, dropout=0.0, max_len=32
    ),
    "lstm": LSTMConfig(vocab_size=24, embed_dim=32, hidden_size=32, num_layers=2, dropout=0.0),
}


def uncached_reference(module, params, prompt, steps, rng, temperature, top_k, top_p):
    """Recompute the full sequence every step (the slow way) with the sampler's per-step keys.

    The buffer has a fixed length so the forward pass compiles once; the models are causal, so
    the logits at position i ignore the padding after it.
    """
    prompt = np.asarray(prompt, np.int32)
    tokens = np.full((prompt.shape[0], prompt.shape[1] + steps), PAD, np.int32)
    tokens[:, : prompt.shape[1]] = prompt
    forward = jax.jit(lambda t: module.apply({"params": params}, t))
    for position in range(prompt.shape[1] - 1, tokens.shape[1] - 1):
        logits = forward(jnp.asarray(tokens))[:, position]
        key = jax.random.fold_in(rng, position)
        tokens[:, position + 1] = choose(warp(logits, temperature, top_k, top_p), key, temperature)
    return tokens


@functools.cache
def tiny_model(name):
    cfg = TINY[name]
    module = models.build(name, cfg)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32))["params"]
    impl = models.decoder(name)
    step = functools.partial(impl.decode_step, cfg)

    def init(batch):
        return impl.init_decode_state(cfg, params, batch)

    return module, params, step, init


def until_eos(row: np.ndarray, start: int) -> int:
    """Length of row up to and including its first EOS at or after `start`."""
    hits = np.flatnonzero(row[start:] == EOS)
    return start + hits[0] + 1 if len(hits) else len(row)


@pytest.mark.parametrize("name", ["transformer", "lstm"])
@pytest.mark.parametrize("temperature, top_k, top_p", [(0.0, 0, 1.0), (1.0, 5, 0.9)])
def test_cached_sampling_equals_uncached_reference(name, temperature, top_k, top_p):
    module, params, step, init = tiny_model(name)
    prompt = [[BOS, 5, 9, 7], [BOS, 11, 3, 4]]
    tokens, lengths = run(
        params,
        prompt,
        step=step,
        init=init(2),
        max_new=10,
        seed=3,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
    )
    rng = jax.random.PRNGKey(3)
    expected = uncached_reference(module, params, prompt, 10, rng, temperature, top_k, top_p)
    for row in range(2):
        n = until_eos(expected[row], 4)
        assert n > 6  # the comparison covers several sampled tokens, not just an early EOS
        assert lengths[row] == n
        np.testing.assert_array_equal(tokens[row, :n], expected[row, :n])


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_padded_prompts_share_one_cache(name):
    _, params, step, init = tiny_model(name)
    padded, _ = run(
        params,
        [[BOS, 5, 9, 7, 6], [BOS, 11, PAD, PAD, PAD]],
        step=step,
        init=init(2),
        max_new=6,
        prompt_lengths=jnp.asarray([5, 2]),
        temperature=0.0,
    )
    long, _ = run(params, [[BOS, 5, 9, 7, 6]], step=step, init=init(1), max_new=6, temperature=0.0)
    short, _ = run(params, [[BOS, 11]], step=step, init=init(1), max_new=6, temperature=0.0)
    np.testing.assert_array_equal(padded[0], long[0])
    np.testing.assert_array_equal(padded[1, :8], short[0])


# --- the Sampling record -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(num=0), "num and max_tokens"),
        (dict(max_tokens=0), "num and max_tokens"),
        (dict(temperature=-1.0), "temperature"),
        (dict(top_k=-1), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
    ],
)
def test_sampling_settings_are_one_line_errors_where_they_are_built(bad, message):
    with pytest.raises(ValueError, match=message) as err:
        Sampling(**bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=message):
        sampling_of(Sampling(), bad)  # a keyword override is checked the same way


def test_beam_search_imports_no_private_name_of_the_sampler():
    import ast

    from symbolic.generation import beam

    tree = ast.parse(Path(beam.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]
    assert names and not [n for n in names if n.startswith("_")]
