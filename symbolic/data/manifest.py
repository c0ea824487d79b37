"""Data-set manifests: where the works are, their sha256, their split and licence.

A manifest is a JSON file (``data_manifests/*.json``)::

    {"format_version": 1, "name": "bach_chorales",
     "source": {"type": "music21_corpus", "composer": "bach"}   # or
               {"type": "folder", "path": "my_midis"},           # relative to this file
     "licence": "...", "seed": 0,
     "split_fractions": {"train": 0.8, "valid": 0.1, "test": 0.1},
     "works": [{"id": "bwv66.6", "path": "bach/bwv66.6.mxl", "sha256": "...",
                "split": "train"}, ...],
     "excluded": [{"path": "...", "reason": "..."}]}

Work paths are relative to the source root (the music21 corpus folder, or the user's
folder), so a manifest is portable across machines. The split is by work: a work goes to
the split its ``sha256(f"{seed}:{work_id}")`` falls in, so adding files never moves
existing works. The one exception, for tiny data sets only: when a split would be empty
and there are at least three works, the work of the fullest split whose number lies
nearest the empty split's band moves to it, so no split is empty. Never imports jax.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from symbolic.data.convert import MIDI_SUFFIXES, NOT_SCORE_SUFFIXES, file_kind
from symbolic.paths import output_file, read_json, write_text_atomic

FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")
DEFAULT_FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
MUSIC21_LICENCE = (
    "The compositions ({composer}) are in the public domain. These encodings ship with "
    "music21 (music21/corpus/) and are distributed with music21 under its BSD licence; "
    "see music21's LICENSE for the terms and the corpus documentation for sources."
)
_COMPOSER_NAMES = {"bach": "Johann Sebastian Bach, 1685-1750"}
_DESCRIPTIONS = {
    "bach": "The Bach chorale harmonisations of the music21 corpus "
    '(music21.corpus.getComposer("bach")): one encoding per work; roman-numeral analyses '
    "(.rntxt) and the .krn duplicates of three .mxl works are excluded."
}
FOLDER_LICENCE = "unknown: set the licence of these files with --licence"
# When one work exists in several encodings, the first suffix here is kept.
_ENCODING_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".mei", ".abc", ".mid", ".midi")


class ManifestError(ValueError):
    """A manifest that cannot be read or is malformed; the message is one line."""


@dataclass(frozen=True)
class Work:
    """One work: ``path`` is relative to the source root, POSIX separators."""

    id: str
    path: str
    sha256: str
    split: str


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest; ``file`` is where it was read from (None if not yet written)."""

    name: str
    source: dict
    licence: str
    seed: int
    works: tuple[Work, ...]
    excluded: tuple[dict, ...] = ()
    split_fractions: dict = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    description: str = ""
    file: Path | None = None

    def to_json(self) -> dict:
        """The JSON document (without ``file``)."""
        data = {"format_version": FORMAT_VERSION, **asdict(self)}
        data.pop("file")
        data["works"] = [asdict(w) for w in self.works]
        data["excluded"] = list(self.excluded)
        return data


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_hash(path: str | Path) -> str:
    """Hex sha256 of a manifest file's bytes (stored in prepared data's meta.json)."""
    return file_sha256(path)


def split_unit(work_id: str, seed: int) -> float:
    """Uniform number in [0, 1) fixed by ``(seed, work_id)``."""
    digest = hashlib.sha256(f"{seed}:{work_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(work_ids: list[str], seed: int, fractions: dict | None = None) -> list[str]:
    """Split name per work id, by hash band (see module docstring)."""
    fractions = fractions or DEFAULT_FRACTIONS
    train_end = fractions["train"]
    valid_end = train_end + fractions["valid"]
    bands = {"train": (0.0, train_end), "valid": (train_end, valid_end), "test": (valid_end, 1.0)}
    units = [split_unit(w, seed) for w in work_ids]
    splits = ["train" if u < train_end else "valid" if u < valid_end else "test" for u in units]
    for name in SPLITS if len(work_ids) >= 3 else ():
        if name not in splits:
            # Take from the fullest split the work whose number lies nearest this band.
            donor = max(SPLITS, key=splits.count)
            low, high = bands[name]
            members = [i for i, s in enumerate(splits) if s == donor]
            splits[min(members, key=lambda i: max(low - units[i], units[i] - high))] = name
    return splits


def music21_corpus_root() -> Path:
    """The folder music21's corpus paths are stored relative to."""
    import music21

    return Path(music21.__file__).resolve().parent / "corpus"


def _music21_version() -> str:
    # Recorded because corpus files (hence their sha256) can change between releases.
    import music21

    return music21.__version__


def _scan_music21(composer: str) -> tuple[Path, list[Path]]:
    from music21 import corpus

    root = music21_corpus_root()
    paths = [Path(p).resolve() for p in corpus.getComposer(composer)]
    if not paths:
        raise ManifestError(f"music21 corpus: no works for composer {composer!r}")
    return root, paths


def _scan_folder(folder: Path) -> tuple[Path, list[Path]]:
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    root = folder.resolve()
    # Paths are kept as found under the root (not resolved), so a symlinked file still
    # gets a path relative to the folder.
    paths = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES]
    if not paths:
        raise ManifestError(f"{folder}: no .mid/.midi files (searched recursively)")
    return root, paths


def _work_id(rel: str, source_type: str) -> str:
    # Corpus works are named like music21 names them ("bwv66.6"); folder works keep their
    # relative path, which is already unique.
    return Path(rel).name.rsplit(".", 1)[0] if source_type == "music21_corpus" else rel


def _select_works(root: Path, paths: list[Path], source_type: str):
    """Usable files as sorted ``(id, rel)`` pairs, one encoding per work, plus exclusions."""
    rank = {suffix: i for i, suffix in enumerate(_ENCODING_PREFERENCE)}
    groups: dict[str, list[str]] = {}
    excluded = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if file_kind(path) == "other":
            reason = NOT_SCORE_SUFFIXES.get(path.suffix.lower(), f"unsupported type {path.suffix}")
            excluded.append({"path": rel, "reason": reason})
        else:
            groups.setdefault(_work_id(rel, source_type), []).append(rel)
    selected = []
    for work, rels in sorted(groups.items()):
        rels.sort(key=lambda r: (rank.get(Path(r).suffix.lower(), 99), r))
        selected.append((work, rels[0]))
        excluded += [
            {"path": r, "reason": f"another encoding of work {work}; kept {rels[0]}"}
            for r in rels[1:]
        ]
    excluded.sort(key=lambda e: e["path"])
    return selected, excluded


def build_manifest(
    source: dict,
    *,
    name: str,
    seed: int = 0,
    licence: str | None = None,
    description: str = "",
    base_dir: str | Path = ".",
) -> Manifest:
    """Scan a source and build a manifest (hashes every file).

    Args:
        source: ``{"type": "music21_corpus", "composer": ...}`` or
            ``{"type": "folder", "path": ...}``; a relative folder path is taken
            relative to ``base_dir`` (the folder the manifest will be written to).
        name: data-set name. seed: split seed. licence: licence note (defaults per source).
    """
    _check_source(source, "source")
    source = dict(source)
    if source["type"] == "music21_corpus":
        root, paths = _scan_music21(source["composer"])
        source.setdefault("music21_version", _music21_version())
        composer = _COMPOSER_NAMES.get(source["composer"], source["composer"])
        licence = licence or MUSIC21_LICENCE.format(composer=composer)
    else:
        root, paths = _scan_folder(Path(base_dir) / source["path"])
        licence = licence or FOLDER_LICENCE
    selected, excluded = _select_works(root, paths, source["type"])
    splits = assign_splits([w for w, _ in selected], seed)
    works = tuple(
        Work(id=w, path=rel, sha256=file_sha256(root / rel), split=s)
        for (w, rel), s in zip(selected, splits, strict=True)
    )
    return Manifest(
        name, dict(source), licence, seed, works, tuple(excluded), description=description
    )


def _format_json(data: dict) -> str:
    """Indented JSON with one line per work / exclusion, so diffs stay readable."""
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(value, list) and value:
            rows = [f"  {json.dumps(row, sort_keys=False)}" for row in value]
            lines.append(f" {json.dumps(key)}: [\n" + ",\n".join(rows) + f"\n ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    return "\n".join(lines) + "\n}\n"


def write_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Write ``manifest`` as indented JSON (atomically: temp file then rename)."""
    return write_text_atomic(output_file(path), _format_json(manifest.to_json()))


def write_folder_manifest(
    folder: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    name: str | None = None,
    licence: str | None = None,
) -> Path:
    """Write a manifest for a folder of MIDI files to ``out``; returns ``out``.

    This is what ``symbolic manifest DIR --out FILE`` runs. Raises ManifestError for a
    missing folder or one without .mid/.midi files.

    The folder is stored relative to ``out``'s folder when possible, so the pair can move
    together.
    """
    folder, out = Path(folder).resolve(), Path(out).resolve()
    try:
        rel = Path(os.path.relpath(folder, out.parent)).as_posix()
    except ValueError:  # another drive on Windows
        rel = folder.as_posix()
    manifest = build_manifest(
        {"type": "folder", "path": folder.as_posix()},
        name=name or folder.name,
        seed=seed,
        licence=licence,
    )
    # Scanned by absolute path (``out``'s folder may not exist yet), stored relative.
    return write_manifest(replace(manifest, source={"type": "folder", "path": rel}), out)


def write_music21_manifest(
    out: str | Path,
    composer: str = "bach",
    *,
    name: str | None = None,
    seed: int = 0,
    description: str | None = None,
) -> Path:
    """Manifest for one composer of the music21 corpus, written to ``out``."""
    manifest = build_manifest(
        {"type": "music21_corpus", "composer": composer},
        name=name or f"{composer}_music21",
        seed=seed,
        description=description
        or _DESCRIPTIONS.get(composer, f"The {composer} scores of the music21 corpus."),
    )
    return write_manifest(manifest, out)


# --- loading and validation -------------------------------------------------------------


def _fail(where: str, problem: str) -> ManifestError:
    return ManifestError(f"{where}: {problem}")


def _check_source(source, where: str) -> None:
    if not isinstance(source, dict) or source.get("type") not in ("music21_corpus", "folder"):
        raise _fail(where, "source.type must be 'music21_corpus' or 'folder'")
    key = "composer" if source["type"] == "music21_corpus" else "path"
    if not isinstance(source.get(key), str) or not source[key]:
        raise _fail(where, f"source.{key} must be a non-empty string for {source['type']}")


def _check_works(works, where: str) -> tuple[Work, ...]:
    if not isinstance(works, list) or not works:
        raise _fail(where, "'works' must be a non-empty list")
    out, seen = [], set()
    for i, work in enumerate(works):
        if not isinstance(work, dict):
            raise _fail(where, f"works[{i}] is not an object")
        for key in ("id", "path", "sha256", "split"):
            if not isinstance(work.get(key), str) or not work[key]:
                raise _fail(where, f"works[{i}] needs a non-empty string {key!r}")
        if work["split"] not in SPLITS:
            raise _fail(where, f"works[{i}] ({work['id']}): split must be one of {SPLITS}")
        if len(work["sha256"]) != 64:
            raise _fail(where, f"works[{i}] ({work['id']}): sha256 must be 64 hex digits")
        if Path(work["path"]).is_absolute() or ".." in Path(work["path"]).parts:
            raise _fail(where, f"works[{i}] ({work['id']}): path must be relative, inside the root")
        if work["id"] in seen:
            raise _fail(where, f"works[{i}]: duplicate work id {work['id']!r}")
        seen.add(work["id"])
        out.append(Work(work["id"], work["path"], work["sha256"], work["split"]))
    return tuple(out)


def _check_excluded(excluded, where: str) -> tuple[dict, ...]:
    """The optional record of files left out: a list of objects (written back as it was read)."""
    if not isinstance(excluded, list) or not all(isinstance(e, dict) for e in excluded):
        raise _fail(where, "'excluded' must be a list of objects")
    return tuple(excluded)


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest.

    Raises:
        ManifestError: one line naming the file and the problem.
    """
    path = Path(path)
    where = str(path)
    try:
        data = read_json(path, ManifestError)
    except FileNotFoundError:
        raise _fail(where, "no such manifest file") from None
    except OSError as err:
        raise _fail(where, f"cannot read ({err})") from None
    if not isinstance(data, dict):
        raise _fail(where, "top level must be a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        raise _fail(
            where, f"format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}"
        )
    _check_source(data.get("source"), where)
    if not isinstance(data.get("seed", 0), int):
        raise _fail(where, "seed must be an integer")
    return Manifest(
        name=str(data.get("name") or path.stem),
        source=data["source"],
        licence=str(data.get("licence", "")),
        seed=data.get("seed", 0),
        works=_check_works(data.get("works"), where),
        excluded=_check_excluded(data.get("excluded", []), where),
        split_fractions=data.get("split_fractions", dict(DEFAULT_FRACTIONS)),
        description=str(data.get("description", "")),
        file=path.resolve(),
    )


def source_root(manifest: Manifest) -> Path:
    """Folder the work paths are relative to (a relative folder is taken from the file)."""
    if manifest.source["type"] == "music21_corpus":
        return music21_corpus_root()
    folder = Path(manifest.source["path"]).expanduser()
    if not folder.is_absolute() and manifest.file is not None:
        folder = manifest.file.parent / folder
    return folder.resolve()


def check_work(root: Path, work: Work) -> str | None:
    """Why the work's file cannot be used (missing, sha256 mismatch), or None if it can."""
    path = root / work.path
    if not path.is_file():
        return f"file not found under {root}"
    actual = file_sha256(path)
    if actual != work.sha256:
        return f"sha256 mismatch: the manifest has {work.sha256[:12]}..., the file {actual[:12]}..."
    return None
