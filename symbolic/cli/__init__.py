"""Command-line interface: parse arguments and call one function per subcommand.

Each stage's commands live in one module (data, train, generate, output, vae, demo), each command
registered by one `add_<command>(subparsers)`. Handlers import the API inside themselves, so
building the parser loads neither miditok nor jax. cli/ may import every room below it.
"""

from __future__ import annotations

import argparse
import sys

from symbolic.cli.arguments import DEFAULT_MANIFEST, attach_signed_values
from symbolic.cli.data import add_manifest, add_prepare
from symbolic.cli.demo import add_bench, add_demo
from symbolic.cli.generate import add_generate
from symbolic.cli.output import add_play, add_plot, add_ports, add_render
from symbolic.cli.train import add_eval, add_presets, add_train
from symbolic.cli.vae import add_similar, add_vae

__all__ = ["DEFAULT_MANIFEST", "build_parser", "main", "parse_args"]

# in the order `symbolic --help` lists them
COMMANDS = (
    add_demo,
    add_manifest,
    add_prepare,
    add_train,
    add_eval,
    add_generate,
    add_render,
    add_plot,
    add_ports,
    add_play,
    add_bench,
    add_presets,
    add_vae,
    add_similar,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbolic", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(attach_signed_values(argv))


def main(argv: list[str] | None = None) -> int:
    """The `symbolic` console script: 0 on success, 2 with one error line on a known failure."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"symbolic: error: {err}", file=sys.stderr)
        return 2
    return 0
