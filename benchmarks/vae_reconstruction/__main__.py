"""`python -m benchmarks.vae_reconstruction [--quick] [--eval-only] [--steps N]`: a MusicVAE-style
2-bar soprano-melody VAE on the Bach chorales, trained by the engine, scored on the test split.

Figures (MusicVAE's own, Roberts et al. 2018, 2-bar melody: 0.986 teacher-forced, 0.951 sampled):
reconstruction accuracy teacher-forced and sampled (greedy decoding from the posterior mean, events
compared step by step), KL per segment, the fraction of active latent dims (Var over segments of
E[z|x] > 0.01), and whether interpolations are musically "between" their ends (see
`interpolation_figures`).

The full run writes results.json/.md here; `--quick` (a few hundred steps, minutes on 2 CPU cores)
writes them under its work directory instead, so it never overwrites the committed figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
    write_results,
)

OUT_DIR = Path(__file__).resolve().parent
MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
PRESET = "vae_melody_2bar"
TRANSPOSE = (-5, 5)  # train copies, as MusicVAE's melody configs
QUICK_STEPS = 300
PATH_STEPS = 9  # points along each interpolation, ends included (the midpoint is point 4)
STATISTICS = ("mean_pitch", "density")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vae_reconstruction")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps (minutes on a CPU)")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--eval-only", action="store_true", help="score the run as it is")
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "runs" / "benchmarks")
    p.add_argument("--pairs", type=int, default=128, help="test segment pairs to interpolate")
    p.add_argument("--out", type=Path, default=None, help="default: here (quick: the workdir)")
    p.add_argument(
        "--notes", type=Path, default=None, help="a Markdown file appended to results.md"
    )
    return p.parse_args()


def interpolation_paths(run, segments: np.ndarray, pairs: int, seed: int = 0) -> np.ndarray:
    """Decoded slerp paths between `pairs` random pairs of segments [N, T] (distinct segments,
    seeded): events [pairs, PATH_STEPS, T] int32."""
    from symbolic.vae.latent import interpolate_latents
    from symbolic.vae.run import decode_latents, encode_segments

    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(len(segments), size=2, replace=False) for _ in range(pairs)])
    mu = encode_segments(run, segments[idx.ravel()]).reshape(pairs, 2, -1)
    z = np.concatenate([interpolate_latents(a, b, PATH_STEPS) for a, b in mu])
    return decode_latents(run, z).reshape(pairs, PATH_STEPS, -1)


def interpolation_figures(paths: np.ndarray, tmp: Path) -> dict[str, float | bool]:
    """ "Between-ness" of decoded paths [P, S, T] on mean pitch and note density.

    * `interpolation_monotonic` (the boolean the issue asks for): for each statistic, with every
      pair oriented so that its first end has the lower value, the average over pairs of the
      statistic at each of the S points never decreases from one end to the other;
    * `interpolation_midpoint_between_fraction`: the fraction of (pair, statistic) whose decoded
      midpoint lies within [min, max] of the decoded ends (ties included);
    * `interpolation_midpoint_valid_fraction`: midpoints that are MIDI files symusic reads back
      with at least one note.
    """
    from symusic import Score

    from symbolic.vae.attributes import attribute_values
    from symbolic.vae.files import write_midis

    pairs, steps, _ = paths.shape
    values = attribute_values(paths.reshape(pairs * steps, -1))
    monotonic, between = [], []
    for name in STATISTICS:
        v = values[name].reshape(pairs, steps)
        ok = np.isfinite(v[:, [0, -1]]).all(axis=1)
        v = np.where((v[:, :1] > v[:, -1:]), v[:, ::-1], v)[ok]  # low end first
        curve = np.nanmean(v, axis=0)
        monotonic.append(bool(np.all(np.diff(curve) >= 0)))
        mid, low, high = v[:, steps // 2], v[:, 0], v[:, -1]
        between.append((mid >= low) & (mid <= high))
    midis = write_midis(paths[:, steps // 2], tmp, "mid")
    valid = [sum(len(t.notes) for t in Score(str(p)).tracks) > 0 for p in midis]
    return {
        "interpolation_monotonic": all(monotonic),
        "interpolation_monotonic_mean_pitch": monotonic[0],
        "interpolation_monotonic_density": monotonic[1],
        "interpolation_midpoint_between_fraction": float(np.concatenate(between).mean()),
        "interpolation_midpoint_valid_fraction": float(np.mean(valid)),
    }


def prepare_data(data_dir: Path) -> None:
    """2-bar soprano segments, train transposed by TRANSPOSE (reused when already there)."""
    from symbolic.data import segments as seg
    from symbolic.data.meta import META_FILE, read_meta

    meta_path = data_dir / META_FILE
    if meta_path.is_file() and read_meta(meta_path).transpose == TRANSPOSE:
        return
    seg.prepare_segments(MANIFEST, data_dir, bars=2, melody=True, augment_transpose=TRANSPOSE)


def train(args, data_dir: Path, run_dir: Path) -> dict:
    """Train (or resume) the preset through the engine; {} with --eval-only."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    if args.eval_only:
        return {}
    steps = args.steps or (QUICK_STEPS if args.quick else None)
    cfg = config_lib.resolve("vae", PRESET, steps=steps)
    return trainer.train(cfg, data_dir, run_dir, progress=False)


def per_work_sampled(run, data: dict, works: list[str]) -> dict[str, float | str]:
    """Sampled reconstruction accuracy per test work: the worst work, its accuracy, and the
    accuracy of the split without it (one odd work can dominate a small test split)."""
    from symbolic.vae.run import decode_latents, encode_segments

    segments = data["segments"]
    decoded = decode_latents(run, encode_segments(run, segments))
    correct = decoded == segments  # [N, T]
    accs = {w: float(correct[data["work"] == w].mean()) for w in np.unique(data["work"])}
    worst = min(accs, key=accs.get)
    return {
        "worst_test_work": works[int(worst)],
        "worst_test_work_segments": int((data["work"] == worst).sum()),
        "worst_test_work_recon_acc_sampled": accs[worst],
        "recon_acc_sampled_without_worst_work": float(correct[data["work"] != worst].mean()),
        "test_works_sampled_above_0.95": float(np.mean([a >= 0.95 for a in accs.values()])),
    }


def similarity_figures(run, works: list[str], tmp: Path) -> dict[str, float]:
    """`symbolic similar` on an index of the test works: each work's copy, transposed up 2
    semitones with every fifth melody note a semitone higher, is the query; the fractions of
    queries whose original ranks first and in the top 5."""
    from symbolic.data import segments as seg
    from symbolic.data.manifest import load_manifest, source_root
    from symbolic.data.prepare import default_cache_dir, load_work
    from symbolic.vae.similarity import encode_files, similar_command

    manifest = load_manifest(MANIFEST)
    by_id = {work.id: work for work in manifest.works}
    files, melodies = [], []
    for work_id in works:
        score = load_work(by_id[work_id], source_root(manifest), default_cache_dir())
        files.append(tmp / f"{work_id}.mid")
        score.dump_midi(str(files[-1]))
        melodies.append(seg.melody_events(score))
    encode_files(run, files, tmp / "index.npz")
    ranks = []
    for path, events in zip(files, melodies, strict=True):
        altered = events.copy()
        altered[np.flatnonzero(events >= seg.FIRST_PITCH)[::5]] += 1
        seg.events_to_score(seg.transpose_events(altered, 2)).dump_midi(str(tmp / "query.mid"))
        ranked = similar_command(tmp / "query.mid", tmp / "index.npz", k=len(files))
        ranks.append([name for name, _ in ranked].index(str(path)) + 1)
    ranks = np.asarray(ranks)
    return {
        "similarity_queries": len(ranks),
        "similarity_top1_fraction": float(np.mean(ranks == 1)),
        "similarity_top5_fraction": float(np.mean(ranks <= 5)),
    }


def final_beta(run_dir: Path) -> float:
    """The KL weight beta(step) at the last logged training step."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return float([r for r in records if r.get("split") == "train"][-1]["beta"])


def render_markdown(r: dict) -> str:
    rows = [
        ["teacher-forced recon accuracy", r["recon_acc_teacher_forced"], 0.986],
        ["sampled recon accuracy (target >= 0.95)", r["recon_acc_sampled"], 0.951],
        ["segments reproduced exactly (sampled)", r["segment_exact_sampled"], "-"],
        ["active latent dims (fraction; target >= 0.5)", r["active_dims_fraction"], "-"],
        ["KL per segment (nats)", r["kl_per_segment"], "-"],
        ["interpolation_monotonic", r["interpolation_monotonic"], "-"],
        ["midpoint between ends (fraction)", r["interpolation_midpoint_between_fraction"], "-"],
        ["midpoint valid MIDI with notes", r["interpolation_midpoint_valid_fraction"], "-"],
        ["similar: altered copy finds original first", r["similarity_top1_fraction"], "-"],
        ["similar: original in the top 5", r["similarity_top5_fraction"], "-"],
    ]
    table = markdown_table(["metric (test split)", "this run", "MusicVAE 2-bar melody"], rows)
    return f"""# vae_reconstruction

2-bar soprano melodies of the Bach chorales (MusicVAE's melody encoding: 16th grid, 130 classes).
Train segments are transposed by {TRANSPOSE[0]}..{TRANSPOSE[1]} semitones; preset `{PRESET}`
(latent {r["latent_dim"]}, beta {r["final_kl_beta"]:.4f} at the last step, no free bits).
Best checkpoint (lowest validation NLL) at step {r["checkpoint_step"]}; {r["test_segments"]} \
test segments from works never seen in training.

{table}

Sampled reconstruction: each test segment is encoded to its posterior mean, decoded greedily
(argmax at every step, feeding back the model's own event), and compared with the input step by
step, as MusicVAE reports it. Teacher-forced: argmax of each step given the true previous events.

Per work: {r["test_works_sampled_above_0.95"]:.0%} of the test works reach 0.95 sampled.
The worst is `{r["worst_test_work"]}` ({r["worst_test_work_segments"]} segments, sampled \
{r["worst_test_work_recon_acc_sampled"]:.3f}); without it the test split scores \
{r["recon_acc_sampled_without_worst_work"]:.3f} sampled.

`interpolation_monotonic` is true when, for both mean pitch and note density, the statistic
averaged over {r["interpolation_pairs"]} random test pairs (each pair oriented low end first)
never decreases along the {PATH_STEPS}-point slerp path (mean pitch: \
{r["interpolation_monotonic_mean_pitch"]}, density: {r["interpolation_monotonic_density"]}).
Per pair, the decoded midpoint lies between the decoded ends (ties included) in \
{r["interpolation_midpoint_between_fraction"]:.3f} of (pair, statistic) cases.

`symbolic similar`: an index of the {r["similarity_queries"]} test works; each query is a work's
melody transposed up 2 semitones with every fifth note a semitone higher.

Command: `{r["command"]}`{" (scoring the run already trained)" if r["eval_only"] else ""}.
Its last training session: {r["train_wall_s"]:.0f} s for {r["train_steps_this_session"]} steps.
By hand, the same run is
`symbolic vae prepare data_manifests/bach_chorales.json --bars 2 --melody --transpose=-5..5 \
--out SEG`, then `symbolic train --model vae --preset {PRESET} --data SEG --workdir RUN`, then
`symbolic vae eval RUN`.

Device: {r["device"]} ({r["cpu_count"]} CPU cores, backend {r["backend"]}); jax \
{r["jax_version"]}, flax {r["flax_version"]}, optax {r["optax_version"]}, numpy \
{r["numpy_version"]}, Python {r["python"]}, commit {r["git_commit"]}.
{load_line(r)} The load changes the wall time, not the figures.
"""


def main() -> None:
    import tempfile

    from symbolic.data import segments as seg
    from symbolic.data.meta import load_meta
    from symbolic.training.checkpoint import restore_params
    from symbolic.vae.evaluation import evaluate_run
    from symbolic.vae.run import load_vae

    args = parse_args()
    data_dir = args.workdir / "vae_segments_2bar_t5"
    run_dir = args.workdir / (f"{PRESET}_quick" if args.quick else PRESET)
    out_dir = args.out or (args.workdir / "vae_reconstruction_quick" if args.quick else OUT_DIR)
    load_before = load_average()
    prepare_data(data_dir)
    train(args, data_dir, run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    run = load_vae(run_dir)
    test_data = seg.load_segments(data_dir, "test")
    test = test_data["segments"]
    works = list(load_meta(data_dir).works["test"])
    metrics = evaluate_run(run_dir, "test", data_dir)
    with tempfile.TemporaryDirectory(prefix="vae-bench-") as tmp:
        between = interpolation_figures(interpolation_paths(run, test, args.pairs), Path(tmp))
        similarity = similarity_figures(run, works, Path(tmp))
    results = {
        "benchmark": "vae_reconstruction",
        "command": command_line("benchmarks.vae_reconstruction"),
        "quick": args.quick,
        "eval_only": args.eval_only,
        "preset": PRESET,
        "checkpoint_step": int(restore_params(run_dir)[1]),
        "recon_acc_teacher_forced": metrics["recon_acc_teacher_forced"],
        "recon_acc_sampled": metrics["recon_acc_sampled"],
        "segment_exact_sampled": metrics["segment_exact_sampled"],
        "kl_per_segment": metrics["kl_per_segment"],
        "active_dims": metrics["active_dims"],
        "latent_dim": run.model.latent_dim,
        "active_dims_fraction": metrics["active_dims_fraction"],
        **between,
        **per_work_sampled(run, test_data, works),
        **similarity,
        "final_kl_beta": final_beta(run_dir),
        "interpolation_pairs": args.pairs,
        "test_segments": metrics["segments"],
        "train_wall_s": summary["wall_s"],
        "train_steps_this_session": summary["steps_this_session"],
        "load_before": load_before,
        "load_after": load_average(),
        **environment(),
    }
    md = render_markdown(results)
    if args.notes is not None:
        md += "\n" + args.notes.read_text()
    write_results(out_dir, results, md)
    print(md)


main()
