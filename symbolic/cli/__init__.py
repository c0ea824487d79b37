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


# What a user can cause: a bad path, a full disk (OSError), a bad file or value (ValueError and
# the project's subclasses), a failed tool such as FluidSynth (RuntimeError: RenderError, ...).
USER_ERRORS = (OSError, ValueError, RuntimeError)
USER_ERROR, INTERNAL_ERROR = 2, 1  # 2 as argparse's own usage errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbolic", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(attach_signed_values(argv))


def error_line(err: BaseException, more: str = " (the rest with --debug)") -> str:
    """`<file>: <problem>` of an error, on one line: the first line of a longer message (a JAX
    or tensorstore error runs to hundreds), the file and reason of a system OSError."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        target = f" -> {err.filename2}" if err.filename2 is not None else ""  # a rename's
        text = f"{err.filename}{target}: {err.strerror}"
    else:
        text = str(err).strip() or type(err).__name__
    first = text.splitlines()[0]
    return first if first == text else first + more


def main(argv: list[str] | None = None) -> int:
    """The `symbolic` console script: 0 on success, 2 with one error line on a user error (a bad
    file, path or value), 1 with the error's type on a bug; `--debug` shows the traceback."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.debug:
        args.func(args)
        return 0
    try:
        args.func(args)
    except USER_ERRORS as err:
        print(f"symbolic: error: {error_line(err)}", file=sys.stderr)
        return USER_ERROR
    except Exception as err:  # a bug, not the user's input: say so, not silence it
        print(
            f"symbolic: error: internal error, {type(err).__name__}: {error_line(err, '')}; "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return INTERNAL_ERROR
    return 0
