"""`symbolic eval RUN --data DIR` for a transcriber: mir_eval.transcription scores of the run's
best checkpoint on a held-out split of an `audio prepare` folder.

Per piece: note precision / recall / F1 with onsets within ±50 ms (offsets ignored), the same
with offsets within 20 % of the note's length (or 50 ms, mir_eval's default), and frame-level
P/R/F1 over (frame, key) cells of the decoded notes' piano roll against the targets'. The figures
are means over the split's pieces (as the Onsets and Frames paper reports them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from symbolic.audio.batches import AudioSplit, load_audio_split
from symbolic.audio.notes import Thresholds, decode_notes, frame_targets
from symbolic.data.meta import AudioMeta, load_meta
from symbolic.paths import write_text_atomic
from symbolic.training.trainer import MetricsLog
from symbolic.transcription.run import DECODING_FILE, TranscriberRun, load_transcriber

ONSET_TOLERANCE, OFFSET_RATIO = 0.05, 0.2


def note_scores(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """mir_eval note P/R/F1 (onsets ±50 ms) and with offsets (ratio 0.2) of two notes [N, 4]."""
    from mir_eval.transcription import precision_recall_f1_overlap as prf
    from mir_eval.util import midi_to_hz

    out = {}
    if len(reference) == 0 or len(estimate) == 0:
        empty = float(len(reference) == len(estimate))
        return {f"{k}_{m}": empty for k in ("note", "note_offset") for m in ("p", "r", "f1")}
    ref_i, est_i = reference[:, :2], estimate[:, :2]
    ref_p, est_p = midi_to_hz(reference[:, 2]), midi_to_hz(estimate[:, 2])
    for name, ratio in (("note", None), ("note_offset", OFFSET_RATIO)):
        p, r, f, _ = prf(
            ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE, offset_ratio=ratio
        )
        out |= {f"{name}_p": p, f"{name}_r": r, f"{name}_f1": f}
    return out


def frame_scores(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """Frame P/R/F1 of two boolean rolls [T, K]."""
    tp = float(np.sum(reference & estimate))
    p = tp / max(float(estimate.sum()), 1.0)
    r = tp / max(float(reference.sum()), 1.0)
    return {"frame_p": p, "frame_r": r, "frame_f1": 2 * p * r / max(p + r, 1e-9)}


def score_piece(reference: np.ndarray, estimate: np.ndarray, num_frames: int, fps: float) -> dict:
    """Note and frame scores of one piece's estimated notes against its reference notes."""
    ref_roll = frame_targets(reference, num_frames, fps)["frames"] > 0
    est_roll = frame_targets(estimate, num_frames, fps)["frames"] > 0
    return note_scores(reference, estimate) | frame_scores(ref_roll, est_roll)


def mean_scores(records: list[dict]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in records])) for key in records[0]}


def evaluate_split(run: TranscriberRun, split: AudioSplit) -> dict:
    """Mean scores over every piece of `split`, and the model's real-time factor on it."""
    records, seconds, compute = [], 0.0, 0.0
    for piece in range(split.num_pieces):
        start, stop = split.index[piece], split.index[piece + 1]
        began = time.perf_counter()
        estimate = run.notes(run.activations(np.asarray(split.features[start:stop], np.float32)))
        compute += time.perf_counter() - began
        seconds += float(stop - start) / run.fps
        records.append(score_piece(split.piece_notes(piece), estimate, stop - start, run.fps))
    return {
        **mean_scores(records),
        "pieces": len(records),
        "seconds": seconds,
        "realtime_factor_model": seconds / max(compute, 1e-9),
    }


def evaluate_run(run_dir: Path, data_dir: Path, split: str = "test") -> dict:
    """Scores of RUN_DIR's best checkpoint on DATA_DIR's `split`; appended to metrics.jsonl."""
    run = load_transcriber(run_dir)
    meta = load_meta(data_dir)
    if not isinstance(meta, AudioMeta) or meta.features != run.meta.features:
        raise ValueError(f"{data_dir}: not audio features made as {run_dir} was trained on")
    scored = load_audio_split(data_dir, split)
    if scored.num_pieces == 0:
        raise ValueError(f"{data_dir}: split {split!r} is empty; score another --split")
    record = {"event": "eval", "split": split, "data": str(data_dir), **evaluate_split(run, scored)}
    MetricsLog.of_run(run_dir).write(record)
    return record


GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def tune_thresholds(run_dir: Path, data_dir: Path, split: str = "valid") -> dict:
    """Choose the onset and frame thresholds (of GRID) with the best mean note F1 on DATA_DIR's
    `split` (the valid split: never the test split it is scored on), as Onsets and Frames
    tuned its on validation data; written to RUN_DIR/decoding.json, read by
    `load_transcriber`."""
    run = load_transcriber(run_dir)
    scored = load_audio_split(data_dir, split)
    pieces = []
    for piece in range(scored.num_pieces):
        start, stop = scored.index[piece], scored.index[piece + 1]
        acts = run.activations(np.asarray(scored.features[start:stop], np.float32))
        pieces.append((acts, scored.piece_notes(piece), stop - start))
    results = []
    for onset in GRID:
        for frame in GRID:
            thresholds = Thresholds(onset, frame)
            scores = mean_scores(
                [
                    score_piece(
                        reference,
                        decode_notes(
                            a["onsets"], a["frames"], a["velocities"], run.fps, thresholds
                        ),
                        frames,
                        run.fps,
                    )
                    for a, reference, frames in pieces
                ]
            )
            results.append((scores["note_f1"], onset, frame))
    best_f1, onset, frame = max(results)
    record = {
        "thresholds": {"onset": onset, "frame": frame},
        "note_f1": best_f1,
        "split": split,
        "data": str(data_dir),
    }
    write_text_atomic(Path(run_dir) / DECODING_FILE, json.dumps(record, indent=1) + "\n")
    return record
