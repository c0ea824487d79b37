"""Note clean-up on numpy note arrays: overlaps, zero lengths, monophonic lines. Numpy only."""

from __future__ import annotations

import numpy as np


def clean_notes(time: np.ndarray, duration: np.ndarray, pitch: np.ndarray, min_len: int):
    """Indices to keep and fixed durations for one track's notes (arrays [N]).

    Zero/negative durations become `min_len`; a note overlapping the next note of the same pitch
    ends where that one starts; a note left with no length (same pitch, same onset) is dropped,
    keeping the longer of the two.
    """
    duration = np.where(duration > 0, duration, min_len).astype(np.int64)
    order = np.lexsort((duration, time, pitch))  # by pitch, onset, shortest first: it is dropped
    keep, fixed = [], duration.copy()
    for a, b in zip(order[:-1], order[1:], strict=True):
        if pitch[a] == pitch[b] and time[a] + fixed[a] > time[b]:
            fixed[a] = time[b] - time[a]
        if fixed[a] > 0:
            keep.append(a)
    if len(order):
        keep.append(order[-1])
    keep = np.sort(np.asarray(keep, dtype=np.int64))
    return keep, fixed


def clip_to_next_onset(time: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Durations [N] cut so no note sounds past the next later onset in its track: a
    monophonic line (`--monophonic` limits onsets; this keeps long notes from overlapping)."""
    onsets = np.unique(time)
    following = np.searchsorted(onsets, time, side="right")
    nxt = np.where(following < len(onsets), onsets[np.minimum(following, len(onsets) - 1)], -1)
    return np.where(nxt >= 0, np.minimum(duration, nxt - time), duration)
