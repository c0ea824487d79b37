"""Data-set manifests: where the works are, their sha256, their split and licence.

A manifest is a JSON file (``data_manifests/*.json``)::

    {"format_version": 1, "name": "bach_chorales",
     "source": {"type": "music21_corpus", "composer": "bach"}   # or
               {"type": "folder", "path": "my_midis"},           # relative to this file
     "licence": "...", "seed": 0,
     "split_fractions": {"train": 0.8, "valid": 0.1, "test": 0.1},
     "works": [{"id": "bwv66.6", "path": "bach/bwv66.6.mxl", "sha256": "...",
                "split": "train"}, ...],
     "excluded": [{"path": "...", "reason": "..."}],
     "group_by": "top"}                                          # optional

Work paths are relative to the source root (the music21 corpus folder, or the user's
folder), so a manifest is portable across machines. The split is by work: a work goes to
the split its ``sha256(f"{seed}:{work_id}")`` falls in, so adding files never moves
existing works. With ``group_by`` the split is by group instead (each work then records its
``group``): every file of one group, such as a song and its ``versions/`` copies, lands in
one split, so no piece is trained on and tested on. The one exception, for tiny data sets
only: when a split would be empty and there are at least three works (groups), the work
(group) of the fullest split whose number lies nearest the empty split's band moves to it,
so no split is empty. ``split_leaks`` counts the files whose notes or file name recur in
another split, the leaks that ``group_by`` and ``exclude`` are for. Never imports jax.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from symbolic.data.convert import MIDI_SUFFIXES, NOT_SCORE_SUFFIXES, file_kind
from symbolic.paths import output_file, read_json, remove_stale_temps, write_text_atomic

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
GROUP_BY_NAMES = ("top", "parent")  # else a regular expression whose first group names the group
_NOTE_HASH_TICKS = 480  # note times are compared at 1/480 quarter, whatever a file's resolution


class ManifestError(ValueError):
    """A manifest that cannot be read or is malformed; the message is one line."""


@dataclass(frozen=True)
class Work:
    """One work: ``path`` is relative to the source root, POSIX separators."""

    id: str
    path: str
    sha256: str
    split: str
    group: str | None = None  # the split group, when the manifest has a group_by


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
    group_by: str | None = None  # "top", "parent" or a regex: see `group_key`
    file: Path | None = None

    def to_json(self) -> dict:
        """The JSON document (without ``file``; ``group_by`` and ``group`` only when set)."""
        data = {"format_version": FORMAT_VERSION, **asdict(self)}
        data.pop("file")
        if self.group_by is None:
            data.pop("group_by")
        data["works"] = [_present(asdict(w)) for w in self.works]
        data["excluded"] = list(self.excluded)
        return data


def _present(row: dict) -> dict:
    return {key: value for key, value in row.items() if value is not None}


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
    """Split name per work (or group) id, by hash band (see module docstring)."""
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


def check_group_by(group_by: str | None) -> str | None:
    """``group_by`` as given, once checked: "top", "parent", or a regex with a group."""
    if group_by is None or group_by in GROUP_BY_NAMES:
        return group_by
    try:
        pattern = re.compile(group_by)
    except re.error as err:
        raise ManifestError(f"--group-by {group_by!r}: not a regular expression ({err})") from None
    if pattern.groups < 1:
        raise ManifestError(
            f"--group-by {group_by!r}: use 'top', 'parent' or a regex with a (group), "
            "e.g. '^(\\d+)/'"
        )
    return group_by


def group_key(rel: str, group_by: str) -> str:
    """The split group of the file at ``rel`` (POSIX, relative to the folder): ``top``, its
    first folder (POP909's ``NNN/``); ``parent``, its own folder; a regex, its first group
    where it matches. A file directly in the folder, or one the regex misses, is a group
    of its own."""
    parts = rel.split("/")
    if group_by in GROUP_BY_NAMES:
        if len(parts) == 1:
            return rel
        return parts[0] if group_by == "top" else "/".join(parts[:-1])
    match = re.search(group_by, rel)
    return match.group(1) if match and match.group(1) else rel


def _excluded_by(rel: str, globs: tuple[str, ...]) -> str | None:
    """The first glob that the path, or one of its folder or file names, matches."""
    for glob in globs:
        if fnmatch.fnmatchcase(rel, glob) or any(
            fnmatch.fnmatchcase(part, glob) for part in rel.split("/")
        ):
            return glob
    return None


def _select_works(root: Path, paths: list[Path], source_type: str, exclude: tuple[str, ...] = ()):
    """Usable files as sorted ``(id, rel)`` pairs, one encoding per work, plus exclusions."""
    rank = {suffix: i for i, suffix in enumerate(_ENCODING_PREFERENCE)}
    groups: dict[str, list[str]] = {}
    excluded = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        glob = _excluded_by(rel, exclude)
        if glob is not None:
            excluded.append({"path": rel, "reason": f"excluded by --exclude {glob!r}"})
        elif file_kind(path) == "other":
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
    exclude: tuple[str, ...] = (),
    group_by: str | None = None,
    max_works: dict[str, int] | None = None,
) -> Manifest:
    """Scan a source and build a manifest (hashes every file).

    Args:
        source: ``{"type": "music21_corpus", "composer": ...}`` or
            ``{"type": "folder", "path": ...}``; a relative folder path is taken
            relative to ``base_dir`` (the folder the manifest will be written to).
        name: data-set name. seed: split seed. licence: licence note (defaults per source).
        exclude: globs of paths left out (matched on the relative path and on each of its
            folder and file names, so ``versions`` leaves out every ``versions/`` folder).
        group_by: split by group rather than by work (``group_key``).
        max_works: {split: N}: keep only the first N works of that split (in the manifest's
            order), a subset that keeps the full folder's split; the description records it.
    """
    _check_source(source, "source")
    group_by = check_group_by(group_by)
    source = dict(source)
    if source["type"] == "music21_corpus":
        root, paths = _scan_music21(source["composer"])
        source.setdefault("music21_version", _music21_version())
        composer = _COMPOSER_NAMES.get(source["composer"], source["composer"])
        licence = licence or MUSIC21_LICENCE.format(composer=composer)
    else:
        root, paths = _scan_folder(Path(base_dir) / source["path"])
        licence = licence or FOLDER_LICENCE
    selected, excluded = _select_works(root, paths, source["type"], tuple(exclude))
    if not selected:
        raise ManifestError(f"{root}: no files left after --exclude {list(exclude)}")
    groups = [None if group_by is None else group_key(rel, group_by) for _, rel in selected]
    split_of = _group_splits([g or w for g, (w, _) in zip(groups, selected, strict=True)], seed)
    works = tuple(
        Work(id=w, path=rel, sha256=file_sha256(root / rel), split=split_of[g or w], group=g)
        for (w, rel), g in zip(selected, groups, strict=True)
    )
    if max_works:
        works, note = _first_works(works, max_works)
        description = f"{description} {note}".strip()
    return Manifest(
        name,
        dict(source),
        licence,
        seed,
        works,
        tuple(excluded),
        description=description,
        group_by=group_by,
    )


def _first_works(works: tuple[Work, ...], max_works: dict[str, int]) -> tuple[tuple, str]:
    """The works with at most max_works[split] of each split named there, and a note of it."""
    unknown = set(max_works) - set(SPLITS)
    if unknown or any(n < 0 for n in max_works.values()):
        raise ManifestError(
            f"--max-works: want SPLIT=N with SPLIT in {SPLITS} and N >= 0, got {max_works}"
        )
    kept, seen = [], dict.fromkeys(SPLITS, 0)
    for work in works:
        seen[work.split] += 1
        if work.split not in max_works or seen[work.split] <= max_works[work.split]:
            kept.append(work)
    if not kept:
        raise ManifestError(f"--max-works {max_works}: no works left")
    limits = ", ".join(f"{n} {split}" for split, n in max_works.items())
    return tuple(kept), f"A subset: the first {limits} works of the folder's split."


def _group_splits(keys: list[str], seed: int) -> dict[str, str]:
    """The split of each distinct key (a work id, or a group shared by several works)."""
    distinct = sorted(set(keys))
    return dict(zip(distinct, assign_splits(distinct, seed), strict=True))


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
    """Write ``manifest`` as indented JSON (atomically: temp file then rename); the temp files
    of killed writers of PATH (their PID gone) are removed first."""
    remove_stale_temps(path)
    return write_text_atomic(output_file(path), _format_json(manifest.to_json()))


def write_folder_manifest(
    folder: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    name: str | None = None,
    licence: str | None = None,
    exclude: tuple[str, ...] = (),
    group_by: str | None = None,
    max_works: dict[str, int] | None = None,
) -> Path:
    """Write a manifest for a folder of MIDI files to ``out``; returns ``out``.

    This is what ``symbolic manifest DIR --out FILE`` runs (``exclude``, ``group_by`` and
    ``max_works`` as in `build_manifest`). Raises ManifestError for a missing folder or one without
    .mid/.midi files.

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
        exclude=exclude,
        group_by=group_by,
        max_works=max_works,
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
        if work.get("group") is not None and not isinstance(work["group"], str):
            raise _fail(where, f"works[{i}] ({work['id']}): group must be a string")
        seen.add(work["id"])
        out.append(Work(work["id"], work["path"], work["sha256"], work["split"], work.get("group")))
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
        group_by=_checked_group_by(data.get("group_by"), where),
        file=path.resolve(),
    )


def _checked_group_by(group_by, where: str) -> str | None:
    if group_by is not None and not isinstance(group_by, str):
        raise _fail(where, "group_by must be a string")
    try:
        return check_group_by(group_by)
    except ManifestError as err:
        raise _fail(where, str(err)) from None


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


# --- leaks between splits -----------------------------------------------------------------


@dataclass(frozen=True)
class Leaks:
    """Files whose notes (``same_notes``) or file name (``same_name``) recur in another split:
    a work trained on and tested on. ``files`` counts the works in either kind of group."""

    same_notes: int
    same_name: int
    files: int

    def warning(self) -> str | None:
        """The one-line warning `symbolic manifest` prints, or None when nothing leaks."""
        if not self.files:
            return None
        return (
            f"warning: {self.files} files have a twin in another split ({self.same_notes} with "
            f"identical notes, {self.same_name} with the same file name); leave copies out with "
            "--exclude GLOB, or keep each work's files together with --group-by top|parent|REGEX"
        )


def notes_hash(path: Path) -> str | None:
    """sha256 of a MIDI file's notes (time and duration at 1/480 quarter, pitch, drum flag,
    over all tracks, sorted), so re-saved or re-named copies hash alike; None for a file
    symusic cannot read (prepare reports those)."""
    from symusic import Score

    try:
        score = Score(str(path))
    except Exception:  # a corrupt file: skipped by prepare with its reason, no leak to count
        return None
    scale = _NOTE_HASH_TICKS / max(score.ticks_per_quarter, 1)
    rows = []
    for track in score.tracks:
        n = track.notes.numpy()
        times = np.round(n["time"] * scale).astype(np.int64)
        durations = np.round(n["duration"] * scale).astype(np.int64)
        drum = np.full(len(times), int(track.is_drum), np.int64)
        rows.append(np.stack([times, durations, n["pitch"].astype(np.int64), drum], axis=1))
    if not rows or not sum(len(r) for r in rows):
        return None  # no notes: nothing that could leak
    notes = np.concatenate(rows)
    notes = notes[np.lexsort(notes.T[::-1])]
    return hashlib.sha256(notes.tobytes()).hexdigest()


def split_leaks(manifest: Manifest) -> Leaks:
    """The `Leaks` of a folder manifest (a music21 corpus has unique, curated works)."""
    if manifest.source["type"] != "folder":
        return Leaks(0, 0, 0)
    root = source_root(manifest)
    by_notes: dict[str, list[Work]] = {}
    by_name: dict[str, list[Work]] = {}
    for work in manifest.works:
        digest = (
            notes_hash(root / work.path)
            if Path(work.path).suffix.lower() in MIDI_SUFFIXES
            else None
        )
        if digest is not None:
            by_notes.setdefault(digest, []).append(work)
        by_name.setdefault(Path(work.path).name.lower(), []).append(work)
    notes_groups = [g for g in by_notes.values() if len({w.split for w in g}) > 1]
    name_groups = [g for g in by_name.values() if len({w.split for w in g}) > 1]
    leaking = {w.id for group in notes_groups + name_groups for w in group}
    return Leaks(len(notes_groups), len(name_groups), len(leaking))
