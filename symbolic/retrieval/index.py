"""The similarity index: a plain array of unit rows and the file list beside it.

On disk an index is a folder of two files:

- `embeddings.npy`: [M, D] float32, one row per part of a file (`features`: the mix and each
  track; `vae`/`transformer`: one row per file), already centred on the index mean and L2-
  normalised, rows of one file contiguous;
- `index.json`: the files, which file and part each row is, the centre [D], the embedding's
  name and run, and the files that were skipped with their reasons.

A search is one matrix product and an `argpartition`: query rows [Q, D] (the parts of a query,
or its transpositions) against every row; a file scores its best row against its best query row.
Numpy only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symbolic.data.meta import Skipped  # a file left out, and why: prepare's record
from symbolic.paths import output_folder, read_json, write_atomic, write_text_atomic

EMBEDDINGS_FILE, INDEX_FILE = "embeddings.npy", "index.json"
FORMAT_VERSION = 1


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of x [N, D] scaled to unit L2 norm (zero rows stay zero), float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Index:
    """An index in memory. Build one with `symbolic.retrieval.build.build_index`, or `from_rows`.

    vectors: [M, D] float32 centred unit rows; row_file: [M] int32 (index into `files`, non-
    decreasing); row_part: [M] the part each row is ("mix", a track name, or "file");
    centre: [D] float32, subtracted from every row and query before normalising, so the
    direction all embeddings share does not dominate cosine.
    """

    vectors: np.ndarray
    row_file: np.ndarray
    row_part: tuple[str, ...]
    files: tuple[str, ...]
    centre: np.ndarray
    embedding: str
    run: str | None = None
    skipped: tuple[Skipped, ...] = ()
    root: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        rows, dim = self.vectors.shape
        if len(self.row_file) != rows or len(self.row_part) != rows or self.centre.shape != (dim,):
            raise ValueError(
                f"index: {rows} rows of {dim} dims, but {len(self.row_file)} row files, "
                f"{len(self.row_part)} row parts and a centre of shape {self.centre.shape}"
            )
        if rows and (np.any(np.diff(self.row_file) < 0) or self.row_file[-1] >= len(self.files)):
            raise ValueError("index: rows must be grouped by file, in the order of `files`")

    @classmethod
    def from_rows(
        cls, rows: list[np.ndarray], parts: list[list[str]], files: list[str], **info
    ) -> Index:
        """An index of raw rows (rows[i]: [R_i, D] of files[i], its parts' names `parts[i]`):
        centred on the mean row, then normalised."""
        raw = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
        centre = raw.mean(axis=0) if len(raw) else np.zeros(raw.shape[1], np.float32)
        row_file = np.repeat(np.arange(len(rows), dtype=np.int32), [len(r) for r in rows])
        return cls(
            vectors=unit_rows(raw - centre),
            row_file=row_file,
            row_part=tuple(name for names in parts for name in names),
            files=tuple(files),
            centre=centre.astype(np.float32),
            **info,
        )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Raw query rows [Q, D] -> each file's score [N] float32: the best cosine between one
        of its rows and one query row (both centred)."""
        query = np.atleast_2d(np.asarray(query, np.float32))
        if query.shape[1] != self.dim:
            raise ValueError(
                f"query embedding has {query.shape[1]} dims, the index {self.dim} "
                f"({self.embedding}); embed the query as the index was built"
            )
        best_row = (self.vectors @ unit_rows(query - self.centre).T).max(axis=1)  # [M]
        starts = np.flatnonzero(np.r_[True, np.diff(self.row_file) != 0])
        per_file = np.full(len(self.files), -np.inf, np.float32)
        per_file[self.row_file[starts]] = np.maximum.reduceat(best_row, starts)
        return per_file

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The k files nearest to raw query rows [Q, D], best first, with their scores."""
        scores = self.scores(query)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.files[i], float(scores[i])) for i in top]

    def save(self, out: str | Path) -> Path:
        """Write the folder OUT (embeddings.npy + index.json), each file atomically."""
        out = output_folder(out, create=True)

        def write_array(tmp: Path) -> None:
            with open(tmp, "wb") as handle:  # a path would get ".npy" appended
                np.save(handle, np.ascontiguousarray(self.vectors, np.float32))

        write_atomic(out / EMBEDDINGS_FILE, write_array)
        write_text_atomic(out / INDEX_FILE, json.dumps(self._info(), indent=1))
        return out

    def _info(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "embedding": self.embedding,
            "run": self.run,
            "root": self.root,
            "dim": self.dim,
            "files": list(self.files),
            "row_file": self.row_file.tolist(),
            "row_part": list(self.row_part),
            "centre": self.centre.tolist(),
            "skipped": [{"file": s.file, "reason": s.reason} for s in self.skipped],
            "extra": self.extra,
        }


def load_index(path: str | Path) -> Index:
    """The index in folder PATH (`Index.save`).

    Raises:
        FileNotFoundError: PATH is not an index folder.
        ValueError: its files disagree with each other, or are not ours.
    """
    path = Path(path)
    if not (path / INDEX_FILE).is_file():
        raise FileNotFoundError(
            f"{path}: not an index folder (no {INDEX_FILE}; see symbolic index)"
        )
    info = read_json(path / INDEX_FILE)
    if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path / INDEX_FILE}: not a format-{FORMAT_VERSION} symbolic index")
    try:
        vectors = np.load(path / EMBEDDINGS_FILE, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path / EMBEDDINGS_FILE}: not a readable .npy array ({err})") from None
    try:
        return Index(
            vectors=np.asarray(vectors, np.float32),
            row_file=np.asarray(info["row_file"], np.int32),
            row_part=tuple(info["row_part"]),
            files=tuple(info["files"]),
            centre=np.asarray(info["centre"], np.float32),
            embedding=info["embedding"],
            run=info.get("run"),
            skipped=tuple(Skipped(s["file"], s["reason"]) for s in info.get("skipped", [])),
            root=info.get("root"),
            extra=info.get("extra", {}),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: inconsistent index ({err})") from None
