"""The bad-input matrix (issue 15, CI): every subcommand of `symbolic` (walked from the parser,
so a command added later is covered too) with each of its arguments in turn missing, of the
wrong type, empty, an existing file, a directory or out of range, everything else valid.

Each must exit 2 with exactly one line on stderr, starting `symbolic: error:` (argparse's own
usage errors are that one line too, see `symbolic.cli._Parser`), print no traceback and create
or change nothing. The commands run in-process through `symbolic.cli.main`, inside a sandbox
folder that is compared before and after each one; the count of inputs tried and of tracebacks
is printed (-s) for the report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from symbolic import cli
from symbolic.data import manifest as mf
from tests.helpers import write_run_dir, write_test_midi

SECONDS_PER_COMMAND = 120  # a bad input must fail fast; one that trains or renders is a bug
# Arguments by what they name (their argparse dest): inputs to read, outputs to write.
MIDI_IN = {"midi", "input", "query", "a", "b", "prompt", "melody", "chords_file", "files"}
FOLDER_IN = {"folder", "source"}
RUN_IN = {"run_dir", "run", "continue_run", "index"}
OUT_FOLDER = {"out", "workdir"}
OUT_FILE = {"wav", "png", "json", "plot"}
# Free-text options where any word is a legal value (a data set's name, a glob, a port name):
# only their missing value is tried. Enumerations and parsed strings get a bogus word too.
FREE_TEXT = {"name", "licence", "exclude", "track", "port", "bench_args"}
FILE_OUT = {("manifest", "out")}  # one file: an old one there may be replaced, as render's
BASE_EXTRA = {"vae prepare": ["--melody"]}  # the only segments there are: else every case fails
# Values that are legal for that argument, so no bad input: a manifest's split seed is hashed
# as text (any integer splits), analyze --plot is a folder of pictures, and index's default
# embedding (features) reads no --run.
LEGAL = {("manifest", "seed", "-1"), ("manifest", "seed", str(10**30))}
LEGAL_KINDS = {("analyze", "plot directory")} | {("index", f"run {k}") for k in ("empty",)}
LEGAL_KINDS |= {("index", "run existing-file"), ("index", "run directory")}
# Rooms other helpers are building now: argparse-level cases (missing, unknown option, not a
# number) always; the rest, which run their pipelines (audio prepare renders for minutes),
# only with SYMBOLIC_BAD_INPUTS_ALL=1, reported but not asserted (tracebacks always are).
OTHER_ROOMS = ("analyze", "index", "similar", "audio", "transcribe", "gan", "serve")
FAST_KINDS = ("missing", "unknown-option")
TRIED = {"inputs": 0, "tracebacks": 0}


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every leaf subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*path, name))


COMMANDS = list(leaves(cli.build_parser()))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict[str, Path]:
    """Inputs (a MIDI file, a folder of them, a manifest, a prepared folder, a run) and the
    things a user might pass by mistake (a text file, an empty file, an empty folder)."""
    from symbolic.data.prepare import prepare

    root = tmp_path_factory.mktemp("bad_inputs")
    notes = [(i * 0.5, 0.5, 60 + i % 12, 80) for i in range(16)]
    for i in range(3):
        write_test_midi(root / "songs" / f"s{i}.mid", [{"program": 0, "notes": notes[i:]}])
    manifest = mf.write_folder_manifest(root / "songs", root / "songs.json")
    prepare(manifest, "remi", root / "data", workers=1, progress=False, cache_dir=None)
    (root / "notes.txt").write_text("the user's own notes\n")
    (root / "empty.mid").write_bytes(b"")
    (root / "empty_dir").mkdir()
    return {
        "root": root,
        "midi": root / "songs" / "s0.mid",
        "folder": root / "songs",
        "manifest": manifest,
        "data": root / "data",
        "run": write_run_dir(root / "run", "lstm"),
        "text": root / "notes.txt",
        "empty_file": root / "empty.mid",
        "empty_dir": root / "empty_dir",
    }


def _role(command: tuple[str, ...], dest: str) -> str:
    if dest == "manifest":
        return "manifest"
    if dest == "data":
        return "data"
    if dest in MIDI_IN:
        return "midi"
    if dest in FOLDER_IN:
        return "folder"
    if dest in RUN_IN:
        return "run"
    if dest in OUT_FOLDER or dest in OUT_FILE:
        return "out"
    return "value"


def _good_value(action: argparse.Action, role: str, box: dict[str, Path]) -> list[str] | None:
    """A valid value for a required argument (None for optional ones: their defaults)."""
    if role in ("manifest", "data", "midi", "folder", "run"):
        return [str(box[role])]
    if role == "out":
        suffix = {"png": ".png", "wav": ".wav", "json": ".json"}.get(action.dest, "")
        return [str(box["root"] / f"new_{action.dest}{suffix}")]  # no folder made for it
    if action.dest == "model":
        return ["lstm"]
    if action.dest == "name":
        return ["no_such_benchmark"]
    if action.nargs == argparse.REMAINDER:
        return []
    return ["x"]


def _bad_values(command, action, role: str, box) -> list[tuple[str, str | None]]:
    """(kind, value) of the bad inputs for one argument; value None drops it."""
    bad: list[tuple[str, str | None]] = []
    if action.required:
        bad.append(("missing", None))
    if action.nargs == 0 or action.dest in FREE_TEXT:
        return bad
    kind = getattr(action.type, "__name__", "")
    if kind in ("int", "float"):
        bad += [("wrong-type", "abc"), ("out-of-range", "-1")]
        bad += [("out-of-range", "nan"), ("out-of-range", "inf")] if kind == "float" else []
        bad += [("out-of-range", str(10**30))] if action.dest == "seed" else []
        return bad
    bad.append(("empty", ""))
    if role in ("midi", "manifest"):
        bad += [("wrong-type", str(box["text"])), ("empty", str(box["empty_file"]))]
        bad += [("directory", str(box["empty_dir"]))]
    elif role in ("folder", "data", "run"):
        bad += [("existing-file", str(box["text"])), ("directory", str(box["empty_dir"]))]
    elif role == "out":
        one_file = action.dest in OUT_FILE or (" ".join(command), action.dest) in FILE_OUT
        bad += [("directory", str(box["empty_dir"]))] if one_file else []
        bad += [("existing-file", str(box["text"]))] if not one_file else []
    elif action.type is None or kind in ("str", "Path"):
        bad.append(("wrong-type", "bogus-value"))
    return bad


def _argv(command, parser, box, replace: tuple[argparse.Action, str | None] | None) -> list:
    """The command line: each required argument with its good value, except `replace`d."""
    argv, positional = [*command, *BASE_EXTRA.get(" ".join(command), [])], []
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    for action in actions:
        role = _role(command, action.dest)
        if replace is not None and action is replace[0]:
            value = None if replace[1] is None else [replace[1]]
        elif action.required:
            value = _good_value(action, role, box)
        else:
            continue
        if value is None:
            continue
        if action.option_strings:
            argv += [f"{action.option_strings[-1]}={value[0]}"] if value else []
        else:
            positional += value
    return argv + positional


def _cases(box, every_room: bool):
    for command, parser in COMMANDS:
        name = " ".join(command)
        other = command[0] in OTHER_ROOMS
        yield command, "unknown-option", [*command, "--no-such-option"]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            role = _role(command, action.dest)
            for kind, value in _bad_values(command, action, role, box):
                what = f"{action.dest} {kind}"
                if (name, action.dest, value) in LEGAL or (name, what) in LEGAL_KINDS:
                    continue
                if other and not every_room and kind not in FAST_KINDS and value != "abc":
                    continue
                yield command, what, _argv(command, parser, box, (action, value))


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


class _Slow(Exception):
    pass


def _run(argv: list[str]) -> tuple[int, str]:
    """`symbolic ARGV` in this process: (exit code, stderr)."""
    err = io.StringIO()

    def too_slow(signum, frame):
        raise _Slow(f"still running after {SECONDS_PER_COMMAND} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(SECONDS_PER_COMMAND)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as exit_:  # argparse's errors
                code = exit_.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(sandbox["root"])  # a default output path would land in the sandbox
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # outside the sandbox
    failures, findings, timings = [], [], []
    every_room = os.environ.get("SYMBOLIC_BAD_INPUTS_ALL") == "1"
    for command, what, argv in _cases(sandbox, every_room):
        before = _snapshot(sandbox["root"])
        started = time.perf_counter()
        code, err = _run([str(a) for a in argv])
        timings.append((time.perf_counter() - started, " ".join(command), what))
        TRIED["inputs"] += 1
        lines = err.strip().splitlines()
        traceback = "Traceback" in err or "internal error" in err
        TRIED["tracebacks"] += traceback
        errors = [line for line in lines if line.startswith("symbolic: error:")]
        changed = sorted(set(_snapshot(sandbox["root"]).items()) ^ set(before.items()))
        # progress bars and warnings may come first; our one error line is the last
        if code != 2 or len(errors) != 1 or lines[-1] != errors[0] or traceback or changed:
            record = [" ".join(command), what, argv, code, lines[-3:], changed[:3]]
            other = command[0] in OTHER_ROOMS and not traceback
            (findings if other else failures).append(record)
            _remove_new(sandbox["root"], before)  # so one failure does not cascade
    report = os.environ.get("SYMBOLIC_BAD_INPUTS_REPORT")
    if report:  # for a person triaging: every failure, and the slowest inputs
        slowest = sorted(timings, reverse=True)[:15]
        found = {"failures": failures, "findings": findings, "slowest": slowest}
        Path(report).write_text(json.dumps(found, indent=1, default=str))
    print(
        f"\nbad inputs: {TRIED['inputs']} tried, {TRIED['tracebacks']} tracebacks, "
        f"{len(findings)} findings in other rooms"
    )
    assert not failures, json.dumps(failures, indent=1, default=str)
    assert TRIED["inputs"] > 100  # the matrix reached every command's arguments


def _remove_new(root: Path, before: dict) -> None:
    """Delete what a failed case created under ROOT (deepest first)."""
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if str(path.relative_to(root)) not in before:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def test_the_matrix_covers_every_command():
    names = {" ".join(command) for command, _ in COMMANDS}
    assert {"prepare", "train", "generate", "render", "vae sample", "eval"} <= names
