"""The optimised LSTM (fused gates, hand-written backward scan, both directions in one scan) against
a plain textbook recurrence, forward and gradients, on Bach chorale voices (the JSB split)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from symbolic.models.lstm import LSTMLM, LSTMConfig, LSTMLayer, bidirectional

JSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "jsb" / "Jsb16thSeparated.npz"
VOCAB = 128  # MIDI pitches


@pytest.fixture(scope="module")
def voices() -> jax.Array:
    """[4, 48] int32: soprano, alto, tenor and bass pitches of the first training chorale."""
    if not JSB.is_file():
        pytest.skip(f"{JSB} missing (the shared JSB split)")
    chorale = np.load(JSB, allow_pickle=True, encoding="latin1")["train"][0]
    return jnp.asarray(np.nan_to_num(chorale[:48].T, nan=0.0), jnp.int32)


def reference_layer(params: dict, x: jax.Array, carry) -> tuple[jax.Array, tuple]:
    """The textbook LSTM, one step at a time: z = x W_in + h W_rec + b; gates i, f, g, o."""
    w_in, w_rec, bias = params["w_in"], params["w_rec"], params["bias"]

    def step(state, x_t):
        h, c = state
        i, f, g, o = jnp.split(x_t @ w_in + h @ w_rec + bias, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    carry, hs = jax.lax.scan(step, carry, jnp.swapaxes(x, 0, 1))
    return jnp.swapaxes(hs, 0, 1), carry


def reference_lm(cfg: LSTMConfig, params: dict, tokens: jax.Array) -> jax.Array:
    x = params["embed"]["embedding"][tokens]
    zeros = jnp.zeros((tokens.shape[0], cfg.hidden_size))
    for i in range(cfg.num_layers):
        x, _ = reference_layer(params[f"lstm_{i}"], x, (zeros, zeros))
    return x @ params["head"]["kernel"] + params["head"]["bias"]


def assert_trees_close(actual, expected, atol: float) -> None:
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=atol, rtol=1e-4)


def test_lm_matches_the_reference_recurrence_forward_and_gradients(voices):
    cfg = LSTMConfig(vocab_size=VOCAB, embed_dim=16, hidden_size=24, num_layers=2, dropout=0.0)
    model = LSTMLM(cfg)
    params = model.init(jax.random.PRNGKey(0), voices[:, :4])["params"]
    inputs, targets = voices[:, :-1], voices[:, 1:]

    def nll(logits):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1))

    ours = jax.jit(jax.value_and_grad(lambda p: nll(model.apply({"params": p}, inputs))))
    ref = jax.jit(jax.value_and_grad(lambda p: nll(reference_lm(cfg, p, inputs))))
    (loss, grads), (ref_loss, ref_grads) = ours(params), ref(params)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-6)
    assert float(loss) > 0.5  # a real, untrained loss: the comparison is not vacuous
    assert_trees_close(grads, ref_grads, atol=1e-6)
    assert float(jnp.max(jnp.abs(grads["lstm_0"]["w_rec"]))) > 1e-5


class Encoder(nn.Module):
    """The VAE encoder's shape: a forward and a backward LSTMLayer over one sequence."""

    hidden: int

    def setup(self):
        self.embed = nn.Embed(VOCAB, 16)
        self.fw = LSTMLayer(self.hidden)
        self.bw = LSTMLayer(self.hidden)

    def __call__(self, tokens, carry):
        return bidirectional(self.fw, self.bw, self.embed(tokens), carry)


def test_bidirectional_matches_two_reference_passes(voices):
    hidden = 12
    model = Encoder(hidden)
    h0 = jax.random.normal(jax.random.PRNGKey(1), (voices.shape[0], hidden))
    c0 = jax.random.normal(jax.random.PRNGKey(2), (voices.shape[0], hidden))
    params = model.init(jax.random.PRNGKey(0), voices, (h0, c0))["params"]

    def reference(p, carry):
        x = p["embed"]["embedding"][voices]
        _, fw = reference_layer(p["fw"], x, carry)
        _, bw = reference_layer(p["bw"], x[:, ::-1], carry)
        return fw, bw

    def objective(fn):
        # weights every final state differently, so a swapped direction would not cancel out
        def loss(p, carry):
            (h_f, c_f), (h_b, c_b) = fn(p, carry)
            return jnp.sum(jnp.sin(h_f) + 2 * h_b**2 + 3 * c_f - c_b * h_f)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    ours = objective(lambda p, carry: model.apply({"params": p}, voices, carry))
    (loss, grads), (ref_loss, ref_grads) = (
        ours(params, (h0, c0)),
        objective(reference)(params, (h0, c0)),
    )
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    assert_trees_close(grads, ref_grads, atol=1e-5)


def test_bfloat16_layer_stays_close_to_float32(voices):
    x = jax.nn.one_hot(voices % 16, 16)
    zeros = jnp.zeros((voices.shape[0], 8))
    layer = LSTMLayer(8)
    params = layer.init(jax.random.PRNGKey(0), x, (zeros, zeros))
    full, _ = layer.apply(params, x, (zeros, zeros))
    half, _ = LSTMLayer(8, "bfloat16").apply(params, x, (zeros, zeros))
    assert half.dtype == jnp.float32  # the state stays float32; only the matmuls are bf16
    np.testing.assert_allclose(np.asarray(half), np.asarray(full), atol=3e-2)


def test_training_with_dropout_is_a_function_of_the_seed(chorale_data_dir):
    """The train step's dropout key comes from (seed, step) alone: the same seed trains the same
    weights, another seed draws other masks."""
    from symbolic.data.batches import load_split, train_batch
    from symbolic.data.meta import load_meta
    from symbolic.training import config as config_lib
    from symbolic.training import parallel, trainer

    split = load_split(chorale_data_dir, "train")

    def train(seed: int):
        cfg = config_lib.resolve("lstm", "tiny", ["model.dropout=0.3", f"train.seed={seed}"])
        compiled = trainer.compile_steps(trainer.with_vocab_size(cfg, load_meta(chorale_data_dir)))
        state, losses = compiled.init(), []
        for step in range(3):
            batch = parallel.shard_batch(train_batch(split, 8, 32, 0, step), compiled.mesh)
            state, metrics = compiled.train(state, batch)
            losses.append(float(metrics["loss"]))
        return losses, state.params

    (losses, params), (again, params_again) = train(0), train(0)
    assert losses == again
    assert_trees_close(params_again, params, atol=0.0)
    other_losses, _ = train(1)
    assert other_losses != losses  # other init and masks: the seed is really used
