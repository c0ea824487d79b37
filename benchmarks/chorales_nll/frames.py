"""Frame-level NLL on the quarter-note piano rolls: the unit of the RNN-RBM / RNN-NADE / LSTM / TCN
tables (nats per frame, the sum of 88 Bernoulli NLLs).

The model is an LSTM over frames with independent sigmoid outputs for the 88 keys of the next
frame, as in Bai et al.'s polyphonic-music benchmark code: frame t + 1 is predicted from frames
0..t, the first frame of a chorale is context only (not scored), and the NLL is averaged over all
scored frames of the split.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from benchmarks.chorales_nll.data import PIANO_KEYS
from benchmarks.chorales_nll.neural import EarlyStopping
from symbolic.models.lstm import LSTMLayer
from symbolic.train.config import TrainConfig
from symbolic.train.optim import make_optimizer

Batch = dict[str, np.ndarray]  # inputs, targets: [B, T, 88] float32; mask: [B, T] float32


@dataclass(frozen=True)
class FrameModelConfig:
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.3


class FrameLSTM(nn.Module):
    """rolls [B, T, 88] float32 (frames 0..T-1) -> logits [B, T, 88] for frames 1..T."""

    config: FrameModelConfig

    @nn.compact
    def __call__(self, rolls: jax.Array, *, train: bool = False) -> jax.Array:
        cfg = self.config
        drop = nn.Dropout(cfg.dropout, deterministic=not train)
        x = nn.Dense(cfg.hidden_size, name="embed")(rolls)
        zeros = jnp.zeros((rolls.shape[0], cfg.hidden_size), jnp.float32)
        for i in range(cfg.num_layers):
            x, _ = LSTMLayer(cfg.hidden_size, name=f"lstm_{i}")(drop(x), (zeros, zeros))
        return nn.Dense(PIANO_KEYS, name="head")(drop(x))


def frame_nll_sums(logits: jax.Array, batch: dict) -> dict[str, jax.Array]:
    """Sum over keys of the Bernoulli NLLs, summed over unmasked frames, and the frame count."""
    per_frame = optax.sigmoid_binary_cross_entropy(logits, batch["targets"]).sum(-1)  # [B, T]
    return {"nll_sum": jnp.sum(per_frame * batch["mask"]), "frames": jnp.sum(batch["mask"])}


def loss_fn(params, batch: dict, model: FrameLSTM, rng: jax.Array) -> jax.Array:
    logits = model.apply({"params": params}, batch["inputs"], train=True, rngs={"dropout": rng})
    sums = frame_nll_sums(logits, batch)
    return sums["nll_sum"] / jnp.maximum(sums["frames"], 1.0)


@functools.partial(jax.jit, static_argnames=("model", "tx"), donate_argnums=(0, 1))
def train_step(
    params,
    opt_state,
    batch: dict,
    step: jax.Array,
    *,
    model: FrameLSTM,
    tx: optax.GradientTransformation,
):
    """One optimizer step on batch {inputs, targets [B, T, 88], mask [B, T]}."""
    rng = jax.random.fold_in(jax.random.PRNGKey(0), step)
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, model, rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


@functools.partial(jax.jit, static_argnames=("model",))
def eval_step(params, batch: dict, *, model: FrameLSTM) -> dict:
    return frame_nll_sums(model.apply({"params": params}, batch["inputs"]), batch)


def pad_batch(rolls: list[np.ndarray], length: int) -> Batch:
    """Chorales [frames, 88] -> inputs = frames 0..n-2, targets = frames 1..n-1, padded to
    `length` with mask 0."""
    batch = {
        "inputs": np.zeros((len(rolls), length, PIANO_KEYS), np.float32),
        "targets": np.zeros((len(rolls), length, PIANO_KEYS), np.float32),
        "mask": np.zeros((len(rolls), length), np.float32),
    }
    for row, roll in enumerate(rolls):
        n = len(roll) - 1
        batch["inputs"][row, :n], batch["targets"][row, :n] = roll[:-1], roll[1:]
        batch["mask"][row, :n] = 1.0
    return batch


def frame_nll(
    params, model: FrameLSTM, rolls: list[np.ndarray], length: int, batch_size: int = 32
) -> float:
    """Mean NLL per scored frame (nats) over `rolls`."""
    total, frames = 0.0, 0.0
    for first in range(0, len(rolls), batch_size):
        sums = eval_step(params, pad_batch(rolls[first : first + batch_size], length), model=model)
        total, frames = total + float(sums["nll_sum"]), frames + float(sums["frames"])
    return total / frames


def train_and_score(
    model_cfg: FrameModelConfig,
    train_cfg: TrainConfig,
    rolls: dict[str, list[np.ndarray]],
    log: Callable[[str], None] = print,
) -> dict:
    """Train on whole training chorales (random batches), early-stop on valid frame NLL, and
    score the best parameters on valid and test."""
    model, tx = FrameLSTM(model_cfg), make_optimizer(train_cfg)
    length = max(len(r) for split in rolls.values() for r in split) - 1
    params = model.init(jax.random.PRNGKey(train_cfg.seed), jnp.zeros((1, length, PIANO_KEYS)))[
        "params"
    ]
    opt_state = tx.init(params)
    stopper, started = EarlyStopping(train_cfg.patience), time.time()
    rng = np.random.default_rng(train_cfg.seed)
    step = 0
    while step < train_cfg.steps:
        chosen = rng.choice(len(rolls["train"]), size=train_cfg.batch_size, replace=False)
        batch = pad_batch([rolls["train"][i] for i in chosen], length)
        params, opt_state, loss = train_step(
            params, opt_state, batch, jnp.asarray(step), model=model, tx=tx
        )
        step += 1
        if step % train_cfg.eval_every and step != train_cfg.steps:
            continue
        valid = frame_nll(params, model, rolls["valid"], length)
        stop = stopper.update(valid, step, params)
        log(
            f"  step {step}: train {float(loss):.3f}, valid frame nll {valid:.3f} "
            f"(best {stopper.best_nll:.3f} at {stopper.best_step}; {time.time() - started:.0f}s)"
        )
        if stop:
            break
    best_params = stopper.params
    return {
        "steps": step,
        "best_step": stopper.best_step,
        "train_s": round(time.time() - started, 1),
        "params": int(sum(x.size for x in jax.tree.leaves(best_params))),
        "valid_nll": frame_nll(best_params, model, rolls["valid"], length),
        "test_nll": frame_nll(best_params, model, rolls["test"], length),
    }
