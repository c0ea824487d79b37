"""Command-line interface: parse arguments and call one function per subcommand.

Each stage's commands live in one module (data, train, generate, output, vae, demo), each command
registered by one `add_<command>(subparsers)`. Handlers import the API inside themselves, so
building the parser loads neither miditok nor jax. cli/ may import every room below it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import NoReturn

from symbolic.cli.analysis import add_analyze
from symbolic.cli.arguments import DEFAULT_MANIFEST, attach_signed_values
from symbolic.cli.audio import add_audio, add_transcribe
from symbolic.cli.data import add_manifest, add_prepare
from symbolic.cli.demo import add_bench, add_demo
from symbolic.cli.gan import add_gan
from symbolic.cli.generate import add_generate
from symbolic.cli.output import add_play, add_plot, add_ports, add_render
from symbolic.cli.retrieval import add_index, add_similar
from symbolic.cli.studio import add_serve
from symbolic.cli.train import add_eval, add_presets, add_train
from symbolic.cli.vae import add_vae

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
    add_analyze,
    add_ports,
    add_play,
    add_bench,
    add_presets,
    add_vae,
    add_gan,
    add_index,
    add_similar,
    add_audio,
    add_transcribe,
    add_serve,
)


# What a user can cause: a bad path, a full disk (OSError), a bad file or value (ValueError and
# the project's subclasses), a failed tool such as FluidSynth (RuntimeError: RenderError, ...).
USER_ERRORS = (OSError, ValueError, RuntimeError)
USER_ERROR, INTERNAL_ERROR = 2, 1  # 2 as argparse's own usage errors


class _Parser(argparse.ArgumentParser):
    """argparse, its usage errors as the one line every other error is (exit 2 as before):
    `symbolic: error: generate: argument --num: invalid int value: 'x' (see ...)`, not a
    usage block and a second error line. Subparsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("symbolic").strip()
        where = f"{command}: " if command else ""
        self.exit(USER_ERROR, f"symbolic: error: {where}{message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbolic", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    for i, arg in enumerate(argv):
        # "" as a path is "." (the current folder: `--out ""` wrote samples there) and as a
        # value means nothing, so an empty argument is an error, never a default
        if not arg.strip() or (arg.startswith("--") and arg.endswith("=")):
            after = f" after {argv[i - 1]}" if i and not arg.strip() else f" in {arg!r}"
            parser.error(f"an empty argument{after}; give a value")
    return parser.parse_args(attach_signed_values(argv))


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
    with _sigterm_as_exit():
        return _run(args)


@contextlib.contextmanager
def _sigterm_as_exit():
    """SIGTERM (`kill`, a scheduler's timeout) raises SystemExit, as Ctrl-C raises
    KeyboardInterrupt: the commands' `finally` blocks then remove their temp files and locks,
    which the default action (exit at once) would leave behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
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
