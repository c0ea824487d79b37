"""`symbolic demo` (the README's main job) and `symbolic bench` (a benchmark from benchmarks/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symbolic.cli.arguments import DEFAULT_MANIFEST


def cmd_demo(args) -> None:
    from symbolic.demo import run_demo

    run_demo(
        args.out,
        model_name=args.model,
        steps=args.steps,
        num=args.num,
        manifest=args.manifest,
        tokenizer=args.tokenizer,
    )


def cmd_bench(args) -> None:
    """Run `python -m benchmarks.NAME ARGS...` from the repository root."""
    import runpy

    from symbolic.resources import source_checkout

    root = source_checkout()
    if root is None:
        raise ValueError(
            "the benchmarks ship with the source repository, not the installed package: "
            "run `symbolic bench` from a clone (pip install -e .)"
        )
    if not (root / "benchmarks" / args.name / "__main__.py").is_file():
        names = sorted(p.parent.name for p in (root / "benchmarks").glob("*/__main__.py"))
        raise ValueError(f"unknown benchmark {args.name!r}; available: {names}")
    sys.path.insert(0, str(root))
    sys.argv = [f"benchmarks.{args.name}", *args.bench_args]
    runpy.run_module(f"benchmarks.{args.name}", run_name="__main__")


def add_demo(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="prepare the Bach chorales, train, generate MIDI and WAV"
    )
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder")
    p.add_argument("--model", choices=["transformer", "lstm"], default="transformer")
    p.add_argument("--steps", type=int, default=None, help="override the demo preset's steps")
    p.add_argument("--num", type=int, default=4, help="pieces to generate")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--tokenizer", default="remi")
    p.set_defaults(func=cmd_demo)


def add_bench(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run a benchmark from benchmarks/ (e.g. chorales_nll --quick)"
    )
    p.add_argument("name")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    p.set_defaults(func=cmd_bench)
