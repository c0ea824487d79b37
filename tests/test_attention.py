"""The Transformer's attention: relative logits by skewing, the path without attention dropout
against flax's unfused one, attention-probability dropout, and gradient checkpointing (remat)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbolic import models
from symbolic.models import transformer
from symbolic.training import config as config_lib

VOCAB = 61


def tiny_config(**changes) -> transformer.TransformerConfig:
    cfg = config_lib.resolve("transformer", "tiny").model
    return dataclasses.replace(cfg, vocab_size=VOCAB, **changes)


def tokens(length: int, seed: int = 1) -> jax.Array:
    return jax.random.randint(jax.random.PRNGKey(seed), (2, length), 0, VOCAB)


@pytest.mark.parametrize("max_distance", [3, 12, 40])
def test_skewed_relative_logits_equal_the_gathered_definition(max_distance):
    """[i, j] = q_i . E[min(i - j, R - 1)] on and below the diagonal, clipped or not; the
    reference builds the [T, T, D] gather that the skew avoids."""
    length, heads, dim = 12, 3, 4
    q = jax.random.normal(jax.random.PRNGKey(0), (2, length, heads, dim))
    table = jax.random.normal(jax.random.PRNGKey(1), (heads, max_distance, dim))
    distance = np.clip(np.arange(length)[:, None] - np.arange(length)[None], 0, max_distance - 1)
    expected = jnp.einsum("bthd,htsd->bhts", q, table[:, distance])
    causal = np.tril(np.ones((length, length), bool))
    skewed = transformer.relative_logits(q, table)
    np.testing.assert_allclose(
        np.where(causal, skewed, 0), np.where(causal, expected, 0), atol=1e-5
    )
    positions = jnp.broadcast_to(jnp.arange(length), (2, length))
    gathered = transformer.relative_logits_by_distance(q, table, positions, positions)
    np.testing.assert_allclose(
        np.where(causal, gathered, 0), np.where(causal, expected, 0), atol=1e-5
    )


@pytest.mark.parametrize("position", ["rope", "relative"])
@pytest.mark.parametrize("length", [16, 24])
def test_attention_without_dropout_equals_flax_attention(position, length):
    """`attend` (the path without attention dropout; cuDNN's on a GPU in half precision) and
    flax's unfused path (taken in training when attention_dropout > 0; at a rate of 1e-9 it
    drops nothing) give the same logits, inside and past the 16-position window."""
    cfg = tiny_config(position=position, max_len=16, max_relative_distance=6)
    x = tokens(length)
    fused = models.build("transformer", cfg)
    unfused = models.build("transformer", dataclasses.replace(cfg, attention_dropout=1e-9))
    params = fused.init(jax.random.PRNGKey(0), x)["params"]
    rngs = {"dropout": jax.random.PRNGKey(2)}
    expected = unfused.apply({"params": params}, x, train=True, rngs=rngs)
    got = fused.apply({"params": params}, x, train=True, rngs=rngs)
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-4)


def test_attention_dropout_drops_only_attention_and_only_in_training():
    cfg = tiny_config(position="relative", dropout=0.0, attention_dropout=0.5)
    x = tokens(16)
    module = models.build("transformer", cfg)
    params = module.init(jax.random.PRNGKey(0), x)["params"]
    without = models.build("transformer", dataclasses.replace(cfg, attention_dropout=0.0))
    reference = without.apply({"params": params}, x)
    np.testing.assert_array_equal(module.apply({"params": params}, x), reference)
    rngs = {"dropout": jax.random.PRNGKey(1)}
    trained = module.apply({"params": params}, x, train=True, rngs=rngs)
    assert float(jnp.abs(trained - reference).max()) > 1e-3
    # with attention_dropout 0 and dropout 0, training is deterministic
    np.testing.assert_allclose(
        without.apply({"params": params}, x, train=True, rngs=rngs), reference, atol=1e-6
    )


@pytest.mark.parametrize("position", ["rope", "relative"])
def test_remat_gives_the_same_loss_and_gradients(position):
    """Checkpointed blocks recompute the forward pass, dropout masks included: the same
    parameters, loss and gradients as without."""
    cfg = tiny_config(position=position, dropout=0.1, attention_dropout=0.1)
    x = tokens(16)
    plain = models.build("transformer", cfg)
    checkpointed = models.build("transformer", cfg, remat=True)
    params = plain.init(jax.random.PRNGKey(0), x)["params"]
    same_tree = checkpointed.init(jax.random.PRNGKey(0), x)["params"]
    assert jax.tree.structure(params) == jax.tree.structure(same_tree)

    def loss_and_grads(module):
        def loss(p):
            logits = module.apply(
                {"params": p}, x[:, :-1], train=True, rngs={"dropout": jax.random.PRNGKey(3)}
            )
            picked = jnp.take_along_axis(jax.nn.log_softmax(logits), x[:, 1:, None], axis=-1)
            return -picked.mean()

        return jax.jit(jax.value_and_grad(loss))(params)

    (loss_a, grads_a), (loss_b, grads_b) = loss_and_grads(plain), loss_and_grads(checkpointed)
    np.testing.assert_allclose(loss_b, loss_a, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=1e-5)
    jaxpr = str(
        jax.make_jaxpr(jax.grad(lambda p: checkpointed.apply({"params": p}, x).sum()))(params)
    )
    assert "remat" in jaxpr  # the blocks really are checkpointed


@pytest.mark.parametrize("name", ["lstm", "gan"])
def test_remat_on_a_model_without_it_is_a_one_line_error(name):
    with pytest.raises(ValueError, match=rf"train.remat: model '{name}' does not support it"):
        models.check_remat(name)
    if name == "lstm":
        with pytest.raises(ValueError, match="train.remat"):
            models.build(name, config_lib.resolve(name, "tiny").model, remat=True)


def test_relative_distance_must_be_positive():
    with pytest.raises(ValueError, match="max_relative_distance"):
        tiny_config(position="relative", max_relative_distance=0)
