"""Model properties: causality and cached incremental decoding equal to the full forward pass."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbolic import models
from symbolic.training import config as config_lib

VOCAB = 61
LENGTH = 24


def tiny_model_config(name: str, **changes):
    import dataclasses

    cfg = config_lib.resolve(name, "tiny").model
    return dataclasses.replace(cfg, vocab_size=VOCAB, **changes)


CASES = {
    "transformer-rope": ("transformer", {}),
    "transformer-learned": ("transformer", {"position": "learned"}),
    # distances from 8 on share one embedding: the clip is inside the 24 tokens
    "transformer-relative": ("transformer", {"position": "relative", "max_relative_distance": 8}),
    "lstm": ("lstm", {}),
}


@pytest.fixture(params=sorted(CASES))
def model_case(request):
    name, changes = CASES[request.param]
    cfg = tiny_model_config(name, **changes)
    module = models.build(name, cfg)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (3, LENGTH), 0, VOCAB)
    params = module.init(jax.random.PRNGKey(0), tokens)["params"]
    return name, cfg, module, params, tokens


@pytest.mark.parametrize("position", [0, LENGTH // 2, LENGTH - 1])
def test_future_tokens_never_change_earlier_logits(model_case, position):
    _, _, module, params, tokens = model_case
    changed = tokens.at[:, position].set((tokens[:, position] + 7) % VOCAB)
    before = module.apply({"params": params}, tokens)
    after = module.apply({"params": params}, changed)
    np.testing.assert_array_equal(before[:, :position], after[:, :position])
    # ...and the change is visible from its own position on: the test can fail.
    assert float(jnp.abs(before[:, position:] - after[:, position:]).max()) > 1e-4


def test_cached_decoding_matches_full_forward(model_case):
    name, cfg, module, params, tokens = model_case
    impl = models.decoder(name)
    state = impl.init_decode_state(cfg, params, tokens.shape[0])
    step = jax.jit(lambda p, s, t: impl.decode_step(cfg, p, s, t))
    logits = []
    for t in range(LENGTH):
        step_logits, state = step(params, state, tokens[:, t])
        logits.append(step_logits)
    full = module.apply({"params": params}, tokens)
    np.testing.assert_allclose(jnp.stack(logits, axis=1), full, atol=2e-5, rtol=1e-4)


def test_dropout_is_active_only_in_training():
    cfg = tiny_model_config("transformer", dropout=0.5)
    module = models.build("transformer", cfg)
    tokens = jnp.zeros((2, 8), jnp.int32)
    params = module.init(jax.random.PRNGKey(0), tokens)["params"]
    eval_a = module.apply({"params": params}, tokens)
    eval_b = module.apply({"params": params}, tokens)
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a = module.apply(
        {"params": params}, tokens, train=True, rngs={"dropout": jax.random.PRNGKey(1)}
    )
    assert float(jnp.abs(train_a - eval_a).max()) > 1e-3


@pytest.mark.parametrize("position", ["rope", "relative"])
def test_sliding_window_decoding_past_the_window_matches_the_windowed_forward(position):
    """A RoPE or relative-attention model with an 8-position window decodes 24 tokens: every
    step's logits equal the full forward pass whose attention sees the last 8 keys, and at the
    last step (past the window) the one-layer model's logits equal a forward pass over the last 8
    tokens alone. The relative model clips distances at 5, inside the window."""
    window = 8
    impl = models.decoder("transformer")
    relative = {"max_relative_distance": 5} if position == "relative" else {}
    for layers in (2, 1):
        cfg = tiny_model_config(
            "transformer", max_len=window, num_layers=layers, position=position, **relative
        )
        module = models.build("transformer", cfg)
        tokens = jax.random.randint(jax.random.PRNGKey(2), (2, 3 * window), 0, VOCAB)
        params = module.init(jax.random.PRNGKey(0), tokens[:, :window])["params"]
        state = impl.init_decode_state(cfg, params, tokens.shape[0])
        step = jax.jit(lambda p, s, t, cfg=cfg: impl.decode_step(cfg, p, s, t))
        logits = []
        for t in range(tokens.shape[1]):
            step_logits, state = step(params, state, tokens[:, t])
            logits.append(step_logits)
        decoded = jnp.stack(logits, axis=1)
        full = module.apply({"params": params}, tokens)  # banded past max_len
        np.testing.assert_allclose(decoded, full, atol=2e-5, rtol=1e-4)
        # Chunks of several tokens, one longer than the window, take the other path: the same.
        decoding = models.build("transformer", dataclasses.replace(cfg, decode=True))
        state, chunks = impl.init_decode_state(cfg, params, tokens.shape[0]), []
        for start, end in ((0, 5), (5, 11), (11, 12), (12, 3 * window)):
            chunk, updates = decoding.apply(
                {"params": params, "cache": state}, tokens[:, start:end], mutable=["cache"]
            )
            state = updates["cache"]
            chunks.append(chunk)
        np.testing.assert_allclose(jnp.concatenate(chunks, axis=1), full, atol=2e-5, rtol=1e-4)
        if layers == 1:  # both are relative: the last window alone gives the same last logits
            alone = module.apply({"params": params}, tokens[:, -window:])
            np.testing.assert_allclose(decoded[:, -1], alone[:, -1], atol=2e-5, rtol=1e-4)
    # The window matters: the unbanded forward pass over all 24 tokens differs past it.
    unbanded = models.build(
        "transformer",
        tiny_model_config("transformer", max_len=64, num_layers=1, position=position, **relative),
    )
    assert (
        float(jnp.abs(unbanded.apply({"params": params}, tokens)[:, -1] - full[:, -1]).max()) > 1e-4
    )
