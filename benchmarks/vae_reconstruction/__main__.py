"""`python -m benchmarks.vae_reconstruction [--quick] [--eval-only]`: a MusicVAE-style 2-bar
soprano-melody VAE on the Bach chorales, trained by the engine, scored on the test split.

Figures (MusicVAE's own, Roberts et al. 2018, 2-bar melody: 0.986 teacher-forced, 0.951 sampled):
reconstruction accuracy teacher-forced and sampled (greedy decoding from the posterior mean), KL
per segment, the fraction of active latent dims (Var over segments of E[z|x] > 0.01), and whether
interpolations are musically "between" their ends: for random pairs of test segments, the decoded
slerp midpoint's mean pitch and note density lie between those of the decoded ends.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, command_line, environment, markdown_table, write_results

OUT_DIR = Path(__file__).resolve().parent
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vae_reconstruction")
    p.add_argument("--quick", action="store_true", help="a short run (minutes on a CPU)")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--eval-only", action="store_true", help="score the run as it is")
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "runs" / "benchmarks")
    p.add_argument("--pairs", type=int, default=64, help="segment pairs to interpolate")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    return p.parse_args()


def interpolation_between(run, segments: np.ndarray, pairs: int, seed: int = 0) -> float:
    """Fraction of (pair, attribute) whose decoded midpoint lies between the decoded ends, for
    attributes mean pitch and density over `pairs` random pairs of segments [N, T]."""
    from symbolic import vae_tools

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(segments), size=(pairs, 2), replace=len(segments) < 2 * pairs)
    mu = vae_tools.encode_segments(run, segments[idx.ravel()]).reshape(pairs, 2, -1)
    paths = np.concatenate([vae_tools.interpolate_latents(a, b, 3) for a, b in mu])
    values = vae_tools.attribute_values(vae_tools.decode_latents(run, paths))
    hits = []
    for name in ("mean_pitch", "density"):
        v = values[name].reshape(pairs, 3)
        low, high = np.minimum(v[:, 0], v[:, 2]), np.maximum(v[:, 0], v[:, 2])
        ok = np.isfinite(v).all(axis=1)
        hits.append(((v[:, 1] >= low) & (v[:, 1] <= high))[ok])
    return float(np.concatenate(hits).mean())


def train(args, data_dir: Path, run_dir: Path) -> dict | None:
    from symbolic import config as config_lib
    from symbolic import trainer

    steps = args.steps or (300 if args.quick else None)
    cfg = config_lib.resolve("vae", "vae_melody_2bar", steps=steps)
    if args.eval_only:
        return None
    return trainer.train(cfg, data_dir, run_dir, progress=False)


def main() -> None:
    from symbolic import vae_tools
    from symbolic.checkpoint import restore_params
    from symbolic.data import segments as seg

    args = parse_args()
    data_dir = args.workdir / "vae_segments_2bar"
    run_dir = args.workdir / ("vae_melody_2bar_quick" if args.quick else "vae_melody_2bar")
    if not (data_dir / "meta.json").is_file():
        seg.prepare_segments(MANIFEST, data_dir, bars=2, melody=True)
    started = time.time()
    train(args, data_dir, run_dir)
    run = vae_tools.load_vae(run_dir)
    test = seg.load_segments(data_dir, "test")["segments"]
    metrics = vae_tools.reconstruction_metrics(run, test)
    between = interpolation_between(run, test, args.pairs)
    steps = restore_params(run_dir)[1]
    results = {
        "benchmark": "vae_reconstruction",
        "command": command_line("benchmarks.vae_reconstruction"),
        "quick": args.quick,
        "checkpoint_step": int(steps),
        "recon_acc_teacher_forced": metrics["recon_acc_teacher_forced"],
        "recon_acc_sampled": metrics["recon_acc_sampled"],
        "segment_exact_sampled": metrics["segment_exact_sampled"],
        "kl_per_segment": metrics["kl_per_segment"],
        "active_dims": metrics["active_dims"],
        "latent_dim": run.model.latent_dim,
        "active_dims_fraction": metrics["active_dims_fraction"],
        "interpolation_monotonic": between,
        "test_segments": metrics["segments"],
        "wall_s": time.time() - started,
        **environment(),
    }
    rows = [
        ["teacher-forced recon accuracy", results["recon_acc_teacher_forced"], 0.986],
        ["sampled recon accuracy", results["recon_acc_sampled"], 0.951],
        ["active latent dims (fraction)", results["active_dims_fraction"], "-"],
        ["KL per segment (nats)", results["kl_per_segment"], "-"],
        ["interpolation midpoint between ends", results["interpolation_monotonic"], "-"],
    ]
    table = markdown_table(["metric", "this run", "MusicVAE 2-bar melody"], rows)
    md = (
        f"# vae_reconstruction\n\n2-bar soprano melodies of the Bach chorales (16th grid, 130 "
        f"classes), preset `vae_melody_2bar`, best checkpoint at step {steps}, "
        f"{metrics['segments']} test segments.\n\n{table}\n\n"
        f"`interpolation_monotonic`: the fraction of (pair, attribute) over {args.pairs} random "
        "test pairs whose decoded slerp midpoint lies between the decoded ends on mean pitch "
        "and note density.\n\n"
        f"Command: `{results['command']}` on {results['device']} ({results['cpu_count']} CPUs).\n"
    )
    write_results(args.out, results, md)
    print(md)


main()
