"""Analytic training FLOPs per token and this machine's measured matmul peak.

FLOPs count multiply-adds as 2, matmuls only (layer norms, softmax, the optimizer and elementwise
work are ignored, as in the PaLM/Chinchilla convention), and a training step as 3x the forward
pass (forward + backward of activations + backward of weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def transformer_train_flops_per_token(
    d_model: int, num_layers: int, d_ff: int, vocab_size: int, seq_len: int
) -> float:
    """6 * N_matmul + 12 * L * d * T (PaLM appendix B), with N_matmul = L (4 d^2 + 2 d d_ff) + d V.

    N_matmul counts the weights every token multiplies with: Q, K, V and output projections, the
    two feed-forward matrices, and the (tied) output embedding; the input embedding is a lookup.
    The 12 L d T term is attention's QK^T and AV over the full (not causally halved) context.
    """
    n_matmul = num_layers * (4 * d_model**2 + 2 * d_model * d_ff) + d_model * vocab_size
    return 6.0 * n_matmul + 12.0 * num_layers * d_model * seq_len


def lstm_train_flops_per_token(
    embed_dim: int, hidden_size: int, num_layers: int, vocab_size: int
) -> float:
    """6 * N_matmul with N_matmul = sum over layers of 4 h (in + h) + h V (gates and head)."""
    n_matmul, width = 0, embed_dim
    for _ in range(num_layers):
        n_matmul += 4 * hidden_size * (width + hidden_size)
        width = hidden_size
    return 6.0 * (n_matmul + hidden_size * vocab_size)


def _best_gflops(matmul: Callable[[], object], flops: float, repeats: int) -> float:
    """GFLOP/s of the fastest of `repeats` calls of `matmul`, which does `flops` FLOPs."""
    matmul()  # warm-up: compile, fault in pages, spin up the thread pool
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def _jax_matmul_gflops(m: int, k: int, n: int, repeats: int) -> tuple[float, tuple]:
    """GFLOP/s of a jitted float32 [m, k] @ [k, n] matmul, and its numpy operands."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm = jax.jit(jnp.matmul)
    gflops = _best_gflops(lambda: mm(ja, jb).block_until_ready(), 2.0 * m * k * n, repeats)
    return gflops, (a, b)


def peak_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """float32 matmul GFLOP/s with every core busy (one large matmul through jax.jit and numpy);
    `peak_gflops` is the higher of the two."""
    jax_gflops, (a, b) = _jax_matmul_gflops(n, n, n, repeats)
    numpy_gflops = _best_gflops(lambda: a @ b, 2.0 * n**3, repeats)
    return {
        "peak_gflops": max(jax_gflops, numpy_gflops),
        "peak_gflops_jax": jax_gflops,
        "peak_gflops_numpy": numpy_gflops,
        "peak_matmul_n": n,
    }


def shaped_matmul_gflops(m: int, k: int, n: int, repeats: int = 5) -> float:
    """jax.jit GFLOP/s of one float32 [m, k] @ [k, n] matmul: the ceiling a model whose matmuls
    have this shape can reach, with nothing else to do."""
    return _jax_matmul_gflops(m, k, n, repeats)[0]
