"""``analyze`` over many files: MIDI files of a folder, in parallel processes, each bad file
skipped with its reason, as ``prepare`` does for its works."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from symbolic.analysis.result import Analysis, analyze

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")


@dataclass(frozen=True)
class Outcome:
    """One file's analysis, or the one-line reason it was skipped."""

    path: Path
    analysis: Analysis | None
    reason: str | None = None


def midi_files(source: str | Path) -> list[Path]:
    """The MIDI files of ``source``: the file itself, or a folder's MIDI files (recursive,
    hidden ones left out), sorted.

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: a folder without MIDI files.
    """
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such file or folder")
    found = sorted(
        p
        for p in source.rglob("*")
        if p.suffix.lower() in MIDI_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
    )
    if not found:
        raise ValueError(f"{source}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) in this folder")
    return found


def analyze_one(path: Path) -> Outcome:
    """``analyze`` of one file; never raises (any failure is the skip reason)."""
    try:
        return Outcome(path, analyze(path))
    except Exception as err:  # noqa: BLE001 - a bad file is a skip, not a crash
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return Outcome(path, None, text.removeprefix(f"{path}: "))


def analyze_paths(
    paths: list[Path], workers: int | None = None, progress: bool = True
) -> Iterator[Outcome]:
    """Yield an ``Outcome`` per path, in order; ``workers`` processes (default: every core,
    1 runs here), a tqdm bar on stderr with ``progress``."""
    if workers is not None and not workers >= 1:  # -1 or 0 would mean one, silently
        raise ValueError(f"analyze: --workers must be >= 1, got {workers}")
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    bar = tqdm(total=len(paths), desc="analyze", unit="file", disable=not progress)
    try:
        if workers == 1:
            results = map(analyze_one, paths)
            for outcome in results:
                bar.update()
                yield outcome
            return
        # spawn, not fork: the parent may hold threads (jax, tqdm's monitor).
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            chunk = max(1, min(8, len(paths) // (workers * 4)))
            for outcome in pool.imap(analyze_one, paths, chunksize=chunk):
                bar.update()
                yield outcome
    finally:
        bar.close()
