"""AdamW with linear warmup, cosine decay and global-norm gradient clipping."""

from __future__ import annotations

import jax
import optax

from symbolic.training.config import TrainConfig


def learning_rate_schedule(cfg: TrainConfig) -> optax.Schedule:
    warmup = max(1, min(cfg.warmup_steps, cfg.steps - 1))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(cfg.steps, warmup + 1),
        end_value=cfg.learning_rate * cfg.min_lr_ratio,
    )


def _decay_mask(params):
    """Weight decay on matrices only: biases and LayerNorm scales are left alone."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(
            learning_rate_schedule(cfg),
            b2=cfg.beta2,
            weight_decay=cfg.weight_decay,
            mask=_decay_mask,
        ),
    )
