"""MusicVAE's reconstruction metrics on held-out segments (`symbolic vae eval`)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from symbolic.data import segments as seg
from symbolic.models import vae
from symbolic.training.trainer import MetricsLog
from symbolic.vae.files import write_midis
from symbolic.vae.run import VAERun, chunks, decode_latents, encode_segments, load_vae


def reconstruction_metrics(run: VAERun, segments: np.ndarray) -> dict[str, float]:
    """MusicVAE's metrics on segments [N, T]: teacher-forced and sampled (greedy, from mu)
    reconstruction accuracy (fraction of steps reproduced), KL nats per segment, and the active
    latent dims (Cov over segments of E[z|x] above 0.01: posterior collapse shows as few)."""
    model = vae.MusicVAE(run.model)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x))
    tf_correct, kls = [], []
    for chunk, n in chunks(segments):
        logits, mu, logvar = apply(run.params, chunk)
        tf_correct.append(np.asarray(jnp.argmax(logits, -1) == chunk)[:n])
        kls.append(np.asarray(vae.kl_divergence(mu, logvar))[:n])
    mu = encode_segments(run, segments)
    sampled = decode_latents(run, mu)
    active = int((np.var(mu, axis=0) > 0.01).sum())
    return {
        "recon_acc_teacher_forced": float(np.concatenate(tf_correct).mean()),
        "recon_acc_sampled": float((sampled == segments).mean()),
        "segment_exact_sampled": float((sampled == segments).all(axis=1).mean()),
        "kl_per_segment": float(np.concatenate(kls).mean()),
        "active_dims": active,
        "active_dims_fraction": active / run.model.latent_dim,
        "segments": len(segments),
    }


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    data_dir: str | Path | None = None,
    *,
    examples_dir: str | Path | None = None,
    num_examples: int = 4,
    render: bool = False,
) -> dict:
    """`reconstruction_metrics` on a held-out split, appended to RUN_DIR/metrics.jsonl. With
    `examples_dir`, the first `num_examples` segments and their sampled reconstructions are
    written there as input_NNN.mid / recon_NNN.mid (+ WAV if render), to be heard."""
    run = load_vae(run_dir)
    data_dir = data_dir or run.meta.data_dir
    if data_dir is None:
        raise ValueError("the run's meta.json names no data_dir; pass --data SEGMENTS_DIR")
    segments = seg.load_segments(data_dir, split)["segments"]
    if len(segments) == 0:  # nothing to score: say which split
        raise ValueError(f"{data_dir}: split {split!r} is empty; score another --split")
    metrics = {"event": "vae_eval", "split": split, **reconstruction_metrics(run, segments)}
    MetricsLog.of_run(run_dir).write(metrics)
    if examples_dir is not None:
        inputs = segments[:num_examples]
        recons = decode_latents(run, encode_segments(run, inputs))
        write_midis(inputs, examples_dir, "input", render=render)
        write_midis(recons, examples_dir, "recon", render=render)
    return metrics
