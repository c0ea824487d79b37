"""`symbolic gan prepare`: a manifest -> a folder of piano-roll phrases (numpy only, no jax).

The phrases and their layout are `symbolic.data.phrases`'; this module walks a manifest (through
`prepare`'s conversion cache and sha256 checks), keeps the works it can use, skips the others
with their one-line reason, transposes the train split, and writes the folder atomically (a
hidden temp folder renamed into place, as `prepare` does), meta.json (`PhrasesMeta`) last.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from symbolic.data import phrases as ph
from symbolic.data.manifest import SPLITS, load_manifest, source_root
from symbolic.data.meta import (
    META_FILE,
    PhrasesMeta,
    SegmentCounts,
    SkippedWork,
    load_meta,
    write_meta,
)
from symbolic.data.prepare import (
    _check_replaceable,
    _make_temp_dir,
    _one_line,
    _publish,
    default_cache_dir,
    load_work,
    transposition_shifts,
)


def _work_phrases(work, root: Path, cache: Path, tracks, grid: ph.Grid, hop, min_notes):
    """(phrases dict, drop counts, programs, names) of one work; raises on a work to skip."""
    score = load_work(work, root, cache)
    ids = ph.match_tracks(score, tracks)
    bars = ph.work_bars(score, root / work.path, grid.beats_per_bar)
    roll, onsets, outside = ph.track_rolls(score, ids, bars, grid)
    found, dropped = ph.work_phrases(roll, onsets, outside, bars, grid, hop, min_notes)
    programs = tuple(int(score.tracks[i].program) for i in ids)
    return found, dropped, programs, bars.meter


def prepare_phrases(
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    tracks: tuple[str, ...],
    grid: ph.Grid = ph.Grid(),
    hop: int | None = None,
    min_notes: int = 8,
    augment_transpose: tuple[int, int] | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> PhrasesMeta:
    """Cut every work of a manifest into phrases of `grid.bars` bars (one every `hop` bars,
    default `grid.bars`: MuseGAN's non-overlapping phrases) of `tracks`, and write OUT_DIR.
    `augment_transpose=(low, high)` adds transposed copies of the train phrases; `limit` keeps
    the first works of each split only (quick runs and tests)."""
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)  # fail before the long part, not after it
    if not tracks:
        raise ValueError("--tracks: name at least one track")
    hop = hop or grid.bars
    shifts = transposition_shifts(augment_transpose)
    manifest = load_manifest(manifest_path)
    root, cache = source_root(manifest), cache_dir or default_cache_dir()
    works = [w for split in SPLITS for w in manifest.works if w.split == split]
    if limit is not None:
        works = [w for s in SPLITS for w in [x for x in works if x.split == s][:limit]]
    splits: dict[str, list] = {name: [] for name in SPLITS}
    dropped = {"other_meter": 0, "too_few_notes": 0, "out_of_range": 0}
    dropped |= {"other_meter_works": 0, "transposed_out_of_range": 0}
    skipped, programs, meters = [], None, set()
    for work in tqdm(works, desc="gan prepare", unit="work", disable=not progress):
        try:
            found, counts, progs, meter = _work_phrases(
                work, root, cache, tracks, grid, hop, min_notes
            )
        except ValueError as err:
            reason = str(err)
            if reason.startswith("meter "):
                dropped["other_meter_works"] += 1  # a whole work in another meter
            skipped.append(SkippedWork(work.id, reason[:200]))
            continue
        except Exception as err:  # noqa: BLE001 - any per-file failure is a skip, not a crash
            skipped.append(SkippedWork(work.id, _one_line(err)))
            continue
        for key, value in counts.items():
            dropped[key] += value
        if len(found["bar"]) == 0:
            skipped.append(SkippedWork(work.id, "no phrase kept (see dropped)"))
            continue
        programs, meters = programs or progs, meters | {meter}
        if work.split == "train":
            found, lost = ph.transposed(found, shifts)
            dropped["transposed_out_of_range"] += lost
        else:
            found["transpose"] = np.zeros(len(found["bar"]), np.int32)
        for key in ("pianoroll", "onsets"):  # packed at once: POP909 is GBs unpacked
            found[key] = ph.pack(found[key])
        splits[work.split].append((work.id, found))
    if not splits["train"]:
        raise ValueError(f"{manifest_path}: no training phrase; first skips: {skipped[:3]}")
    meta = PhrasesMeta(
        tracks=tuple(t.strip() for t in tracks),
        programs=programs,
        bars=grid.bars,
        steps_per_beat=grid.steps_per_beat,
        beats_per_bar=grid.beats_per_bar,
        low_pitch=grid.low,
        high_pitch=grid.high,
        meter="/".join(sorted(meters)),
        hop=hop,
        min_notes=min_notes,
        manifest=str(manifest_path),
        transpose=(min(shifts), max(shifts)) if len(shifts) > 1 else None,
        dropped=dropped,
        skipped=tuple(skipped),
    )
    return _write(out_dir, splits, meta, grid)


def _write(out_dir: Path, splits: dict, meta: PhrasesMeta, grid: ph.Grid) -> PhrasesMeta:
    tmp = _make_temp_dir(out_dir)
    try:
        counts, works = {}, {}
        for name, items in splits.items():
            empty = ph.pack(np.zeros((0, len(meta.tracks), grid.steps, grid.pitches), bool))
            arrays = {
                key: np.concatenate([f[key] for _, f in items] or [empty])
                for key in ("pianoroll", "onsets")
            }
            np.savez_compressed(
                tmp / f"{name}.npz",
                pianoroll=arrays["pianoroll"],
                onsets=arrays["onsets"],
                work=np.concatenate(
                    [np.full(len(f["bar"]), i, np.int32) for i, (_, f) in enumerate(items)]
                    or [np.zeros(0, np.int32)]
                ),
                bar=np.concatenate([f["bar"] for _, f in items] or [np.zeros(0, np.int32)]),
                transpose=np.concatenate(
                    [f["transpose"] for _, f in items] or [np.zeros(0, np.int32)]
                ),
            )
            counts[name] = SegmentCounts(len(items), int(len(arrays["pianoroll"])))
            works[name] = tuple(work_id for work_id, _ in items)
        meta = replace(meta, data_dir=str(out_dir.resolve()), counts=counts, works=works)
        write_meta(meta, tmp / META_FILE)
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def load_phrases(
    data_dir: str | Path, split: str, *, untransposed: bool = False
) -> dict[str, np.ndarray]:
    """{pianoroll, onsets [N, tracks, steps, pitches] bool, work, bar, transpose [N] int32};
    `untransposed` keeps the phrases as they are in the works (no augmentation copies)."""
    meta = load_meta(data_dir)
    if not isinstance(meta, PhrasesMeta):
        raise ValueError(f"{data_dir}: not a phrases folder; run `symbolic gan prepare` first")
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `symbolic gan prepare` first")
    with np.load(path) as data:
        out = {key: data[key] for key in data.files}
    if untransposed:
        keep = out["transpose"] == 0
        out = {key: value[keep] for key, value in out.items()}
    for key in ("pianoroll", "onsets"):
        out[key] = ph.unpack(out[key], meta.pitches)
    return out


def grid_of(meta: PhrasesMeta) -> ph.Grid:
    """The `phrases.Grid` a phrases folder (or a GAN run) was made on."""
    return ph.Grid(
        meta.bars, meta.steps_per_beat, meta.beats_per_bar, meta.low_pitch, meta.high_pitch
    )


def load_packed(data_dir: str | Path, split: str) -> np.ndarray:
    """A split's bit-packed piano rolls [N, tracks, steps, ceil(pitches / 8)] uint8, as stored
    (a train split with transposed copies is several hundred MB unpacked)."""
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `symbolic gan prepare` first")
    with np.load(path) as data:
        return data["pianoroll"]


def gan_batch(
    packed: np.ndarray,
    pitches: int,
    *,
    batch_size: int,
    n_critic: int,
    latent_shapes: dict[str, tuple[int, ...]],
    condition_rate: float,
    seed: int,
    step: int,
) -> dict[str, np.ndarray]:
    """Everything one WGAN-GP step draws, as a function of (seed, step): real phrases
    [B, K, tracks, S, P] uint8 (K = n_critic), latents zd_NAME [B, K, ...] for the critic
    updates and zg_NAME [B, ...] for the generator's (each latent's shape without the batch
    axis in `latent_shapes`), track [B, K + 1] int32 (the given track), present [B, K + 1]
    float32 (1 with probability `condition_rate`) and eps [B, K] float32 (the gradient
    penalty's mixing weights)."""
    if len(packed) == 0:
        raise ValueError("no training phrases; check `symbolic gan prepare`'s output")
    rng = np.random.default_rng([seed, step])
    rows = rng.integers(0, len(packed), size=(batch_size, n_critic))
    tracks = packed.shape[1]
    batch = {"real": ph.unpack(packed[rows], pitches).astype(np.uint8)}
    for name, shape in latent_shapes.items():
        batch[f"zd_{name}"] = rng.standard_normal((batch_size, n_critic, *shape), np.float32)
        batch[f"zg_{name}"] = rng.standard_normal((batch_size, *shape), np.float32)
    batch["track"] = rng.integers(0, tracks, size=(batch_size, n_critic + 1)).astype(np.int32)
    batch["present"] = (rng.random((batch_size, n_critic + 1)) < condition_rate).astype(np.float32)
    batch["eps"] = rng.random((batch_size, n_critic), np.float32)
    return batch
