"""`symbolic index` and `symbolic similar`: embed every MIDI file under a folder into an `Index`
(parallel for the model-free embedding, a progress bar, bad files skipped with their reason),
and rank an index's files against a query file.

    index = build_index("my_midi/", "my_midi.index")                     # model-free
    index = build_index("my_midi/", "vae.index", embedding="vae", run="runs/vae")
    similar("query.mid", "my_midi.index", k=10)   # -> [(file, score), ...], best first
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from symbolic.analysis.batch import midi_files  # the one lister of a folder's MIDI files
from symbolic.data.meta import Skipped
from symbolic.retrieval.embedders import Embedder, FeatureEmbedder, embedder
from symbolic.retrieval.index import Index, load_index

MIN_FILES_PER_WORKER = 8  # below this a pool's start-up (spawn imports numpy) costs more


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _rows_or_reason(embed: Embedder, path: Path) -> tuple[np.ndarray | None, list[str], str]:
    """(rows, part names, "") of one file, or (None, [], the reason it was skipped)."""
    try:
        rows, names = embed.file_rows(path)
    except Exception as err:  # noqa: BLE001 - any per-file failure is a skip, not a crash
        return None, [], _one_line(err)
    if not np.all(np.isfinite(rows)):
        return None, [], f"{path}: non-finite embedding"
    return rows, names, ""


def _feature_task(path: Path):
    return _rows_or_reason(FeatureEmbedder(), path)


def _embed_all(embed: Embedder, files: list[Path], workers: int, progress: bool):
    """Yield (path, rows, names, reason) in file order: a spawn pool of `workers` processes
    for the model-free embedding, this process for a model (whose parameters it holds)."""
    bar = tqdm(total=len(files), desc=f"index ({embed.name})", unit="file", disable=not progress)
    pool, skipped = None, 0
    try:
        if isinstance(embed, FeatureEmbedder) and workers > 1:
            # spawn, not fork: the parent may hold jax's threads (see data/prepare.py)
            pool = multiprocessing.get_context("spawn").Pool(workers)
            chunk = max(1, min(16, len(files) // (workers * 4)))
            results = pool.imap(_feature_task, files, chunksize=chunk)
        else:
            results = (_rows_or_reason(embed, path) for path in files)
        for path, (rows, names, reason) in zip(files, results, strict=True):
            skipped += bool(reason)
            bar.set_postfix(skipped=skipped, refresh=False)
            bar.update()
            yield path, rows, names, reason
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()


def build_index(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    embedding: str = "features",
    run: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    files: list[str | Path] | None = None,
    transpose: str = "key",
) -> Index:
    """Embed every MIDI file under FOLDER (or the given `files`) and write the index to OUT
    (a folder: embeddings.npy + index.json) when given.

    Args:
        embedding: "features" (model-free), "vae" or "transformer" (both need `run`).
        workers: processes for the model-free embedding (default: every core).
        transpose: how a learned embedding meets a transposed query, "key" (files and queries
            moved to C major / A minor) or "search" (the query tried at -6..+6); see
            `symbolic.retrieval.embedders`. The model-free embedding needs neither.

    Raises:
        RuntimeError: every file was skipped (nothing is written then).
    """
    paths = [Path(p) for p in files] if files is not None else midi_files(folder)
    options = {} if embedding == "features" else {"transpose": transpose}
    embed = embedder(embedding, run, **options)
    workers = workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(paths) // MIN_FILES_PER_WORKER))
    rows, names, kept, skipped = [], [], [], []
    for path, file_rows, parts, reason in _embed_all(embed, paths, workers, progress):
        if reason:
            skipped.append(Skipped(str(path), reason))
            continue
        rows.append(file_rows)
        names.append(parts)
        kept.append(str(path))
    if not kept:
        first = skipped[0].reason if skipped else "no files"
        raise RuntimeError(f"index: every file under {folder} was skipped ({first})")
    index = Index.from_rows(
        rows,
        names,
        kept,
        embedding=embed.name,
        run=None if embed.run is None else str(Path(embed.run).resolve()),
        skipped=tuple(skipped),
        root=None if folder is None else str(folder),
        extra=options,
    )
    if out is not None:
        index.save(out)
    return index


def query_embedder(index: Index, run: str | Path | None = None) -> Embedder:
    """The embedder that built `index`, with its options (its run unless `run` is given)."""
    return embedder(index.embedding, run or index.run, **index.extra)


def similar(
    query: str | Path,
    index: str | Path | Index,
    k: int = 10,
    *,
    run: str | Path | None = None,
) -> list[tuple[str, float]]:
    """The k files of INDEX (a folder, or an `Index`) nearest to the QUERY file, best first, with
    their scores (cosine in 0..1 for the model-free embedding; 1 is the same music)."""
    index = index if isinstance(index, Index) else load_index(index)
    return index.search(query_embedder(index, run).query_rows(query), k)
