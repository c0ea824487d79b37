"""Argument types and defaults shared by several commands (only ``symbolic.resources``, which
imports nothing: the parser is built for every command, and must not load miditok or jax)."""

from __future__ import annotations

import argparse

from symbolic.resources import default_manifest

DEFAULT_MANIFEST = default_manifest()  # the installed copy, or the checkout's data_manifests/


def transpose_range(text: str) -> tuple[int, int]:
    """`--transpose`: "LOW..HIGH" semitones -> (LOW, HIGH); a single "N" means -N..N."""
    low, sep, high = text.partition("..")
    try:
        return (int(low), int(high)) if sep else (-abs(int(low)), abs(int(low)))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected LOW..HIGH semitones, got {text!r}") from err


def add_transpose_arg(p: argparse.ArgumentParser, help: str) -> None:
    """`--transpose LOW..HIGH` (see `attach_signed_values` for a LOW below zero)."""
    p.add_argument("--transpose", type=transpose_range, default=None, help=help)


def attach_signed_values(argv: list[str]) -> list[str]:
    """`--transpose -3..3` -> `--transpose=-3..3`: argparse would read a value that starts with
    '-' and is not a plain number as the next option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--transpose" and arg.startswith("-") and ".." in arg:
            out[-1] = f"--transpose={arg}"
        else:
            out.append(arg)
    return out
