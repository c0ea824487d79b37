"""Timed samplers for one (batch, length): cached, uncached (full recompute) and the HF peer.

All three start from a one-token prompt (BOS) and produce `length - 1` new tokens with plain
temperature-1 sampling; the weights are random (speed does not depend on them). EOS is disabled
(eos_id=-1) so that every row runs to the full length.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp

from symbolic import models
from symbolic.generation import sampling
from symbolic.generation.engine import decode_config, jitted_sampler

BOS, PAD, NO_EOS = 1, 0, -1


def init_params(model_cfg, seed: int = 0):
    """Random parameters of the Transformer `model_cfg`."""
    model = models.build("transformer", model_cfg)
    return jax.jit(model.init)(jax.random.PRNGKey(seed), jnp.zeros((1, 8), jnp.int32))["params"]


def time_cached(run_cfg, params, batch: int, length: int) -> dict:
    """`symbolic.generation.sampling.sample` with the KV cache (the `symbolic generate` path)."""
    cfg = decode_config(run_cfg, length)
    fn = jitted_sampler("transformer", cfg, length - 1, NO_EOS, PAD)
    state = models.decoder("transformer").init_decode_state(cfg, params, batch)
    prompt = jnp.full((batch, 1), BOS, jnp.int32)
    kwargs = {"rng": jax.random.PRNGKey(0)}
    start = time.perf_counter()
    compiled = fn.lower(params, state, prompt, **kwargs).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(params, state, prompt, **kwargs))
    elapsed = time.perf_counter() - start
    new_tokens = int((out.lengths - 1).sum())
    return {"tokens_per_s": new_tokens / elapsed, "seconds": elapsed, "compile_s": compile_s}


def _recompute_loop(params, tokens, start, rng, *, model, steps: int):
    """`steps` sampling steps from position `start`, each running the whole padded sequence.

    tokens: [B, L] int32, the padded sequence; returns it with `steps` tokens written."""

    def body(i, tokens):
        position = start + i
        logits = model.apply({"params": params}, tokens)  # [B, L, V]: no cache, full forward
        logits = jax.lax.dynamic_index_in_dim(logits, position, axis=1, keepdims=False)
        token = sampling.choose(logits, jax.random.fold_in(rng, position), 1.0)
        return jax.lax.dynamic_update_slice(tokens, token[:, None], (0, position + 1))

    return jax.lax.fori_loop(0, steps, body, tokens)


def time_uncached(model_cfg, params, batch: int, length: int, steps: int) -> dict:
    """Full recompute on the padded [batch, length] sequence per step; every step costs the same
    (the padded length is fixed), so `steps` steps from the middle give the full run's rate."""
    model = models.build("transformer", model_cfg)
    tokens = jnp.full((batch, length), PAD, jnp.int32).at[:, 0].set(BOS)
    start_pos, rng = jnp.int32(length // 2), jax.random.PRNGKey(0)
    run = jax.jit(functools.partial(_recompute_loop, model=model, steps=steps))
    start = time.perf_counter()
    compiled = run.lower(params, tokens, start_pos, rng).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(compiled(params, tokens, start_pos, rng))
    elapsed = time.perf_counter() - start
    return {"tokens_per_s": batch * steps / elapsed, "seconds": elapsed, "compile_s": compile_s}


def time_peer(model_cfg, batch: int, length: int, threads: int = 0) -> dict:
    """HF GPT-2 `generate` (same sizes, random weights, KV cache) in PyTorch on the CPU."""
    import torch

    from benchmarks.train_throughput.peers import gpt2_model, set_threads

    torch.manual_seed(0)
    set_threads(threads)
    shape = {**dataclasses.asdict(model_cfg), "dropout": 0.0}
    model = gpt2_model(shape, max(length, 1024)).eval()
    prompt = torch.full((batch, 1), BOS, dtype=torch.long)
    new = length - 1
    kwargs = dict(
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=True,
        use_cache=True,
        pad_token_id=PAD,
        attention_mask=torch.ones_like(prompt),
    )
    with torch.inference_mode():
        model.generate(prompt, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        start = time.perf_counter()
        out = model.generate(prompt, **kwargs)
        elapsed = time.perf_counter() - start
    return {"tokens_per_s": batch * (out.shape[1] - 1) / elapsed, "seconds": elapsed}
