"""Onsets-and-Frames-style acoustic model (Hawthorne et al. 2018): log-mel or log-CQT frames
in, per-key onset, frame, offset and velocity logits out.

A conv stack reads the features as a time x frequency picture (3x3 convs, max-pooling over
frequency only, so every frame keeps its own output), a dense layer turns each frame into a
vector, and four heads read it: onsets; offsets; velocity; and frames, conditioned on the onset
and offset predictions (their sigmoids, with the gradient stopped, as in the paper) so that a note
is held from its onset. Each of the onset and frame heads may have a small BiLSTM for longer
context (`lstm_size` > 0). Pure module: jax, flax and numpy only.

`Transcriber(config)(features [B, T, F] float32, *, train) -> {"onsets", "frames", "offsets",
"velocities"}: [B, T, K] float32 logits` (velocity: sigmoid(logit) * 127).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import linen as nn

from symbolic.models import checks

HEADS = ("onsets", "frames", "offsets", "velocities")


@dataclass(frozen=True)
class TranscriberConfig:
    """Hyper-parameters; `num_bins` is filled from the data's meta.json."""

    num_bins: int = 229  # feature bins per frame
    num_keys: int = 88
    conv_channels: int = 16  # the conv stack has c, c, 2c channels (O&F: 48, 48, 96)
    hidden: int = 256  # the per-frame vector after the conv stack (O&F: 768)
    lstm_size: int = 0  # > 0: a BiLSTM of this many units per direction in onset/frame heads
    dropout: float = 0.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        checks.at_least(self, 4, "num_bins")  # two 2x frequency poolings
        checks.at_least(self, 1, "num_keys", "conv_channels", "hidden")
        checks.at_least(self, 0, "lstm_size")
        checks.in_range(self, "dropout", 0.0, 1.0, high_open=True)
        checks.one_of(self, "dtype", checks.DTYPES)


def example_input(config: TranscriberConfig, seq_len: int) -> jax.ShapeDtypeStruct:
    """The shape and dtype of one model input for init: features [1, seq_len, num_bins]."""
    return jax.ShapeDtypeStruct((1, seq_len, config.num_bins), jnp.float32)


class ConvStack(nn.Module):
    """[B, T, F] -> [B, T, hidden]: conv c, conv c, pool, conv 2c, pool, dense."""

    config: TranscriberConfig

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        # Per-bin standardisation over the window would leak the future into causal use; a
        # fixed affine shift of log power (about -14..8 nats) keeps activations near unit scale.
        x = ((x + 4.0) / 4.0)[..., None].astype(dtype)  # [B, T, F, 1]
        for i, channels in enumerate((cfg.conv_channels, cfg.conv_channels, 2 * cfg.conv_channels)):
            x = nn.relu(nn.Conv(channels, (3, 3), dtype=dtype, name=f"conv{i}")(x))
            x = nn.LayerNorm(dtype=dtype, name=f"norm{i}")(x)
            if i > 0:
                x = nn.max_pool(x, (1, 2), strides=(1, 2))
                x = nn.Dropout(cfg.dropout, deterministic=not train)(x)
        x = x.reshape(*x.shape[:2], -1)
        x = nn.relu(nn.Dense(cfg.hidden, dtype=dtype, name="dense")(x))
        return nn.Dropout(cfg.dropout, deterministic=not train)(x)


class Head(nn.Module):
    """[B, T, D] -> [B, T, K] logits, through a BiLSTM when `lstm_size` > 0."""

    config: TranscriberConfig
    lstm: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        if self.lstm and cfg.lstm_size > 0:
            x = nn.Bidirectional(
                nn.RNN(nn.OptimizedLSTMCell(cfg.lstm_size)),
                nn.RNN(nn.OptimizedLSTMCell(cfg.lstm_size)),
            )(x.astype(jnp.float32))
        return nn.Dense(cfg.num_keys, dtype=jnp.dtype(cfg.dtype))(x).astype(jnp.float32)


class Transcriber(nn.Module):
    """Features [B, T, F] float32 -> logits {head: [B, T, K] float32}."""

    config: TranscriberConfig

    @nn.compact
    def __call__(self, features: jax.Array, *, train: bool = False) -> dict[str, jax.Array]:
        cfg = self.config
        trunk = ConvStack(cfg, name="acoustic")(features, train)
        onsets = Head(cfg, lstm=True, name="onset_head")(trunk)
        offsets = Head(cfg, lstm=False, name="offset_head")(trunk)
        velocities = Head(cfg, lstm=False, name="velocity_head")(trunk)
        frame_in = nn.relu(nn.Dense(cfg.num_keys, name="frame_acoustic")(trunk))
        cues = jax.lax.stop_gradient(jax.nn.sigmoid(jnp.concatenate([onsets, offsets], -1)))
        # A short temporal conv lets a frame see the onset a few frames back without an LSTM.
        joined = jnp.concatenate([frame_in, cues], axis=-1)
        joined = nn.relu(nn.Conv(cfg.hidden // 2, (5,), name="frame_context")(joined))
        frames = Head(cfg, lstm=True, name="frame_head")(joined)
        return {"onsets": onsets, "frames": frames, "offsets": offsets, "velocities": velocities}
