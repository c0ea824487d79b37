"""Measure ``symbolic.analysis`` against POP909's labels and the chorales' stated keys, beside
music21's ``analyze('key')`` and ``chordify``; write results.json / results.md.

Phases (each cached as JSON under ``--work``, so the report can be rewritten without
re-running them): ``ours`` (every POP909 song), ``chordify`` (a
fixed subset: every 30th song, 001, 031, ...; chordify is the slow one), ``music21_key`` on
every 3rd song (001, 004, ...), ``chorales``,
``speed`` (``analyze`` over the folder on ``--workers`` processes) and ``chord_view``
(``prepare --view chords`` on the first 100 songs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

from benchmarks.analysis import chorales, pop909
from benchmarks.common import command_line, load_average

OUT_DIR = Path(__file__).resolve().parent
PHASES = ("ours", "music21_key", "chordify", "chorales", "speed", "chord_view")
CHORDIFY_STEP = 30  # chordify on every 30th song (001, 031, ..., 901): 31 songs
MUSIC21_KEY_STEP = 3  # music21's key on every 3rd song (001, 004, ...): 303 songs
CHORD_VIEW_SONGS = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analysis")
    parser.add_argument(
        "--quick", action="store_true", help="30 songs, 3 for chordify, 40 chorales"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated phases to run")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "analysis_bench")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    return parser.parse_args()


def _pool_map(function, items: list, workers: int) -> list:
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(function, items, chunksize=1)


def _speed(songs: list[Path], workers: int) -> dict:
    from symbolic.analysis.batch import analyze_paths

    paths = [song / f"{song.name}.mid" for song in songs]
    started = time.perf_counter()
    outcomes = list(analyze_paths(paths, workers, progress=False))
    seconds = time.perf_counter() - started
    skipped = sum(o.analysis is None for o in outcomes)
    return {"files": len(paths), "seconds": seconds, "skipped": skipped}


def _chord_view(songs: list[Path], workers: int, work: Path) -> dict:
    from symbolic.data.manifest import write_folder_manifest
    from symbolic.data.prepare import prepare
    from symbolic.data.views import View

    folder = work / "chord_view_songs"
    folder.mkdir(parents=True, exist_ok=True)
    for song in songs:
        link = folder / f"{song.name}.mid"
        if not link.exists():
            link.symlink_to(song / f"{song.name}.mid")
    manifest = write_folder_manifest(folder, work / "chord_view_manifest.json", seed=0)
    out = work / "chord_view_data"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    started = time.perf_counter()
    meta = prepare(
        manifest, "remi", out, view=View("chords"), workers=workers, progress=False, cache_dir=None
    )
    seconds = time.perf_counter() - started
    return {"files": len(songs), "seconds": seconds, "skipped": len(meta.skipped)}


def run_phase(name: str, args, songs: list[Path]) -> object:
    if name == "ours":
        return _pool_map(pop909.evaluate_song, songs, args.workers)
    if name == "music21_key":
        return _pool_map(pop909.evaluate_music21_key, songs[::MUSIC21_KEY_STEP], args.workers)
    if name == "chordify":
        subset = songs[::CHORDIFY_STEP] if not args.quick else songs[:3]
        return _pool_map(pop909.evaluate_chordify, subset, args.workers)
    if name == "chorales":
        paths = chorales.chorale_paths()[: 40 if args.quick else None]
        return _pool_map(chorales.evaluate_chorale, paths, args.workers)
    if name == "speed":
        return _speed(songs, args.workers)
    if name == "chord_view":
        return _chord_view(songs[:CHORD_VIEW_SONGS], args.workers, args.work)
    raise ValueError(f"unknown phase {name!r}: expected one of {', '.join(PHASES)}")


def main() -> None:
    args = parse_args()
    songs = pop909.songs()[: 30 if args.quick else None]
    args.work.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    for name in [p for p in args.phases.split(",") if p]:
        load_before = load_average()
        started = time.perf_counter()
        result = run_phase(name, args, songs)
        record = {
            "result": result,
            "load_before": load_before,
            "load_after": load_average(),
            "seconds": time.perf_counter() - started,
            "command": command_line("benchmarks.analysis"),
        }
        (args.work / f"{name}{suffix}.json").write_text(json.dumps(record))
        print(f"{name}: {record['seconds']:.0f} s", flush=True)
    from benchmarks.analysis.report import report

    report(args.work, suffix, args.out, args.workers)
