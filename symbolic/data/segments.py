"""Bar-aligned fixed-length melody segments for MusicVAE-style models (numpy only, no jax).

Representation (MusicVAE's melody encoding): a 16th-note grid with one event per step,

* ``NO_EVENT`` (0): nothing happens; a sounding note keeps sounding, a rest stays a rest,
* ``NOTE_OFF`` (1): the sounding note stops,
* ``2 + pitch`` (2..129): a new note of MIDI ``pitch`` starts (ending any sounding note),

so a vocabulary of 130 classes and 32 steps for 2 bars of 4/4. The melody is the top voice: the
track with ``melody_program`` (our Bach conversion gives the soprano program 40), else the track
with the highest mean pitch, reduced to one note per onset by keeping the highest (skyline).

A prepared segments directory holds ``{split}.npz`` (``segments [N, T] int32``, ``work [N] int32``
an index into ``meta.works[split]``, ``bar [N] int32`` the first bar) and ``meta.json``
(``SegmentsMeta``).
Segments start on every bar (hop of one bar, as MusicVAE does) and rest-only ones are dropped.
Train segments can be augmented with transposed copies (``augment_transpose``, as ``prepare``
does for token data); valid and test never are.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from symusic import Note, Score, Track

from symbolic.data.meta import META_FILE, SegmentCounts, SegmentsMeta, SkippedWork, write_meta
from symbolic.paths import locks_folder, output_folder

NO_EVENT, NOTE_OFF, FIRST_PITCH = 0, 1, 2
VOCAB_SIZE = 130
STEPS_PER_QUARTER = 4
SOPRANO_PROGRAM = 40


def melody_track(score: Score, program: int = SOPRANO_PROGRAM) -> Track | None:
    """The track holding the melody: the one with `program`, else the highest by mean pitch."""
    tracks = [t for t in score.tracks if not t.is_drum and len(t.notes) > 0]
    if not tracks:
        return None
    for track in tracks:
        if track.program == program:
            return track
    return max(tracks, key=lambda t: float(np.mean(t.notes.numpy()["pitch"])))


def steps_per_bar(score: Score) -> int | None:
    """16th-note steps per bar if the score keeps one time signature throughout, else None
    (a bar grid that changes length cannot be cut into equal segments)."""
    sigs = {(ts.numerator, ts.denominator) for ts in score.time_signatures} or {(4, 4)}
    if len(sigs) != 1:
        return None
    num, den = sigs.pop()
    steps = num * STEPS_PER_QUARTER * 4 / den
    return int(steps) if steps == int(steps) else None


def melody_events(score: Score, program: int = SOPRANO_PROGRAM) -> np.ndarray:
    """The top voice of `score` as grid events [steps] int32 (empty if it has no notes)."""
    track = melody_track(score, program)
    if track is None:
        return np.zeros(0, np.int32)
    notes = track.notes.numpy()
    step_ticks = score.ticks_per_quarter / STEPS_PER_QUARTER
    onsets = np.round(notes["time"] / step_ticks).astype(np.int64)
    ends = np.maximum(np.round((notes["time"] + notes["duration"]) / step_ticks), onsets + 1)
    return _events_from_notes(onsets, ends.astype(np.int64), notes["pitch"].astype(np.int64))


def _events_from_notes(onsets: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Monophonic events from notes [N]: the highest pitch wins an onset; a note ends at its own
    end or at the next onset, whichever comes first."""
    order = np.lexsort((-pitches, onsets))  # by onset, highest pitch first
    onsets, ends, pitches = onsets[order], ends[order], pitches[order]
    keep = np.ones(len(onsets), bool)
    keep[1:] = onsets[1:] != onsets[:-1]
    onsets, ends, pitches = onsets[keep], ends[keep], pitches[keep]
    events = np.zeros(int(ends.max()) + 1 if len(ends) else 0, np.int32)
    for i, (on, end, pitch) in enumerate(zip(onsets, ends, pitches, strict=True)):
        events[on] = FIRST_PITCH + pitch
        next_on = onsets[i + 1] if i + 1 < len(onsets) else None
        if next_on is None or end < next_on:
            events[end] = NOTE_OFF
    return events


def cut_segments(events: np.ndarray, bar_steps: int, bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `bars` bars starting on every bar: (segments [N, bars * bar_steps] int32, first
    bar [N] int32), without rest-only windows. The tail is padded with NO_EVENT (after its
    NOTE_OFF the melody is silent)."""
    length = bars * bar_steps
    num_bars = -(-len(events) // bar_steps)
    padded = np.zeros(max(num_bars, bars) * bar_steps, np.int32)
    padded[: len(events)] = events
    starts = np.arange(0, max(num_bars - bars + 1, 0)) * bar_steps
    if len(starts) == 0:
        return np.zeros((0, length), np.int32), np.zeros(0, np.int32)
    windows = np.stack([padded[s : s + length] for s in starts])
    has_note = (windows >= FIRST_PITCH).any(axis=1)
    return windows[has_note], (starts // bar_steps)[has_note].astype(np.int32)


def score_segments(
    score: Score, bars: int, program: int = SOPRANO_PROGRAM, bar_steps: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Melody segments of one score (see `cut_segments`); none unless its bars are `bar_steps`
    16ths long (16: 4/4), since the model's segment length is fixed."""
    if steps_per_bar(score) != bar_steps:
        return np.zeros((0, bars * bar_steps), np.int32), np.zeros(0, np.int32)
    return cut_segments(melody_events(score, program), bar_steps, bars)


def transpose_events(events: np.ndarray, shift: int) -> np.ndarray:
    """events [..., T] with every note-on moved `shift` semitones (clipped to MIDI 0..127)."""
    notes = events >= FIRST_PITCH
    moved = np.clip(events + shift, FIRST_PITCH, VOCAB_SIZE - 1)
    return np.where(notes, moved, events).astype(np.int32)


def transposed_copies(
    segments: np.ndarray, first_bars: np.ndarray, shifts: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Segments [N, T] and their first bars [N], plus one copy per non-zero shift; a copy whose
    notes would leave MIDI 0..127 is dropped (not clipped, which would change the melody)."""
    pitches = np.where(segments >= FIRST_PITCH, segments - FIRST_PITCH, -1)
    low = np.where(pitches >= 0, pitches, 127).min(axis=1)
    high = pitches.max(axis=1)
    out, bars = [segments], [first_bars]
    for shift in (s for s in shifts if s != 0):
        fits = (low + shift >= 0) & (high + shift <= 127)
        out.append(transpose_events(segments[fits], shift))
        bars.append(first_bars[fits])
    return np.concatenate(out), np.concatenate(bars)


def events_to_score(events: np.ndarray, program: int = SOPRANO_PROGRAM, tpq: int = 480) -> Score:
    """Grid events [T] int -> a one-track `symusic.Score` in 4/4 at 120 bpm (for writing MIDI)."""
    step = tpq // STEPS_PER_QUARTER
    score = Score(tpq)
    track = Track(program=program, name="melody")
    pitch, start = None, 0
    for t, event in enumerate(list(np.asarray(events)) + [NOTE_OFF]):
        if event == NO_EVENT:
            continue
        if pitch is not None:
            track.notes.append(Note(start * step, (t - start) * step, pitch, 90))
        pitch, start = (int(event) - FIRST_PITCH, t) if event >= FIRST_PITCH else (None, t)
    score.tracks.append(track)
    return score


def write_segments_dir(
    out_dir: Path, splits: dict[str, list[tuple[str, np.ndarray, np.ndarray]]], meta: SegmentsMeta
) -> SegmentsMeta:
    """Write `{split}.npz` and meta.json. `splits[name]` holds (work id, segments [n, T],
    first bars [n]) per work; returns the meta written, with its counts, works and data_dir."""
    out_dir = output_folder(out_dir, create=True)
    counts, works = {}, {}
    for name, items in splits.items():
        segs = [s for _, s, _ in items] or [np.zeros((0, meta.segment_steps), np.int32)]
        work = [np.full(len(s), i, np.int32) for i, (_, s, _) in enumerate(items)]
        bars = [b for _, _, b in items] or [np.zeros(0, np.int32)]
        np.savez(
            out_dir / f"{name}.npz",
            segments=np.concatenate(segs).astype(np.int32),
            work=np.concatenate(work or [np.zeros(0, np.int32)]),
            bar=np.concatenate(bars).astype(np.int32),
        )
        counts[name] = SegmentCounts(len(items), int(sum(len(s) for s in segs)))
        works[name] = tuple(work_id for work_id, _, _ in items)
    # A run copies this meta.json: data_dir lets its tools find the training segments again.
    meta = replace(meta, data_dir=str(out_dir.resolve()), counts=counts, works=works)
    write_meta(meta, out_dir / META_FILE)
    return meta


def load_segments(data_dir: Path, split: str) -> dict[str, np.ndarray]:
    """{segments [N, T] int32, work [N] int32, bar [N] int32} of one split."""
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `symbolic vae prepare` first")
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError) as err:
        # numpy's own messages ("File is not a zip file") name no file
        raise ValueError(f"{path}: not a readable segments archive ({err})") from None


@locks_folder("out_dir")
def prepare_segments(
    manifest_path: Path,
    out_dir: Path,
    *,
    bars: int = 2,
    melody: bool = True,
    program: int = SOPRANO_PROGRAM,
    cache_dir: Path | None = None,
    augment_transpose: tuple[int, int] | None = None,
) -> SegmentsMeta:
    """Cut every work of a manifest into melody segments and write a segments directory.
    `augment_transpose=(low, high)` adds transposed copies of the train segments only (one per
    non-zero shift, as `prepare` does for token data; MusicVAE transposes by -5..5)."""
    from symbolic.data.manifest import load_manifest, source_root
    from symbolic.data.prepare import default_cache_dir, load_work, transposition_shifts

    if not melody:
        raise ValueError("only --melody segments are implemented (MusicVAE's melody encoding)")
    if not bars >= 1:
        raise ValueError(f"--bars must be >= 1, got {bars}")
    if not 0 <= program <= 127:  # a GM program; -1 would write a melody no synth plays
        raise ValueError(f"--program must be a GM program 0..127, got {program}")
    shifts = transposition_shifts(augment_transpose)
    output_folder(out_dir)  # fail before the long part, not after it
    manifest = load_manifest(manifest_path)
    root, cache = source_root(manifest), cache_dir or default_cache_dir()
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    skipped = []
    for work in manifest.works:
        try:
            segs, first_bars = score_segments(load_work(work, root, cache), bars, program)
        except (OSError, ValueError, RuntimeError) as err:
            skipped.append(SkippedWork(work.id, str(err)[:200]))
            continue
        if len(segs) == 0:
            skipped.append(SkippedWork(work.id, "no 4/4 melody segment with notes"))
            continue
        if work.split == "train":
            segs, first_bars = transposed_copies(segs, first_bars, shifts)
        splits[work.split].append((work.id, segs, first_bars))
    meta = SegmentsMeta(
        vocab_size=VOCAB_SIZE,
        bars=bars,
        melody_program=program,
        manifest=str(manifest_path),
        transpose=(min(shifts), max(shifts)) if len(shifts) > 1 else None,
        skipped=tuple(skipped),
    )
    return write_segments_dir(out_dir, splits, meta)


def segment_train_batch(
    segments: np.ndarray, batch_size: int, seed: int, step: int
) -> dict[str, np.ndarray]:
    """Random segments for step `step`, deterministic in (seed, step): {inputs, targets [B, T]
    int32 (both the segments: a VAE reconstructs its input), mask [B, T] float32}."""
    if len(segments) == 0:
        raise ValueError("no training segments; check `symbolic vae prepare`'s output")
    rows = np.random.default_rng([seed, step]).integers(0, len(segments), size=batch_size)
    batch = np.asarray(segments[rows], np.int32)
    return {"inputs": batch, "targets": batch, "mask": np.ones(batch.shape, np.float32)}


def segment_eval_batches(segments: np.ndarray, batch_size: int, max_batches: int = 0):
    """Every segment once, in order, padded to full batches (padded rows have mask 0)."""
    length = segments.shape[1]
    starts = range(0, len(segments), batch_size)
    for i, first in enumerate(starts):
        if max_batches and i >= max_batches:
            return
        chunk = np.asarray(segments[first : first + batch_size], np.int32)
        batch = np.zeros((batch_size, length), np.int32)
        mask = np.zeros((batch_size, length), np.float32)
        batch[: len(chunk)], mask[: len(chunk)] = chunk, 1.0
        yield {"inputs": batch, "targets": batch, "mask": mask}
