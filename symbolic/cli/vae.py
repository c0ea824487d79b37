"""`symbolic vae ...`: argument parsing only (`symbolic similar`, which also reads a `vae encode`
index, is in cli/retrieval.py); the work is in
`symbolic.vae` (and `symbolic.data.segments` for prepare). Imports are inside the handlers
(no jax to parse).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from symbolic.cli.arguments import add_transpose_arg


def cmd_vae_prepare(args) -> None:
    from symbolic.data.segments import prepare_segments

    meta = prepare_segments(
        args.manifest,
        args.out,
        bars=args.bars,
        melody=args.melody,
        program=args.program,
        augment_transpose=args.transpose,
    )
    counts = ", ".join(f"{k}: {v.segments} segments" for k, v in meta.counts.items())
    print(
        f"prepared {args.out} ({meta.segment_steps} steps; {counts}; "
        f"{len(meta.skipped)} works skipped)"
    )


def _check_render_has_out(args) -> None:
    """`--render` on a command whose MIDI examples are optional needs their folder."""
    if args.render and args.out is None:
        raise ValueError("--render writes WAVs of the examples: pass --out DIR as well")


def _print_paths(paths) -> None:
    for path in paths:
        print(path)


def cmd_vae_encode(args) -> None:
    from symbolic.vae import load_vae
    from symbolic.vae.files import render_beside
    from symbolic.vae.similarity import encode_files

    index = encode_files(load_vae(args.run), args.files, args.out)
    print(f"wrote {args.out}: {len(index['mu'])} segments of {len(args.files)} files")
    if args.render:
        _print_paths(render_beside(args.files))


def cmd_vae_sample(args) -> None:
    from symbolic.vae import load_vae
    from symbolic.vae.commands import check_sampling, sample_command

    check_sampling(args.num, args.seed, args.temperature)  # before the run is loaded
    run = load_vae(args.run)
    _print_paths(
        sample_command(
            run,
            args.num,
            args.out,
            seed=args.seed,
            temperature=args.temperature,
            attributes=args.attribute,
            render=args.render,
        )
    )


def cmd_vae_interpolate(args) -> None:
    from symbolic.vae import load_vae
    from symbolic.vae.commands import interpolate_command

    run = load_vae(args.run)
    _print_paths(
        interpolate_command(
            run,
            args.a,
            args.b,
            args.steps,
            args.out,
            method=args.method,
            segment=args.segment,
            render=args.render,
        )
    )


def cmd_vae_vary(args) -> None:
    from symbolic.vae import load_vae
    from symbolic.vae.commands import check_sampling, vary_command

    check_sampling(args.num, args.seed)  # before the run is loaded
    run = load_vae(args.run)
    _print_paths(
        vary_command(
            run,
            args.input,
            args.amount,
            args.num,
            args.out,
            seed=args.seed,
            segment=args.segment,
            attributes=args.attribute,
            render=args.render,
        )
    )


def cmd_vae_attribute(args) -> None:
    from symbolic.vae import attributes, load_vae

    _check_render_has_out(args)
    if args.name and args.name not in attributes.ATTRIBUTE_NAMES:
        raise ValueError(f"--name {args.name}: choose from {list(attributes.ATTRIBUTE_NAMES)}")
    run = load_vae(args.run)
    vectors = attributes.compute_attributes(run, args.data)
    if args.name:
        vectors = {args.name: vectors[args.name]}
    for name, vector in vectors.items():
        print(f"{name}: |vector| = {float((vector**2).sum() ** 0.5):.3f}")
    print(f"wrote {Path(args.run) / attributes.ATTRIBUTES_FILE}")
    if args.out is not None:
        _print_paths(attributes.attribute_examples(run, vectors, args.out, render=args.render))


def cmd_vae_eval(args) -> None:
    from symbolic.vae.evaluation import evaluate_run

    _check_render_has_out(args)
    metrics = evaluate_run(
        args.run_dir, args.split, args.data, examples_dir=args.out, render=args.render
    )
    print(json.dumps(metrics, indent=2))


def _run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, required=True, help="a trained `--model vae` run directory")


def _render_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--render", action="store_true", help=f"also write a WAV beside {what}")


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="output folder (one MIDI per item)")
    _render_arg(p, "each MIDI")
    p.add_argument("--seed", type=int, default=0)


def _attribute_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="NAME=AMOUNT",
        help="move along an attribute vector, e.g. density=+1.5 (see `symbolic vae attribute`)",
    )


def _add_generation_commands(vae) -> None:
    p = vae.add_parser("sample", help="decode melodies from random latents")
    _run_arg(p)
    _output_args(p)
    _attribute_arg(p)
    p.add_argument("--num", type=int, default=4)
    p.add_argument("--temperature", type=float, default=0.0, help="0 means greedy")
    p.set_defaults(func=cmd_vae_sample)

    p = vae.add_parser("interpolate", help="one MIDI per step between two files' latents")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    _run_arg(p)
    _output_args(p)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    p.add_argument("--segment", type=int, default=0, help="which segment of each file")
    p.set_defaults(func=cmd_vae_interpolate)

    p = vae.add_parser("vary", help="variations around one file's latent")
    p.add_argument("input", type=Path)
    _run_arg(p)
    _output_args(p)
    _attribute_arg(p)
    p.add_argument("--amount", type=float, default=0.3, help="std of the latent noise")
    p.add_argument("--num", type=int, default=5)
    p.add_argument("--segment", type=int, default=0, help="which segment of the file")
    p.set_defaults(func=cmd_vae_vary)


def _add_prepare_and_encode(vae) -> None:
    p = vae.add_parser("prepare", help="cut a manifest's works into bar-aligned melody segments")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--bars", type=int, default=2, help="bars per segment (2 or 16 in the presets)")
    p.add_argument("--melody", action="store_true", help="the top voice, MusicVAE's encoding")
    p.add_argument("--program", type=int, default=40, help="program of the melody track")
    add_transpose_arg(
        p, "augment train by transposed copies, LOW..HIGH semitones (MusicVAE: -5..5)"
    )
    p.set_defaults(func=cmd_vae_prepare)

    p = vae.add_parser("encode", help="latent means of files' segments -> EMB.npz")
    p.add_argument("files", type=Path, nargs="+")
    _run_arg(p)
    p.add_argument("--out", type=Path, required=True)
    _render_arg(p, "each input file")
    p.set_defaults(func=cmd_vae_encode)


def _add_analysis_commands(vae) -> None:
    p = vae.add_parser("attribute", help="attribute vectors over the run's training segments")
    _run_arg(p)
    p.add_argument("--name", default=None, help="print one (density, mean_pitch, syncopation)")
    p.add_argument("--data", type=Path, default=None, help="segments dir (default: the run's)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write examples: the prior mean moved by -2, -1, 0, +1, +2 times each vector",
    )
    _render_arg(p, "each example MIDI (needs --out)")
    p.set_defaults(func=cmd_vae_attribute)

    p = vae.add_parser("eval", help="reconstruction accuracy, KL, active dims on held-out data")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--data", type=Path, default=None, help="segments dir (default: the run's)")
    p.add_argument(
        "--out", type=Path, default=None, help="also write 4 inputs and their reconstructions"
    )
    _render_arg(p, "each example MIDI (needs --out)")
    p.set_defaults(func=cmd_vae_eval)


def add_vae(subparsers) -> None:
    """Register `vae` (prepare, encode, sample, interpolate, vary, attribute, eval)."""
    vae = subparsers.add_parser("vae", help="MusicVAE: segments, latents, sampling, interpolation")
    vae = vae.add_subparsers(dest="vae_command", required=True)
    _add_prepare_and_encode(vae)
    _add_generation_commands(vae)
    _add_analysis_commands(vae)
