"""Decoder-only Transformer language model: pre-LayerNorm, causal self-attention with rotary
position embeddings (RoPE) or the Music Transformer's learned relative attention, and a KV cache for
incremental decoding.

RoPE rotates queries and keys by their absolute position, so their dot product depends only on the
relative offset, at no extra memory and with a KV cache that stays exact (keys are rotated once,
when written). `position="relative"` is the Music Transformer's relative attention (Huang et al.
2018): each layer learns one embedding per head and distance, clipped at `max_relative_distance`,
and a query adds q . E[distance] to its content logit; the full pass computes it with the
"skewing" trick (no [T, T, D] tensor), the cached decoder gathers it by each slot's distance.
`position="learned"` gives the absolute-position baseline.

The full pass attends through `jax.nn.dot_product_attention` with cuDNN's fused kernel on GPU in
half precision, and through `attend` (einsum, float32 softmax) elsewhere; neither materialises a
dropout mask over the scores. Attention-probability dropout (`attention_dropout`, off by default)
takes flax's unfused path instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from symbolic.models import checks

POSITIONS = ("rope", "learned", "relative")


@dataclass(frozen=True)
class TransformerConfig:
    """Decoder-only Transformer with pre-LayerNorm and rotary (RoPE), learned relative or learned
    absolute positions."""

    vocab_size: int = 0  # filled in from the data set's meta.json
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 4
    d_ff: int = 1024
    dropout: float = 0.1  # residual and embedding dropout
    # Dropout on the attention probabilities. Off, as in current practice: on, each step draws
    # a mask over every [T, T] score matrix and attention leaves the fused kernel.
    attention_dropout: float = 0.0
    max_len: int = 2048  # longest sequence the KV cache (and learned positions) can hold
    position: str = "rope"  # "rope" (rotary), "relative" (Music Transformer) or "learned"
    rope_base: float = 10000.0
    # position "relative": distances from this on share the last embedding (the paper's clip)
    max_relative_distance: int = 512
    dtype: str = "float32"  # activation dtype; parameters stay float32
    decode: bool = False  # True builds the incremental (KV-cached) variant

    def __post_init__(self) -> None:
        checks.at_least(self, 0, "vocab_size")  # 0 until the data fills it in
        checks.at_least(
            self,
            1,
            "d_model",
            "num_layers",
            "num_heads",
            "d_ff",
            "max_len",
            "max_relative_distance",
        )
        checks.in_range(self, "dropout", 0.0, 1.0, high_open=True)
        checks.in_range(self, "attention_dropout", 0.0, 1.0, high_open=True)
        checks.one_of(self, "position", POSITIONS)
        checks.one_of(self, "dtype", checks.DTYPES)
        checks.positive(self, "rope_base")
        # Heads split d_model evenly (a remainder would be dropped), and RoPE rotates pairs.
        if self.d_model % self.num_heads:
            raise ValueError(
                f"TransformerConfig.num_heads ({self.num_heads}) must divide d_model "
                f"({self.d_model})"
            )
        if self.position == "rope" and (self.d_model // self.num_heads) % 2:
            raise ValueError(
                f"TransformerConfig: position 'rope' needs an even head dim (d_model / num_heads), "
                f"got {self.d_model // self.num_heads}"
            )


_INIT = nn.initializers.normal(stddev=0.02)


def rope_tables(positions: jax.Array, head_dim: int, base: float) -> tuple[jax.Array, jax.Array]:
    """cos/sin tables for `positions` [..., T] -> two arrays [..., T, head_dim // 2] float32."""
    inv_freq = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    angles = positions[..., None].astype(jnp.float32) * inv_freq
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate pairs of features of x [B, T, H, D] by the angles of cos/sin [B or 1, T, D/2]."""
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return rotated.astype(x.dtype)


def relative_logits(q: jax.Array, table: jax.Array) -> jax.Array:
    """The Music Transformer's relative logits by "skewing": q [B, T, H, D], table [H, R, D] (row
    r: distance r) -> [B, H, T, T] whose [i, j] is q_i . table[min(i - j, R - 1)] for j <= i.

    Entries above the diagonal are left-overs of the skew (causal attention masks them). Only a
    [H, T, D] slice of the table and [B, H, T, T] logits exist, never a [T, T, D] tensor.
    """
    batch, length, heads, _ = q.shape
    # Column c of the product is distance length - 1 - c (clipped): the skew turns column
    # j - i + length - 1 of row i into column j.
    distances = np.minimum(np.arange(length - 1, -1, -1), table.shape[1] - 1)
    by_column = jnp.einsum("bthd,hcd->bhtc", q, table[:, distances])
    # Pad one column on the left and fold T rows of T + 1 into T + 1 rows of T: row i moves
    # left by length - 1 - i. The first row is padding.
    padded = jnp.pad(by_column, ((0, 0), (0, 0), (0, 0), (1, 0)))
    return padded.reshape(batch, heads, length + 1, length)[:, :, 1:]


def relative_logits_by_distance(
    q: jax.Array, table: jax.Array, query_positions: jax.Array, key_positions: jax.Array
) -> jax.Array:
    """Relative logits gathered by distance, for the KV cache: q [B, T, H, D], table [H, R, D],
    positions [B, T] and [B, K] int32 -> [B, H, T, K]: q_t . table[clip(query - key, 0, R - 1)]
    (keys after their query get distance 0; the caller masks them)."""
    per_distance = jnp.einsum("bthd,hrd->bhtr", q, table)  # [B, H, T, R]: R <= K in practice
    distance = query_positions[:, :, None] - key_positions[:, None, :]
    distance = jnp.clip(distance, 0, table.shape[1] - 1)[:, None]  # [B, 1, T, K]
    return jnp.take_along_axis(per_distance, distance, axis=-1)


def cudnn_applies(q: jax.Array) -> bool:
    """Whether cuDNN's fused (flash) attention takes q [B, T, H, D]: on GPU, in half precision,
    head dims up to 128 in steps of 8. (The relative logits stay out of it: its bias gradient
    is limited.)"""
    head_dim = q.shape[-1]
    return (
        jax.default_backend() == "gpu"
        and q.dtype in (jnp.bfloat16, jnp.float16)
        and head_dim <= 128
        and head_dim % 8 == 0
    )


def attend(
    q: jax.Array,
    keys: jax.Array,
    values: jax.Array,
    visible: jax.Array,
    relative: jax.Array | None = None,
) -> jax.Array:
    """Softmax attention of q [B, T, H, D] over keys, values [B, H, K, D] where `visible` (bool,
    broadcast to [B, H, T, K]) holds: softmax((q . k + relative) / sqrt(D)) with the relative
    logits [B, H, T, K] or none; scores and softmax in float32 -> [B, T, H, D].

    The full pass (without attention dropout) and the KV cache share it, so both compute the
    same logits. On XLA:CPU it measured faster than `jax.nn.dot_product_attention`'s XLA path
    (which builds its mask at the scores' full [B, H, T, K] shape)."""
    scores = jnp.einsum("bqhd,bhkd->bhqk", q, keys, preferred_element_type=jnp.float32)
    if relative is not None:
        scores = scores + relative.astype(jnp.float32)
    scores = jnp.where(visible, scores / np.sqrt(q.shape[-1]), jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(values.dtype)
    return jnp.einsum("bhqk,bhkd->bqhd", probs, values)


class CausalSelfAttention(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x: jax.Array, positions: jax.Array, *, train: bool) -> jax.Array:
        """x [B, T, C], positions [B, T] int32 -> [B, T, C]."""
        cfg = self.config
        head_dim = cfg.d_model // cfg.num_heads
        qkv = nn.DenseGeneral(
            (3, cfg.num_heads, head_dim), kernel_init=_INIT, dtype=cfg.dtype, name="qkv"
        )(x)  # (B, T, 3, H, D)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if cfg.position == "rope":
            cos, sin = rope_tables(positions, head_dim, cfg.rope_base)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        table = None
        if cfg.position == "relative":
            shape = (cfg.num_heads, cfg.max_relative_distance, head_dim)
            table = self.param("relative_embed", _INIT, shape).astype(cfg.dtype)
        if cfg.decode:
            y = self._cached_attention(q, k, v, positions, table)
        else:
            y = self._full_attention(q, k, v, table, train=train)
        return nn.DenseGeneral(
            cfg.d_model, axis=(-2, -1), kernel_init=_INIT, dtype=cfg.dtype, name="out"
        )(y)

    def _full_attention(
        self, q: jax.Array, k: jax.Array, v: jax.Array, table: jax.Array | None, *, train: bool
    ) -> jax.Array:
        """Causal attention of q, k, v [B, T, H, D] -> [B, T, H, D]; past max_len each query sees
        its last max_len keys. Every path computes softmax((q . k + q . E) / sqrt(D)): cuDNN's
        fused kernel where it applies (no relative logits), flax's unfused one when attention
        probabilities are dropped, `attend` otherwise."""
        cfg = self.config
        length = q.shape[1]
        relative = None if table is None else relative_logits(q, table)
        offsets = jnp.arange(length)[:, None] - jnp.arange(length)[None, :]
        visible = (offsets >= 0) & (offsets < cfg.max_len)  # [T, T]: causal, in the window
        if train and cfg.attention_dropout > 0:  # flax's path draws the dropout mask
            return nn.dot_product_attention(
                q,
                k,
                v,
                # flax adds its bias after scaling q . k
                bias=None if relative is None else relative / np.sqrt(q.shape[-1]),
                mask=visible[None, None],
                dropout_rate=cfg.attention_dropout,
                deterministic=False,
                dropout_rng=self.make_rng("dropout"),
                dtype=cfg.dtype,
            )
        if relative is None and cudnn_applies(q):
            window = (cfg.max_len - 1, 0) if length > cfg.max_len else None
            return jax.nn.dot_product_attention(
                q, k, v, is_causal=True, local_window_size=window, implementation="cudnn"
            )
        return attend(q, k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3), visible, relative)

    def _cached_attention(
        self,
        q: jax.Array,
        k: jax.Array,
        v: jax.Array,
        positions: jax.Array,
        table: jax.Array | None,
    ) -> jax.Array:
        """Write k, v [B, T, H, D] into the KV cache and attend from q over it: -> [B, T, H, D].

        The cache is a ring of `max_len` slots (the window): position p lives in slot
        p % max_len, and each slot remembers its position, so decoding goes on past the window
        with every query seeing exactly its last max_len keys, as the full forward pass with
        the same window does. RoPE keys are rotated by their absolute position when written,
        so a slot needs no rewriting when the window moves. The cache is heads-major,
        [B, H, max_len, D], so that each step reads every key of a head contiguously.

        One token a step (decoding, prefill) is written first and attends over the cache alone:
        it overwrites the one position that has just left its window. A longer chunk could
        overwrite keys its own earlier queries still see, so it attends over the cache and the
        chunk side by side, and only then is written. Relative logits (`table` [H, R, D]) are
        gathered by each key's distance from its query, as the full pass computes them.
        """
        batch, length, heads, head_dim = k.shape
        window = self.config.max_len
        shape = (batch, heads, window, head_dim)
        cached_k = self.variable("cache", "key", jnp.zeros, shape, k.dtype)
        cached_v = self.variable("cache", "value", jnp.zeros, shape, v.dtype)
        # [B, max_len] int32: each slot's position + 1, 0 while empty (so that a cache of zeros,
        # as `init_decode_state` makes it, is empty); the same in every row.
        slot_position = self.variable(
            "cache", "slot_position", jnp.zeros, (batch, window), jnp.int32
        )
        if self.is_initializing():  # only the cache's shapes are wanted
            return jnp.zeros_like(q)
        new_k, new_v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # [B, H, T, D]
        if length == 1:
            slot = positions[0, 0] % window
            cached_k.value = jax.lax.dynamic_update_slice(cached_k.value, new_k, (0, 0, slot, 0))
            cached_v.value = jax.lax.dynamic_update_slice(cached_v.value, new_v, (0, 0, slot, 0))
            slot_position.value = jax.lax.dynamic_update_slice(
                slot_position.value, positions + 1, (0, slot)
            )
            keys, values, written = cached_k.value, cached_v.value, slot_position.value - 1
        else:
            keys = jnp.concatenate([cached_k.value, new_k], axis=2)  # [B, H, W + T, D]
            values = jnp.concatenate([cached_v.value, new_v], axis=2)
            written = jnp.concatenate([slot_position.value - 1, positions], axis=1)
            kept = min(length, window)  # of a longer chunk only the last `window` stay
            slots = positions[0, -kept:] % window
            cached_k.value = cached_k.value.at[:, :, slots].set(new_k[:, :, -kept:])
            cached_v.value = cached_v.value.at[:, :, slots].set(new_v[:, :, -kept:])
            slot_position.value = slot_position.value.at[:, slots].set(positions[:, -kept:] + 1)
        key_positions = written[:, None, None]  # [B, 1, 1, K]
        query_positions = positions[:, None, :, None]  # [B, 1, T, 1]
        visible = (
            (key_positions >= 0)
            & (key_positions <= query_positions)
            & (key_positions > query_positions - window)
        )
        relative = None
        if table is not None:
            relative = relative_logits_by_distance(q, table, positions, written)
        return attend(q, keys, values, visible, relative)


class Block(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x: jax.Array, positions: jax.Array, train: bool) -> jax.Array:
        cfg = self.config
        drop = nn.Dropout(cfg.dropout, deterministic=not train)
        h = nn.LayerNorm(dtype=cfg.dtype, name="ln_attn")(x)
        x = x + drop(CausalSelfAttention(cfg, name="attn")(h, positions, train=train))
        h = nn.LayerNorm(dtype=cfg.dtype, name="ln_mlp")(x)
        h = nn.Dense(cfg.d_ff, kernel_init=_INIT, dtype=cfg.dtype, name="mlp_in")(h)
        h = nn.Dense(cfg.d_model, kernel_init=_INIT, dtype=cfg.dtype, name="mlp_out")(nn.gelu(h))
        return x + drop(h)


class TransformerLM(nn.Module):
    """tokens [B, T] int32 -> logits [B, T, vocab] float32.

    In decode mode (config.decode=True) each call appends its tokens to the KV cache (collection
    "cache", made mutable by the caller) and positions continue from the cache's counter, past
    max_len too: the cache keeps the last max_len positions (a sliding window). A full forward
    pass longer than max_len uses the same window, so both agree at every position (RoPE and
    relative; a learned position table ends at max_len).

    `remat` checkpoints each block (`train.remat`): its activations are recomputed in the
    backward pass instead of stored. The parameters and the math are the same either way.
    """

    config: TransformerConfig
    remat: bool = False

    @nn.compact
    def __call__(self, tokens: jax.Array, *, train: bool = False) -> jax.Array:
        cfg = self.config
        positions = self._positions(tokens)
        embed = nn.Embed(cfg.vocab_size, cfg.d_model, embedding_init=_INIT, name="embed")
        x = embed(tokens).astype(cfg.dtype)
        if cfg.position == "learned":
            pos_embed = nn.Embed(cfg.max_len, cfg.d_model, embedding_init=_INIT, name="pos_embed")
            x = x + pos_embed(positions).astype(cfg.dtype)
        x = nn.Dropout(cfg.dropout, deterministic=not train)(x)
        # `train` (argument 3, counting self) is a Python bool: static under remat.
        block = nn.remat(Block, static_argnums=(3,)) if self.remat else Block
        for i in range(cfg.num_layers):
            x = block(cfg, name=f"block_{i}")(x, positions, train)
        x = nn.LayerNorm(dtype=cfg.dtype, name="ln_final")(x)
        return embed.attend(x.astype(jnp.float32))  # tied input/output embedding

    def _positions(self, tokens: jax.Array) -> jax.Array:
        batch, length = tokens.shape
        offset = 0
        if self.config.decode:
            # One counter for the whole model, kept beside the per-layer caches.
            counter = self.variable("cache", "position", lambda: jnp.array(0, jnp.int32))
            if not self.is_initializing():
                offset = counter.value
                counter.value = offset + length
        return jnp.broadcast_to(offset + jnp.arange(length, dtype=jnp.int32), (batch, length))


def init_decode_state(config: TransformerConfig, params, batch_size: int):
    """An empty KV cache for `batch_size` sequences: a ring of the last config.max_len
    positions."""
    model = TransformerLM(dataclasses.replace(config, decode=True))
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((batch_size, 1), jnp.int32))
    )["cache"]
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def decode_step(config: TransformerConfig, params, state, tokens: jax.Array):
    """Feed tokens [B] int32 at the next position: -> (logits [B, vocab] float32, new state)."""
    model = TransformerLM(dataclasses.replace(config, decode=True))
    logits, updates = model.apply(
        {"params": params, "cache": state}, tokens[:, None], mutable=["cache"]
    )
    return logits[:, 0], updates["cache"]
