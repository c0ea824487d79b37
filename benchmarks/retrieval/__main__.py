"""`python -m benchmarks.retrieval [--quick] [--vae-run RUN] [--transformer-run RUN]`: "more like
this" over POP909, an in-house protocol (no published anchor exists for it).

For every POP909 song five seeded variations are written as MIDI files (see `variations.py`):
transposed by -5..+6 semitones, the notes played 20% faster or slower against the file's own
tempo map, the MELODY track alone, 15% of notes deleted with onsets jittered by up to a 32nd,
and the accompaniment (PIANO) moved an octave. Each variation queries the index of the
originals (`symbolic.retrieval`); the original is the one right answer. Reported per embedding
and variation kind: MRR, Recall@1 and Recall@10, and the time of one search.

The learned embeddings cost a model pass a file on CPU, so `--learned-songs N` limits them to the
first N songs (index and queries); the model-free embedding is then also scored on those N songs,
so that each comparison is on the same index.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    load_line,
)
from benchmarks.retrieval.report import markdown
from benchmarks.retrieval.variations import KINDS, variation

OUT_DIR = Path(__file__).resolve().parent
POP909 = REPO_ROOT / ".." / "shared" / "data" / "pop909"
QUICK_SONGS = 40
TOP_K = 10


def song_files(root: Path, limit: int | None) -> list[Path]:
    """POP909's NNN/NNN.mid, in order."""
    found = sorted(p / f"{p.name}.mid" for p in root.iterdir() if (p / f"{p.name}.mid").is_file())
    if not found:
        raise SystemExit(f"{root}: no POP909 songs (NNN/NNN.mid); see its README")
    return found[:limit]


def write_queries(songs: list[Path], work: Path, seed: int) -> dict[str, list[Path]]:
    """Each kind's variation of every song as WORK/KIND/NNN.mid: {kind: [path per song]}."""
    from symusic import Score

    queries: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for number, song in enumerate(tqdm(songs, desc="variations", unit="song")):
        score = Score(str(song))
        for kind in KINDS:
            path = work / kind / song.name
            path.parent.mkdir(parents=True, exist_ok=True)
            variation(kind, score, number, seed).dump_midi(str(path))
            queries[kind].append(path)
    return queries


def query_rows(name: str, run: Path | None, paths: list[Path], workers: int) -> list[np.ndarray]:
    """Every query's rows, the model-free ones in parallel (the index's own worker path)."""
    from symbolic.retrieval import build
    from symbolic.retrieval.embedders import FeatureEmbedder, embedder

    if name == "features":
        results = build._embed_all(FeatureEmbedder(), paths, workers, progress=True)
        return [
            rows if rows is not None else _fail(path, reason) for path, rows, _, reason in results
        ]
    embed = embedder(name, run)
    return [embed.query_rows(p) for p in tqdm(paths, desc=f"queries ({name})", unit="file")]


def _fail(path: Path, reason: str):
    raise RuntimeError(f"query {path}: {reason}")


def score_queries(index, rows: list[np.ndarray], targets: list[str]) -> dict[str, float]:
    """MRR, Recall@1, Recall@10 of queries whose right answer is `targets[i]`, and the median
    time (ms) of one `Index.search`."""
    position = {name: i for i, name in enumerate(index.files)}
    reciprocal, times = [], []
    for query, target in zip(rows, targets, strict=True):
        start = time.perf_counter()
        index.search(query, TOP_K)
        times.append(time.perf_counter() - start)
        scores = index.scores(query)
        rank = 1 + int((scores > scores[position[target]]).sum())
        reciprocal.append(1.0 / rank)
    reciprocal = np.asarray(reciprocal)
    return {
        "mrr": float(reciprocal.mean()),
        "recall_at_1": float((reciprocal >= 1.0).mean()),
        "recall_at_10": float((reciprocal >= 1.0 / TOP_K).mean()),
        "search_ms": 1000 * statistics.median(times),
    }


def search_time_10000(index) -> tuple[float, float]:
    """Median wall-clock and CPU ms of one search (a query of 4 rows, as a POP909 song has) in
    an index of 10,000 files made by tiling this one's rows. CPU time is what the search costs
    this process; wall time also counts waiting for cores that other jobs hold."""
    from symbolic.retrieval.index import Index

    copies = -(-10_000 // len(index.files))
    rows = [index.vectors[index.row_file == i] for i in range(len(index.files))] * copies
    rows = rows[:10_000]
    big = Index.from_rows(
        rows,
        [["r"] * len(r) for r in rows],
        [str(i) for i in range(10_000)],
        embedding=index.embedding,
    )
    query = index.vectors[:4]
    wall, cpu = [], []
    for _ in range(30):
        start, start_cpu = time.perf_counter(), time.process_time()
        big.search(query, TOP_K)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def evaluate(name, run, songs, queries, workers, work: Path) -> tuple[dict, object, float]:
    """{kind: figures} of one embedding on `songs`, its index and the embedding time per file."""
    from symbolic.retrieval.build import build_index

    start = time.perf_counter()
    index = build_index(
        None,
        work / f"{name}-{len(songs)}.index",
        embedding=name,
        run=run,
        workers=workers,
        files=songs,
    )
    per_file = (time.perf_counter() - start) / len(songs)
    if index.skipped:
        raise RuntimeError(f"{name}: originals skipped: {index.skipped[:3]}")
    figures = {}
    for kind, paths in queries.items():
        rows = query_rows(name, run, paths[: len(songs)], workers)
        figures[kind] = score_queries(index, rows, [str(s) for s in songs])
        print(f"{name} {kind}: {figures[kind]}", flush=True)
    return figures, index, per_file


def rewrite_report(work: Path | None) -> None:
    """results.md again from results.json; with WORK, the 10,000-file search measured again on
    the full features index a run left there (the machine may be quieter now than then)."""
    from symbolic.retrieval.index import load_index

    results = json.loads((OUT_DIR / "results.json").read_text())
    if work is not None:
        index = load_index(work / f"features-{results['songs']}.index")
        results["load_speed"] = load_average()
        speed = search_time_10000(index)
        results["search_ms_10000_files"], results["search_cpu_ms_10000_files"] = speed
        (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT_DIR / "results.md").write_text(markdown(results, load_line(results)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_SONGS} songs only")
    parser.add_argument("--songs", type=int, default=None, help="first N songs (default: all)")
    parser.add_argument("--learned-songs", type=int, default=None, help="first N for the models")
    parser.add_argument("--vae-run", type=Path, default=None)
    parser.add_argument("--transformer-run", type=Path, default=None)
    parser.add_argument(
        "--only",
        action="store_true",
        help="score only the given runs and merge them into the committed results.json",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work", type=Path, default=None, help="queries and indexes (default: temp)"
    )
    parser.add_argument(
        "--report", action="store_true", help="only rewrite results.md from results.json"
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only re-measure the 10,000-file search on --work's features index, then --report",
    )
    return parser


def run_plan(plan, songs, queries, args, work: Path, results: dict) -> None:
    """Score each (embedding, run, songs) of `plan` into `results` (labels `name@N` when only
    the first N songs were used)."""
    for name, run, subset in plan:
        label = name if len(subset) == len(songs) else f"{name}@{len(subset)}"
        figures, index, per_file = evaluate(name, run, subset, queries, args.workers, work)
        for key in ("mrr", "recall_at_1", "recall_at_10"):
            results[key][label] = {kind: figures[kind][key] for kind in KINDS}
        results["search_ms"][label] = statistics.median(f["search_ms"] for f in figures.values())
        results["embed_s_per_file"][label] = per_file
        if label == "features":
            speed = search_time_10000(index)
            results["search_ms_10000_files"], results["search_cpu_ms_10000_files"] = speed


def best_embedding(results: dict) -> str:
    """The embedding of the best mean MRR over the kinds, among those scored on the same songs
    (the `@N` subset when the learned ones saw only the first N)."""
    comparable = [label for label in results["mrr"] if "@" in label] or list(results["mrr"])
    best = max(comparable, key=lambda label: np.mean(list(results["mrr"][label].values())))
    return best.split("@")[0]


def main() -> None:
    args = _parser().parse_args()
    if args.report or args.speed_only:
        rewrite_report(args.work if args.speed_only else None)
        return
    load_before = load_average()
    songs = song_files(POP909, QUICK_SONGS if args.quick else args.songs)
    learned = songs[: args.learned_songs or len(songs)]
    if args.work is None and args.quick:  # as the other benchmarks: --quick writes under runs/
        args.work = REPO_ROOT / "runs" / "benchmarks" / "retrieval_quick"
    work = args.work or Path(tempfile.mkdtemp(prefix="symbolic-retrieval-"))
    out = work if args.quick else OUT_DIR
    runs = {"vae": args.vae_run, "transformer": args.transformer_run}
    plan = [] if args.only else [("features", None, songs)]
    if not args.only and any(runs.values()) and len(learned) < len(songs):
        plan.append(("features", None, learned))
    plan += [(name, run, learned) for name, run in runs.items() if run is not None]
    queries = write_queries(learned if args.only else songs, work, args.seed)
    if args.only:  # the model-free figures and the other run stay as committed
        results = json.loads((out / "results.json").read_text())
        songs = song_files(POP909, results["songs"])
    else:
        keys = ("mrr", "recall_at_1", "recall_at_10", "search_ms", "embed_s_per_file")
        results = {key: {} for key in keys}
    run_plan(plan, songs, queries, args, work, results)
    results["best_embedding"] = best_embedding(results)
    for name, run in runs.items():
        if run is not None or not args.only:
            results[f"{name}_run"] = str(run) if run else None
    key = "command_only" if args.only else "command"
    results.update({key: command_line("benchmarks.retrieval"), "seed": args.seed})
    if not args.only:
        results.update(songs=len(songs), load_before=load_before, **environment())
        results["learned_songs"] = len(learned) if any(runs.values()) else 0
    results["load_after"] = load_average()
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results, load_line(results)))
    print(f"wrote {out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
