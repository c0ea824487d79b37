"""`symbolic audio prepare`: manifest -> rendered audio features + frame targets + meta.json.

``out_dir`` holds, per split (train, valid, test), every rendered copy of its works
concatenated along time:

* ``{split}_features.npy``: ``[frames, num_bins] float16`` log-mel or log-CQT
  (``features.compute``);
* ``{split}_labels.npy``: ``[frames, 4, num_keys] uint8``: onset, frame, offset (0/1) and
  velocity (1..127 at onset frames) of each key (``notes.frame_targets``);
* ``{split}_index.npy``: ``[pieces + 1] int64``, first frame of each piece (last: the total);
* ``{split}_notes.npy``: ``[notes, 5] float64``: piece, onset s, offset s, pitch, velocity:
  the exact notes each piece plays, the reference of `symbolic eval`;
* ``{split}_sources.json``: one ``{"work", "variant"}`` per piece;

and ``meta.json`` (an ``AudioMeta``, written last). Works are rendered with FluidSynth at one
sample rate, mono (``synth.py``). The train split gets ``copies`` augmented copies of each work
(program, velocity scale, tempo, reverb, noise: ``synth.random_variant``); valid and test get one
plain copy each (reverb on, no noise, tempo 1), its program chosen from ``programs`` by the
work's id. The split is the manifest's, by work. Rendering runs in a process pool with a
progress bar; a work that cannot be used is skipped with its reason in ``meta.skipped``;
everything is written to a temp folder and renamed into place (as ``symbolic prepare``).
Never imports jax.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symbolic.audio import features as features_lib
from symbolic.audio import synth
from symbolic.audio.notes import frame_targets, merge_unisons, score_notes
from symbolic.data.manifest import SPLITS, Work, load_manifest, manifest_hash
from symbolic.data.manifest import source_root as manifest_source_root
from symbolic.data.meta import META_FILE, AudioMeta, Skipped, write_meta
from symbolic.data.pool import run_in_pool
from symbolic.data.prepare import (
    _check_replaceable,
    _make_temp_dir,
    _one_line,
    _publish,
    _versions,
    default_cache_dir,
    load_work,
)
from symbolic.output import render as render_lib
from symbolic.paths import locks_folder

LABELS = ("onsets", "frames", "offsets", "velocities")  # the axis-1 order of {split}_labels.npy


@dataclass(frozen=True)
class _Task:
    work: Work
    root: Path
    variants: tuple[synth.Variant, ...]
    seed: int
    params: features_lib.FeatureParams
    soundfont: Path
    max_seconds: float | None
    cache_dir: Path | None


@dataclass
class _Piece:
    variant: synth.Variant
    features: np.ndarray  # [T, F] float16
    labels: np.ndarray  # [T, 4, K] uint8
    notes: np.ndarray  # [N, 4]


@dataclass
class _Result:
    work: Work
    pieces: list[_Piece] = field(default_factory=list)
    error: str | None = None


def work_notes(work: Work, root: Path, cache_dir: Path | None) -> np.ndarray:
    """Every non-drum note of a work, in seconds, as notes [N, 4]."""
    return score_notes(load_work(work, root, cache_dir))


def render_piece(
    notes: np.ndarray,
    variant: synth.Variant,
    params: features_lib.FeatureParams,
    soundfont: Path | None,
    rng: np.random.Generator,
) -> _Piece:
    """One rendered copy: the variant's notes, its audio's features and their frame labels."""
    played = synth.variant_notes(notes, variant, rng)
    audio = synth.render_notes(played, variant, params.sample_rate, soundfont, rng)
    feats = features_lib.compute(audio, params)
    targets = frame_targets(played, len(feats), params.frames_per_second)
    labels = np.stack([targets[name] for name in LABELS], axis=1)
    return _Piece(variant, feats.astype(np.float16), labels, played)


def _process(task: _Task) -> _Result:
    """Render every variant of one work; never raises (an error becomes the skip reason)."""
    try:
        notes = work_notes(task.work, task.root, task.cache_dir)
        if task.max_seconds is not None:
            notes = notes[notes[:, 0] < task.max_seconds]
            notes[:, 1] = np.minimum(notes[:, 1], task.max_seconds)
        if len(merge_unisons(notes)) == 0:
            return _Result(task.work, error="no notes")
        pieces = []
        for i, variant in enumerate(task.variants):
            rng = np.random.default_rng([task.seed, _stable(task.work.id), i])
            pieces.append(render_piece(notes, variant, task.params, task.soundfont, rng))
        return _Result(task.work, pieces)
    except Exception as err:  # noqa: BLE001 - any per-file failure is a skip, not a crash
        return _Result(task.work, error=_one_line(err))


def _stable(text: str) -> int:
    """A number of `text` that is the same in every process (str hashes are salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def work_variants(
    work: Work, copies: int, programs: tuple[int, ...], seed: int
) -> tuple[synth.Variant, ...]:
    """`copies` augmented variants for a train work; one plain variant for valid and test."""
    if work.split != "train":
        program = programs[_stable(work.id) % len(programs)]
        return (synth.Variant(program=program, reverb=True),)
    rng = np.random.default_rng([seed, _stable(work.id)])
    return tuple(synth.random_variant(rng, programs) for _ in range(copies))


class _SplitWriter:
    """Streams one split's pieces to raw files; `finish` turns them into .npy files."""

    def __init__(self, tmp: Path, split: str) -> None:
        self.tmp, self.split = tmp, split
        self.raw = {n: open(tmp / f"{split}_{n}.raw", "wb") for n in ("features", "labels")}  # noqa: SIM115
        self.index, self.notes, self.sources, self.shapes = [0], [], [], {}

    def add(self, result: _Result) -> None:
        for piece in result.pieces:
            self.raw["features"].write(piece.features.tobytes())
            self.raw["labels"].write(piece.labels.tobytes())
            self.shapes = {"features": piece.features.shape[1:], "labels": piece.labels.shape[1:]}
            number = np.full((len(piece.notes), 1), len(self.sources), np.float64)
            self.notes.append(np.hstack([number, piece.notes]))
            self.index.append(self.index[-1] + len(piece.features))
            self.sources.append({"work": result.work.id, "variant": piece.variant.to_json()})

    def finish(self, num_bins: int, num_keys: int) -> dict:
        frames = self.index[-1]
        shapes = {"features": (num_bins,), "labels": (len(LABELS), num_keys)}
        dtypes = {"features": np.float16, "labels": np.uint8}
        for name, raw in self.raw.items():
            raw.close()
            path = self.tmp / f"{self.split}_{name}.raw"
            data = np.fromfile(path, dtype=dtypes[name]).reshape(frames, *shapes[name])
            np.save(self.tmp / f"{self.split}_{name}.npy", data)
            path.unlink()
        np.save(self.tmp / f"{self.split}_index.npy", np.asarray(self.index, np.int64))
        notes = np.vstack(self.notes) if self.notes else np.zeros((0, 5))
        np.save(self.tmp / f"{self.split}_notes.npy", notes)
        text = ",\n".join(json.dumps(s) for s in self.sources)
        (self.tmp / f"{self.split}_sources.json").write_text(f"[\n{text}\n]\n")
        return {
            "works": len({s["work"] for s in self.sources}),
            "pieces": len(self.sources),
            "frames": int(frames),
            "notes": int(len(notes)),
        }


def _run(tasks: list[_Task], workers: int, progress: bool):
    """Yield results in task order, from a spawn pool unless workers == 1 (a render is long:
    one task at a time per worker)."""
    return run_in_pool(
        _process, tasks, workers, desc="audio prepare", progress=progress, chunksize=1
    )


@locks_folder("out_dir")
def prepare_audio(
    manifest_paths: str | Path | list[str | Path],
    out_dir: str | Path,
    *,
    copies: int = 2,
    programs: tuple[int, ...] = synth.SEEN_PROGRAMS,
    manifest_programs: dict[str, tuple[int, ...]] | None = None,
    params: features_lib.FeatureParams | None = None,
    max_seconds: float | None = None,
    soundfont: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
) -> AudioMeta:
    """Render and featurise every work of one or more manifests into ``out_dir`` (layout: module
    doc; each work keeps its own manifest's split, so several data sets train one model).

    ``copies`` augmented renders per train work, drawn from ``programs``, or for the works of a
    manifest named in ``manifest_programs`` from its own programs (POP909's songs as piano, say,
    beside chorales in many timbres); ``max_seconds`` keeps
    only each work's first seconds (quick data sets, tests). Raises RenderError without
    FluidSynth or a SoundFont, RuntimeError when every work was skipped."""
    manifest_programs = {name: tuple(p) for name, p in (manifest_programs or {}).items()}
    every = [programs, *manifest_programs.values()]
    if copies < 1 or any(not p or not all(0 <= x <= 127 for x in p) for p in every):
        raise ValueError("audio prepare: need --copies >= 1 and GM programs in 0..127")
    if workers is not None and not workers >= 1:  # -1 or 0 would mean one, silently
        raise ValueError(f"audio prepare: --workers must be >= 1, got {workers}")
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"audio prepare: --max-seconds must be a number > 0, got {max_seconds}")
    if not 0 <= seed <= 2**63 - 1:  # numpy's generators take an unsigned 64-bit seed
        raise ValueError(f"audio prepare: --seed must be in [0, 2**63 - 1], got {seed}")
    params = params or features_lib.FeatureParams()
    paths = [manifest_paths] if isinstance(manifest_paths, (str, Path)) else list(manifest_paths)
    manifests = [load_manifest(path) for path in paths]
    unknown = sorted(set(manifest_programs) - {m.name for m in manifests})
    if unknown:
        names = ", ".join(m.name for m in manifests)
        raise ValueError(f"audio prepare: --manifest-programs names {unknown}; manifests: {names}")
    render_lib.find_fluidsynth()
    font = render_lib.find_soundfont(soundfont)
    out_dir = Path(out_dir).resolve()
    _check_replaceable(out_dir)
    cache = default_cache_dir()
    tasks = [
        _Task(
            work,
            manifest_source_root(manifest),
            work_variants(
                work, copies, manifest_programs.get(manifest.name, tuple(programs)), seed
            ),
            seed,
            params,
            font,
            max_seconds,
            cache,
        )
        for manifest in manifests
        for work in manifest.works
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    tmp = _make_temp_dir(out_dir)
    try:
        writers = {split: _SplitWriter(tmp, split) for split in SPLITS}
        skipped = []
        for result in _run(tasks, workers, progress):
            if result.error:
                skipped.append(Skipped(result.work.path, result.error))
            writers[result.work.split].add(result)
        if len(skipped) == len(tasks):
            first = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:3])
            raise RuntimeError(f"audio prepare: every work was skipped ({first})")
        counts = {s: w.finish(params.num_bins, 88) for s, w in writers.items()}
        meta = AudioMeta(
            sample_rate=params.sample_rate,
            hop_length=params.hop_length,
            num_bins=params.num_bins,
            features=params.to_json(),
            programs={
                s: sorted(
                    {t.variants[0].program for t in tasks if t.work.split == s}
                    | {v.program for t in tasks if t.work.split == s for v in t.variants}
                )
                for s in SPLITS
            },
            manifest=",".join(str(m.file) for m in manifests),
            manifest_hash=",".join(manifest_hash(m.file) for m in manifests),
            soundfont=str(font),
            soundfont_hash=_file_sha256(font),
            augment={
                "copies": copies,
                "programs": list(programs),
                "manifest_programs": {k: list(v) for k, v in manifest_programs.items()},
                "max_seconds": max_seconds,
                "splits": ["train"],
                "velocity_scale": [0.6, 1.3],
                "tempo": [0.85, 1.15],
                "reverb": "on or off, p=0.5",
                "noise_db": [30.0, 50.0],
            },
            seed=seed,
            counts=counts,
            skipped=tuple(skipped),
            created_with=_versions() | _audio_versions(),
        )
        write_meta(meta, tmp / META_FILE)
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _audio_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"librosa": version("librosa"), "fluidsynth": _fluidsynth_version()}


def _fluidsynth_version() -> str:
    import subprocess

    out = subprocess.run(
        [render_lib.find_fluidsynth(), "--version"], capture_output=True, text=True
    ).stdout
    return out.splitlines()[0].split()[-1] if out else "unknown"
