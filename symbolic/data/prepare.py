"""prepare: manifest -> token arrays + meta.json (the trainer reads exactly this layout).

``out_dir`` holds, per split (train, valid, test):

* ``{split}.npy``: ``[total_tokens] int32``, every sequence as ``[BOS, tokens..., EOS]``,
  concatenated;
* ``{split}_offsets.npy``: ``[num_sequences + 1] int64``, start of each sequence in
  ``{split}.npy``; the last entry is the total length;
* ``{split}_sources.json``: one ``{"work": id, "transpose": semitones}`` per sequence;

plus ``tokenizer.json`` (the tokenizer used, MidiTok JSON) and ``meta.json`` (written
last: it marks a complete folder). Everything is written to a hidden temp folder next
to ``out_dir`` and renamed into place, so a killed or failed run never leaves an
``out_dir`` that looks complete, and a re-run replaces an old one whole.

Augmentation transposes train works only (valid/test never): ``augment_transpose=
(low, high)`` adds one copy per non-zero shift in ``low..high`` semitones. A copy whose
pitched notes would leave the tokenizer's pitch range is dropped (not clipped, which
would change the music) and counted in ``meta.augment.dropped_copies``. Drum
tracks are never transposed.

``view`` keeps one part of each work (melody, chords, drums, ...; see ``views.py``) and
is recorded in ``meta.view``, with the chord tokens it adds in ``meta.extra_tokens``;
the default, every track, writes exactly what it always did.

Files are converted (music21 scores -> MIDI, see ``convert.py``) and tokenized in a
process pool; a file that cannot be used (missing, sha256 mismatch, corrupt, empty,
not MIDI, no notes) is skipped with a one-line reason in ``meta.skipped``.
Converted scores are cached as MIDI by sha256 under ``$XDG_CACHE_HOME/symbolic/midi``
(``~/.cache/...``) so re-preparing with another tokenizer skips music21; so are the chords
of the chord views (JSON beside them). Never imports jax.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from symusic import Score

from symbolic import tokenization
from symbolic.analysis.melody import find_melody
from symbolic.data import align, chords, convert, oddities, views
from symbolic.data.manifest import SPLITS, Work, check_work, load_manifest, manifest_hash
from symbolic.data.manifest import source_root as manifest_source_root
from symbolic.data.meta import (
    FORMAT_VERSION,
    META_FILE,
    Augment,
    DataMeta,
    Skipped,
    SpecialIds,
    SplitCounts,
    read_meta,
    write_meta,
)
from symbolic.data.pool import run_in_pool
from symbolic.paths import (
    locks_folder,
    output_folder,
    remove_stale_temps,
    temp_name,
    write_atomic,
    write_text_atomic,
)
from symbolic.tracks import StreamTrack, common_table, track_table

# Bump when convert.py changes what it writes, so stale cached MIDI is not reused.
CONVERT_CACHE_VERSION = 1


@dataclass(frozen=True)
class _Task:
    work: Work
    root: Path  # the manifest's source root; the file is root / work.path
    shifts: tuple[int, ...]  # 0 first, then the augmentation shifts (train only)
    cache_dir: Path | None
    view: views.View = views.View()
    max_tokens: int | None = None  # --max-tokens-per-work: longer sequences are cut at a bar

    @property
    def path(self) -> Path:
        return self.root / self.work.path


@dataclass
class _Result:
    work: Work
    sequences: list[tuple[int, np.ndarray]]  # (transpose, [length] int32 ids without BOS/EOS)
    dropped_shifts: list[int]
    error: str | None = None
    flags: list[str] = field(default_factory=list)  # odd but kept (oddities.py)
    melody: tuple[str, str] | None = None  # melody views: the track's name, and why it
    downbeat_shift: float | None = None  # --align-downbeat: quarter notes the work was delayed
    meters: dict[str, int] = field(default_factory=dict)  # meters the tokenizer lacks -> bars
    tracks: tuple[StreamTrack, ...] = ()  # what its stream programs stand for


def transposition_shifts(augment_transpose: tuple[int, int] | None) -> tuple[int, ...]:
    """``(low, high)`` -> ``(0, low, ..., high)`` without a second 0."""
    if augment_transpose is None:
        return (0,)
    low, high = (int(x) for x in augment_transpose)
    if low > high:
        raise ValueError(f"augment_transpose {augment_transpose}: low is above high")
    return (0, *(s for s in range(low, high + 1) if s != 0))


def default_cache_dir() -> Path:
    """Where converted scores are cached (``$XDG_CACHE_HOME/symbolic/midi``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "symbolic" / "midi"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text[:200]}"


def _load(task: _Task) -> Score:
    """The work as a ``symusic.Score`` (MIDI read as is; scores converted or cached)."""
    if convert.file_kind(task.path) != "score" or task.cache_dir is None:
        return convert.load_score(task.path)
    cached = task.cache_dir / f"{task.work.sha256}-v{CONVERT_CACHE_VERSION}.mid"
    if cached.is_file():
        return Score(str(cached))
    score = convert.load_score(task.path)
    write_atomic(cached, lambda tmp: score.dump_midi(str(tmp)))
    return score


def _chord_extractor(task: _Task):
    """``chords.extract`` through a JSON cache beside the converted scores (music21's chordify
    is most of a chord view's prepare time), keyed by the work, its bars and the rate."""
    if task.cache_dir is None:
        return chords.extract
    name = f"{task.work.sha256}-v{CONVERT_CACHE_VERSION}-chords-{task.view.chord_rate}"
    path = task.cache_dir / f"{name}-v{chords.EXTRACT_VERSION}.json"

    def extract(score: Score, windows: list) -> list[int]:
        key = [[str(start), str(end)] for start, end in windows]
        if path.is_file():
            cached = json.loads(path.read_text())
            if cached["windows"] == key:
                return cached["labels"]
        labels = chords.extract(score, windows)
        text = json.dumps({"windows": key, "labels": labels})
        write_text_atomic(path, text)
        return labels

    return extract


def load_work(work: Work, root: Path, cache_dir: Path | None = None) -> Score:
    """One manifest work as a ``symusic.Score``, checked against its sha256, through the
    conversion cache (the same Scores `prepare` tokenizes; used by the segments path)."""
    reason = check_work(root, work)
    if reason is not None:
        raise ValueError(f"{work.id}: {reason}")
    return _load(_Task(work, root, (0,), cache_dir))


def _pitch_bounds(score: Score) -> tuple[int, int] | None:
    """Lowest and highest pitch of non-drum notes, or None if there are none."""
    pitches = [track.notes.numpy()["pitch"] for track in score.tracks if not track.is_drum]
    pitches = [p for p in pitches if p.size]
    if not pitches:
        return None
    allp = np.concatenate(pitches)
    return int(allp.min()), int(allp.max())


def _transposed(score: Score, shift: int) -> Score:
    out = score.copy()
    for track in out.tracks:
        if not track.is_drum:
            track.shift_pitch(shift, inplace=True)
    return out


_TOKENIZER = None  # one per worker process, loaded by _init_worker


def _init_worker(tokenizer_path: str) -> None:
    global _TOKENIZER
    _TOKENIZER = tokenization.load_tokenizer(tokenizer_path)


WORK_TIME_LIMIT_S = 120  # one work's load, view and tokenization; past it the work is skipped


@contextlib.contextmanager
def _time_limit(seconds: int):
    """Raise TimeoutError after ``seconds`` (SIGALRM, so only in a main thread on Unix; a
    worker process of the pool runs its tasks in its main thread)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"took longer than the per-work limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _process(task: _Task) -> _Result:
    """Load, check and tokenize one work within ``WORK_TIME_LIMIT_S``; never raises (errors
    and time-outs become the reason)."""
    try:
        with _time_limit(WORK_TIME_LIMIT_S):
            return _tokenize_work(task, _TOKENIZER)
    except Exception as err:  # noqa: BLE001 - any per-file failure is a skip, not a crash
        return _Result(task.work, [], [], _one_line(err))


def _tokenize_work(task: _Task, tokenizer) -> _Result:
    reason = check_work(task.root, task.work)
    if reason is not None:
        return _Result(task.work, [], [], reason)
    score = _load(task)
    if score.note_num() == 0:
        return _Result(task.work, [], [], "no notes")
    delay = None  # quarter notes, --align-downbeat
    if task.view.align_downbeat:
        ticks = align.downbeat_shift(score)
        score, delay = align.delayed(score, ticks), ticks / score.ticks_per_quarter
    flags = oddities.file_oddities(task.path, score)
    meters = oddities.unsupported_meters(score, set(tokenizer.time_signatures))
    if meters:
        flags.append(oddities.meter_flag(meters))
    try:
        notes, harmony = views.select(tokenizer, score, task.view, _chord_extractor(task))
    except views.NoContent as err:
        return _Result(task.work, [], [], str(err))
    low, high = tokenizer.config.pitch_range
    bounds = _pitch_bounds(notes) if notes is not None else None
    sequences, dropped = [], []
    for shift in task.shifts:
        if (
            shift
            and bounds is not None
            and not (low <= bounds[0] + shift and bounds[1] + shift <= high)
        ):
            dropped.append(shift)
            continue
        moved = _transposed(notes, shift) if shift and notes is not None else notes
        moved_harmony = harmony.transposed(shift) if shift and harmony else harmony
        ids = views.encode(tokenizer, task.view, moved, moved_harmony)
        if shift == 0 and notes is not None and tokenization.count_notes(tokenizer, ids) == 0:
            return _Result(task.work, [], [], "no notes in the tokenizer's pitch range")
        ids = np.asarray(ids, dtype=np.int32)
        if task.max_tokens is not None and ids.size > task.max_tokens:
            if shift == 0:
                flags.append(f"cut from {ids.size:,} to --max-tokens-per-work {task.max_tokens:,}")
            ids = oddities.cap_tokens(ids, task.max_tokens, tokenizer.vocab.get("Bar_None"))
        sequences.append((shift, ids))
    return _Result(
        task.work,
        sequences,
        dropped,
        flags=flags,
        melody=_melody_choice(task, score),
        downbeat_shift=delay,
        meters=meters,
        tracks=track_table(notes) if notes is not None else (),
    )


def _melody_choice(task: _Task, score: Score) -> tuple[str, str] | None:
    """The melody views' track for meta.json: its name as written in the file, and why."""
    if not task.view.has_melody:
        return None
    if task.view.track is not None:
        return views.melody_track(score, task.view.track).name, "--track"
    choice = find_melody(score)
    why = {"name": "its name says melody", "features": "monophony, register and density"}
    return choice.name, why.get(choice.reason, choice.reason)


def _run_tasks(tasks: list[_Task], tokenizer_path: Path, workers: int, progress: bool):
    """Yield results in task order; a pool of ``workers`` processes unless ``workers == 1``."""
    return run_in_pool(
        _process,
        tasks,
        workers,
        desc="prepare",
        progress=progress,
        initializer=_init_worker,
        initargs=(str(tokenizer_path),),
    )


class _SplitWriter:
    """Streams one split's sequences to disk, so memory holds offsets, not tokens."""

    def __init__(self, tmp: Path, split: str, bos: int, eos: int) -> None:
        self.tmp, self.split, self.bos, self.eos = tmp, split, bos, eos
        self.raw = open(tmp / f"{split}.raw", "wb")  # noqa: SIM115 - closed in finish()
        self.offsets, self.sources, self.works = [0], [], 0
        self.token_ids: set[int] = set()  # the ids used, for meta.json's programs

    def add(self, result: _Result) -> None:
        self.works += bool(result.sequences)
        for shift, ids in result.sequences:
            self.token_ids.update(np.unique(ids).tolist())
            seq = np.concatenate([[self.bos], ids, [self.eos]]).astype(np.int32)
            self.raw.write(seq.tobytes())
            self.offsets.append(self.offsets[-1] + seq.size)
            self.sources.append({"work": result.work.id, "transpose": shift})

    def finish(self) -> SplitCounts:
        """Write ``{split}.npy``, offsets and sources; returns the split's counts."""
        self.raw.close()
        raw_path, total = self.tmp / f"{self.split}.raw", self.offsets[-1]
        tokens = np.lib.format.open_memmap(
            self.tmp / f"{self.split}.npy", mode="w+", dtype=np.int32, shape=(total,)
        )
        step = 1 << 24
        for start in range(0, total, step):
            count = min(step, total - start)
            tokens[start : start + count] = np.fromfile(
                raw_path, dtype=np.int32, count=count, offset=4 * start
            )
        tokens.flush()
        del tokens
        raw_path.unlink()
        np.save(self.tmp / f"{self.split}_offsets.npy", np.asarray(self.offsets, dtype=np.int64))
        rows = ",\n".join(json.dumps(source) for source in self.sources)
        text = f"[\n{rows}\n]\n" if self.sources else "[]\n"
        (self.tmp / f"{self.split}_sources.json").write_text(text)
        return SplitCounts(self.works, len(self.sources), int(total))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("symbolic", "miditok", "symusic", "music21", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a file, or a non-empty folder that is not a previous prepare."""
    output_folder(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "meta.json").is_file():
        raise FileExistsError(
            f"{out_dir}: exists and is not a prepared data folder (no meta.json); "
            "refusing to replace it"
        )


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished temp folder to ``out_dir``, replacing an old prepare there."""
    _check_replaceable(out_dir)
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def _make_temp_dir(out_dir: Path) -> Path:
    """Hidden sibling of ``out_dir`` (same file system, so the final rename is atomic), named
    with this process's PID: the temp folders of killed prepares (whose PID is gone) are
    removed here, by the next run."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temps(out_dir):
        print(f"symbolic: removed {stale}, left by a prepare that was killed", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=temp_name(out_dir, "-"), dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result should not be
    return tmp


@locks_folder("out_dir")
def prepare(
    manifest_path: str | Path,
    tokenizer_preset_or_path: str | Path = tokenization.DEFAULT_PRESET,
    out_dir: str | Path = "data/prepared",
    *,
    augment_transpose: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: bool = True,
    cache_dir: str | Path | None | bool = True,
    view: views.View | None = None,
    max_tokens_per_work: int | None = None,
) -> DataMeta:
    """Tokenize every work of a manifest into ``out_dir`` (layout: module docstring).

    Args:
        manifest_path: manifest JSON (``data_manifests/bach_chorales.json``, ...).
        tokenizer_preset_or_path: preset name (``"remi"``) or ``tokenizer.json`` path.
        out_dir: output folder, replaced whole on success, untouched on failure.
        augment_transpose: inclusive semitone range ``(low, high)`` for train copies,
            e.g. ``(-3, 3)``; the original (0) is always kept; None = no augmentation.
        workers: processes (default: every core); 1 runs in this process.
        progress: show a tqdm bar on stderr.
        cache_dir: converted-score cache; True = ``default_cache_dir()``, None/False = off.
        view: what to keep of each work (``views.View``; default: every track).
        max_tokens_per_work: cut each sequence to at most this many tokens (at a bar line).
            Files kept but odd (a tempo of 0, a 0/0 meter, a work of over a quarter of the
            train tokens, a cut) are listed in ``meta.flagged`` and printed as warnings.

    Returns:
        The ``meta.json`` record.

    Raises:
        ManifestError: bad manifest. FileExistsError: ``out_dir`` is a file or some other folder.
        RuntimeError: every file was skipped (nothing is written then).
        ValueError: a view the tokenizer cannot lay out, or transposed drums.
    """
    manifest = load_manifest(manifest_path)
    tokenizer_path = tokenization.resolve_tokenizer_path(tokenizer_preset_or_path)
    tokenizer = tokenization.load_tokenizer(tokenizer_path)
    special = SpecialIds.from_json(tokenization.special_ids(tokenizer), f"{tokenizer_path}")
    view = view or views.View()
    _check_view(tokenizer, view, augment_transpose)
    out_dir = Path(out_dir).resolve()
    _check_replaceable(out_dir)  # fail before the long part, not after it
    if workers is not None and not workers >= 1:  # -1 or 0 would mean one, silently
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if max_tokens_per_work is not None and not max_tokens_per_work >= 1:
        raise ValueError(f"--max-tokens-per-work must be >= 1, got {max_tokens_per_work}")
    shifts = transposition_shifts(augment_transpose)
    cache = default_cache_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None)
    root = manifest_source_root(manifest)
    tasks = [
        _Task(
            work, root, shifts if work.split == "train" else (0,), cache, view, max_tokens_per_work
        )
        for work in manifest.works
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    tmp = _make_temp_dir(out_dir)
    try:
        writers = {s: _SplitWriter(tmp, s, special.bos, special.eos) for s in SPLITS}
        outcomes = []  # results without their token arrays, for meta.json
        train_tokens = {}  # work path -> its train tokens, augmented copies included
        for result in _run_tasks(tasks, tokenizer_path, workers, progress):
            writers[result.work.split].add(result)
            if result.work.split == "train" and result.sequences:
                train_tokens[result.work.path] = sum(ids.size + 2 for _, ids in result.sequences)
            outcomes.append(replace(result, sequences=[]))
        if all(r.error for r in outcomes):
            first = "; ".join(f"{r.work.path}: {r.error}" for r in outcomes[:3])
            raise RuntimeError(f"prepare: every file of {manifest.file} was skipped ({first})")
        counts = {split: writer.finish() for split, writer in writers.items()}
        _warn_empty_splits(out_dir, counts)
        tokenizer.save(tmp / "tokenizer.json")
        meta = _meta(
            manifest, tokenizer, tokenizer_preset_or_path, special, outcomes, shifts, counts
        )
        meta = replace(
            _with_view(meta, tokenizer, view),
            programs=_used_programs(tokenizer, writers["train"].token_ids),
            flagged=_flagged(out_dir, outcomes, train_tokens),
            melody_track=_melody_tracks(outcomes, 0),
            melody_track_reason=_melody_tracks(outcomes, 1),
            downbeat_shifts={
                r.work.id: r.downbeat_shift for r in outcomes if r.downbeat_shift is not None
            }
            or None,
            unsupported_meters=_unsupported_meters(outcomes),
            tracks=common_table([r.tracks for r in outcomes if r.tracks]) or None,
        )
        write_meta(meta, tmp / META_FILE)  # the completion mark
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _used_programs(tokenizer, token_ids: set[int]) -> tuple[int, ...] | None:
    """The programs of the ``Program`` tokens among ``token_ids``; None for a tokenizer
    without them."""
    if not any(tok.startswith("Program_") for tok in tokenizer.vocab):
        return None
    vocab = tokenizer.vocab.items()
    return tuple(
        sorted(int(tok[8:]) for tok, i in vocab if tok.startswith("Program_") and i in token_ids)
    )


def _unsupported_meters(outcomes: list[_Result]) -> dict[str, dict[str, int]] | None:
    """meta.json's ``unsupported_meters``: meter as written -> work id -> bars in it."""
    found: dict[str, dict[str, int]] = {}
    for r in outcomes:
        for meter, bars in r.meters.items():
            found.setdefault(meter, {})[r.work.id] = bars
    return found or None


def _melody_tracks(outcomes: list[_Result], field_index: int) -> dict[str, str] | None:
    """meta.json's ``melody_track`` (field 0: work id -> the track's name) or
    ``melody_track_reason`` (field 1), for a melody view."""
    chosen = {r.work.id: r.melody[field_index] for r in outcomes if r.melody is not None}
    return chosen or None


def _flagged(
    out_dir: Path, outcomes: list[_Result], train_tokens: dict[str, int]
) -> tuple[Skipped, ...] | None:
    """meta.json's ``flagged``: the kept files with something odd about them (their flags, and
    a share of the train tokens over ``oddities.MAX_TRAIN_SHARE``), each printed as a warning."""
    reasons = {r.work.path: list(r.flags) for r in outcomes if r.flags and not r.error}
    for path, share in oddities.dominant_works(train_tokens).items():
        cut = any(r.startswith("cut from") for r in reasons.get(path, []))
        cap = "" if cut else "; cap it with --max-tokens-per-work"
        reasons.setdefault(path, []).append(f"{share:.0%} of all train tokens{cap}")
    flagged = tuple(Skipped(path, "; ".join(why)) for path, why in sorted(reasons.items()))
    for item in flagged:
        print(f"symbolic: warning: {out_dir}: kept {item.file}: {item.reason}", file=sys.stderr)
    return flagged or None


def _warn_empty_splits(out_dir: Path, counts: dict[str, SplitCounts]) -> None:
    """The manifest's split is kept as it is (moving works would change what a test score
    means), so a split it leaves empty, or whose every file was skipped, is only reported:
    `train` then runs without validation, and `eval` refuses that split."""
    for split, count in counts.items():
        if count.sequences == 0:
            print(f"symbolic: warning: {out_dir}: split {split!r} is empty", file=sys.stderr)


def _check_view(tokenizer, view: views.View, augment_transpose) -> None:
    """Refuse a view this tokenizer cannot lay out, before any work is done."""
    if view.has_chords and "Bar_None" not in tokenizer.vocab:
        raise ValueError(f"--view {view.name} lays chords out per bar: use a REMI tokenizer")
    if view.name == "drums" and augment_transpose is not None:
        raise ValueError("--transpose adds nothing to --view drums: drums are never transposed")


def _with_view(meta: DataMeta, tokenizer, view: views.View) -> DataMeta:
    """Record a view other than ``full`` (whose meta.json stays as it was) and its extra ids."""
    if view == views.View():
        return meta
    extra = views.extra_tokens(tokenizer, view)
    return replace(meta, vocab_size=meta.vocab_size + len(extra), view=view, extra_tokens=extra)


def _meta(manifest, tokenizer, preset, special: SpecialIds, outcomes, shifts, counts) -> DataMeta:
    """The ``meta.json`` record of the full view."""
    return DataMeta(
        format_version=FORMAT_VERSION,
        vocab_size=len(tokenizer.vocab),
        special_ids=special,
        tokenizer_preset=str(preset),
        tokenizer_hash=tokenization.tokenizer_hash(tokenizer),
        manifest_path=str(manifest.file),
        manifest_name=manifest.name,
        manifest_hash=manifest_hash(manifest.file),
        counts=counts,
        skipped=tuple(Skipped(r.work.path, r.error) for r in outcomes if r.error),
        augment=Augment(
            transpose=(min(shifts), max(shifts)) if len(shifts) > 1 else None,
            shifts=tuple(s for s in shifts if s != 0),
            dropped_copies=sum(len(r.dropped_shifts) for r in outcomes),
        ),
        seed=manifest.seed,
        created_with=_versions(),
    )


def is_prepared(
    out_dir: str | Path,
    manifest_path: str | Path,
    tokenizer_preset_or_path: str | Path = tokenization.DEFAULT_PRESET,
    *,
    augment_transpose: tuple[int, int] | None = None,
    view: views.View | None = None,
) -> bool:
    """True if ``out_dir`` is a complete prepare of this manifest, tokenizer, augmentation and
    view.

    Compares the manifest's sha256, the tokenizer hash, the shifts and the view with
    ``meta.json``.
    """
    try:
        meta = read_meta(Path(out_dir) / META_FILE)
        tokenizer = tokenization.load_tokenizer(tokenizer_preset_or_path)
        manifest_sha = manifest_hash(manifest_path)
    except (OSError, ValueError):  # a file missing or malformed: not this prepare
        return False
    return (
        isinstance(meta, DataMeta)
        and meta.format_version == FORMAT_VERSION
        and meta.manifest_hash == manifest_sha
        and meta.tokenizer_hash == tokenization.tokenizer_hash(tokenizer)
        and meta.augment is not None
        and meta.augment.shifts == transposition_shifts(augment_transpose)[1:]
        and meta.view == (view or views.View())
    )
