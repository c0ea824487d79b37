"""MusicVAE (Roberts et al. 2018): a bidirectional LSTM encoder to a Gaussian posterior, and an LSTM
decoder conditioned on the latent, flat for short segments or hierarchical for long ones.

The hierarchical decoder splits a segment into `conductor_bars` equal bars. A "conductor" LSTM,
started from z, emits one embedding per bar; each bar is decoded by the bottom LSTM started afresh
from its bar's embedding, which keeps the latent's influence from fading over 256 steps. The flat
decoder is the same code with one "bar" whose embedding is z itself, so training (teacher
forcing: bars decoded in parallel) and sampling (`sample`, a `lax.scan`) share one path.

Inputs at step t are the embedding of the event at t - 1 (a start symbol at t = 0) concatenated
with the bar's embedding, as in MusicVAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import linen as nn

from symbolic.models import checks
from symbolic.models.lstm import Carry, LSTMLayer, bidirectional


@dataclass(frozen=True)
class VAEConfig:
    """MusicVAE: bidirectional LSTM encoder, flat or hierarchical (conductor) LSTM decoder.

    `conductor_bars` 0 gives the flat decoder (short segments); n > 0 splits the segment into n
    equal bars, each decoded from its own conductor embedding (MusicVAE's 16-bar models).
    The loss is ELBO with beta(step) = kl_beta * (1 - kl_anneal_rate ** step) and free bits:
    KL below `free_bits` nats per segment is not penalised (MusicVAE's max(KL - free, 0))."""

    vocab_size: int = 0  # filled in from the segments' meta.json
    seq_len: int = 0  # steps per segment, filled in from meta.json
    embed_dim: int = 64
    encoder_hidden: int = 512
    decoder_hidden: int = 512
    decoder_layers: int = 2
    latent_dim: int = 256
    conductor_bars: int = 0
    conductor_hidden: int = 512
    kl_beta: float = 0.2
    kl_anneal_rate: float = 0.99999
    free_bits: float = 48.0  # nats per segment
    dtype: str = "float32"

    def __post_init__(self) -> None:
        checks.at_least(self, 0, "vocab_size", "seq_len", "conductor_bars")  # 0: see above
        sizes = ("embed_dim", "encoder_hidden", "decoder_hidden", "decoder_layers", "latent_dim")
        checks.at_least(self, 1, *sizes, "conductor_hidden")
        checks.in_range(self, "kl_beta", 0.0, math.inf, high_open=True)
        checks.in_range(self, "kl_anneal_rate", 0.0, 1.0)
        checks.in_range(self, "free_bits", 0.0, math.inf, high_open=True)
        checks.one_of(self, "dtype", checks.DTYPES)
        # The segment is reshaped into equal bars; a remainder would not reshape.
        if self.seq_len and self.conductor_bars and self.seq_len % self.conductor_bars:
            raise ValueError(
                f"VAEConfig.conductor_bars ({self.conductor_bars}) must divide seq_len "
                f"({self.seq_len})"
            )


class MusicVAE(nn.Module):
    """tokens [B, T] int32 -> (logits [B, T, V] float32, mu [B, Z], logvar [B, Z] float32)."""

    config: VAEConfig

    def setup(self):
        cfg = self.config
        self.embed = nn.Embed(cfg.vocab_size + 1, cfg.embed_dim)  # + the start symbol
        self.encoder_fw = LSTMLayer(cfg.encoder_hidden, cfg.dtype)
        self.encoder_bw = LSTMLayer(cfg.encoder_hidden, cfg.dtype)
        self.to_latent = nn.Dense(2 * cfg.latent_dim)
        if cfg.conductor_bars:
            self.conductor_init = nn.Dense(2 * cfg.conductor_hidden)
            self.conductor = LSTMLayer(cfg.conductor_hidden, cfg.dtype)
        self.decoder_init = nn.Dense(2 * cfg.decoder_hidden * cfg.decoder_layers)
        self.decoder = [LSTMLayer(cfg.decoder_hidden, cfg.dtype) for _ in range(cfg.decoder_layers)]
        self.head = nn.Dense(cfg.vocab_size)

    def __call__(self, tokens: jax.Array, *, train: bool = False):
        """Teacher-forced reconstruction; z is sampled (rng "latent") in training, mu otherwise."""
        mu, logvar = self.encode(tokens)
        z = mu
        if train:
            eps = jax.random.normal(self.make_rng("latent"), mu.shape)
            z = mu + jnp.exp(0.5 * logvar) * eps
        return self.decode(z, tokens), mu, logvar

    def encode(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """tokens [B, T] int32 -> (mu, logvar) [B, Z] float32."""
        x = self.embed(tokens)
        zeros = jnp.zeros((tokens.shape[0], self.config.encoder_hidden), jnp.float32)
        (h_fw, _), (h_bw, _) = bidirectional(self.encoder_fw, self.encoder_bw, x, (zeros, zeros))
        mu, logvar = jnp.split(self.to_latent(jnp.concatenate([h_fw, h_bw], -1)), 2, axis=-1)
        return mu, logvar

    def bar_embeddings(self, z: jax.Array) -> jax.Array:
        """z [B, Z] -> one conditioning vector per bar [B, S, C] (S = 1 for the flat decoder)."""
        cfg = self.config
        if not cfg.conductor_bars:
            return z[:, None, :]
        h, c = jnp.split(jnp.tanh(self.conductor_init(z)), 2, axis=-1)
        inputs = jnp.zeros((z.shape[0], cfg.conductor_bars, 1), jnp.float32)
        outputs, _ = self.conductor(inputs, (h, c))
        return outputs

    def bar_carries(self, cond: jax.Array) -> tuple[Carry, ...]:
        """A bar's embedding [N, C] -> the bottom decoder's initial carries (tanh, as MusicVAE)."""
        flat = jnp.tanh(self.decoder_init(cond))
        parts = jnp.split(flat, 2 * self.config.decoder_layers, axis=-1)
        return tuple((parts[2 * i], parts[2 * i + 1]) for i in range(self.config.decoder_layers))

    def core(self, prev: jax.Array, cond: jax.Array, carries: tuple[Carry, ...]):
        """prev [N, L] int32 (previous events), cond [N, C] -> (logits [N, L, V], carries)."""
        x = self.embed(prev)
        x = jnp.concatenate([x, jnp.broadcast_to(cond[:, None], (*prev.shape, cond.shape[-1]))], -1)
        new = []
        for layer, carry in zip(self.decoder, carries, strict=True):
            x, carry = layer(x, carry)
            new.append(carry)
        return self.head(x).astype(jnp.float32), tuple(new)

    def decode(self, z: jax.Array, tokens: jax.Array) -> jax.Array:
        """Teacher forcing: z [B, Z], tokens [B, T] int32 -> logits [B, T, V]; bars in parallel."""
        batch, length = tokens.shape
        conds = self.bar_embeddings(z)  # [B, S, C]
        bars = conds.shape[1]
        start = jnp.full((batch, 1), self.config.vocab_size, tokens.dtype)
        prev = jnp.concatenate([start, tokens[:, :-1]], axis=1)
        prev = prev.reshape(batch * bars, length // bars)
        conds = conds.reshape(batch * bars, -1)
        logits, _ = self.core(prev, conds, self.bar_carries(conds))
        return logits.reshape(batch, length, -1)


def kl_divergence(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row: mu, logvar [B, Z] -> [B] float32 (nats)."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)


def encode(config: VAEConfig, params, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """tokens [B, T] int32 -> (mu, logvar) [B, Z] float32."""
    return MusicVAE(config).apply({"params": params}, tokens, method=MusicVAE.encode)


def sample(
    config: VAEConfig, params, z: jax.Array, rng: jax.Array, temperature: float = 1.0
) -> jax.Array:
    """Decode z [B, Z] autoregressively -> events [B, T] int32; temperature 0 is greedy."""
    model = MusicVAE(config)
    variables = {"params": params}
    conds = model.apply(variables, z, method=MusicVAE.bar_embeddings)  # [B, S, C]
    bar_len = config.seq_len // conds.shape[1]
    start = jnp.full((z.shape[0],), config.vocab_size, jnp.int32)
    carries = model.apply(variables, conds[:, 0], method=MusicVAE.bar_carries)

    def step(state, t):
        carries, prev, key = state
        cond = jnp.take(conds, t // bar_len, axis=1)
        fresh = model.apply(variables, cond, method=MusicVAE.bar_carries)
        carries = jax.tree.map(lambda f, c: jnp.where(t % bar_len == 0, f, c), fresh, carries)
        logits, carries = model.apply(variables, prev[:, None], cond, carries, method=MusicVAE.core)
        key, sub = jax.random.split(key)
        logits = logits[:, 0]
        if temperature > 0:
            token = jax.random.categorical(sub, logits / temperature).astype(jnp.int32)
        else:
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return (carries, token, key), token

    _, tokens = jax.lax.scan(step, (carries, start, rng), jnp.arange(config.seq_len))
    return tokens.T
