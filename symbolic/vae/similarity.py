"""Similarity search over latents: an index of files' segment means (`symbolic vae encode`) and
the files nearest to a query (`symbolic similar`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.data import segments as seg
from symbolic.paths import output_file
from symbolic.vae.run import VAERun, encode_segments, file_segments, load_vae


def encode_files(run: VAERun, paths: list[str | Path], out: str | Path) -> dict[str, np.ndarray]:
    """Encode every file's segments; write OUT (npz): mu [N, Z], file_id [N] (index into files),
    bar [N], files [F] (paths), run_dir."""
    mus, files, bars = [], [], []
    for i, path in enumerate(paths):
        segments, first_bars = file_segments(run, path)
        mus.append(encode_segments(run, segments))
        files.append(np.full(len(segments), i, np.int32))
        bars.append(first_bars)
    index = {
        "mu": np.concatenate(mus),
        "file_id": np.concatenate(files),
        "bar": np.concatenate(bars),
        "files": np.asarray([str(p) for p in paths]),
        "run_dir": np.asarray(str(run.run_dir)),
    }
    np.savez(output_file(out), **index)
    return index


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _aligned_score(sims: np.ndarray, query_bars: np.ndarray, file_bars: np.ndarray) -> float:
    """sims [S, Q, F]: cosines of S transpositions of the Q query segments against one file's F
    segments. The best, over transpositions and bar offsets, of the summed cosine of the pairs
    that line up bar for bar (query bar b + offset = file bar), divided by Q."""
    offsets = file_bars[None, :] - query_bars[:, None]  # [Q, F]
    best = -np.inf
    for offset in np.unique(offsets):
        aligned = np.where(offsets == offset, sims, 0.0).sum(axis=(1, 2)) / len(query_bars)
        best = max(best, float(aligned.max()))
    return best


def rank_files(
    query_mu: np.ndarray, query_bars: np.ndarray, index: dict, k: int = 5
) -> list[tuple[str, float]]:
    """Files of `index` ranked by similarity to query segment means [S, Q, Z] (S transpositions
    of the query's Q segments, first bars [Q]): the query is laid along each file at its best bar
    offset and transposition (see `_aligned_score`). Matching segments in order, rather than each
    to its nearest anywhere in the file, keeps a file whose segments happen to lie near many
    latents from ranking first for every query. Means are centred on the index mean first, so the
    offset they all share does not dominate cosine."""
    centre = index["mu"].mean(axis=0)
    sims = _unit(query_mu - centre) @ _unit(index["mu"] - centre).T  # [S, Q, N]
    scores = []
    for i, name in enumerate(index["files"]):
        cols = index["file_id"] == i
        score = _aligned_score(sims[..., cols], np.asarray(query_bars), index["bar"][cols])
        scores.append((str(name), score))
    return sorted(scores, key=lambda s: -s[1])[:k]


def similar_command(
    query: str | Path,
    index_path: str | Path,
    k: int = 5,
    run_dir: str | Path | None = None,
    max_transpose: int = 6,
) -> list[tuple[str, float]]:
    """Nearest files of an `encode` index to QUERY, encoded with the index's run. The query is
    also tried transposed by up to +-`max_transpose` semitones: a melody's latent is not
    transposition-invariant, but "the same tune in another key" should still be found."""
    with np.load(index_path) as data:
        index = {key: data[key] for key in data.files}
    run = load_vae(run_dir or str(index["run_dir"]))
    segments, bars = file_segments(run, query)
    shifts = range(-max_transpose, max_transpose + 1)
    query_mu = np.stack([encode_segments(run, seg.transpose_events(segments, s)) for s in shifts])
    return rank_files(query_mu, bars, index, k)
