"""POP909's labelled beats and downbeats against the written grid, as written and after
`prepare --align-downbeat` (`symbolic.data.align`).

A song counts as on its bar lines when the median distance of its labelled downbeats
(`beat_midi.txt`, third column) to the nearest bar line of its written meter is at most a 32nd
note; on its beat lines, the same for every labelled beat against the quarter-note grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.analysis.beats import seconds_ticks
from symbolic.data import align


def median_offset_ok(ticks: np.ndarray, period: int, tolerance: float) -> bool:
    """Whether the median distance of `ticks` to the nearest multiple of `period` is within
    `tolerance` ticks."""
    off = np.mod(ticks, period)
    return float(np.median(np.minimum(off, period - off))) <= tolerance


def song_alignment(song: Path) -> dict[str, bool]:
    """One POP909 song (NNN/NNN.mid beside its beat_midi.txt): whether its labelled downbeats
    sit on bar lines and its beats on beat lines, as written and delayed by `align`."""
    score = Score(str(song))
    labels = np.loadtxt(song.parent / "beat_midi.txt", ndmin=2)
    tpq = score.ticks_per_quarter
    signature = score.time_signatures[0] if len(score.time_signatures) else None
    numerator, denominator = (signature.numerator, signature.denominator) if signature else (4, 4)
    bar = tpq * 4 * numerator // denominator
    beats = seconds_ticks(score, labels[:, 0])
    downbeats = seconds_ticks(score, labels[labels[:, 2] == 1][:, 0])
    shift = align.downbeat_shift(score)
    out = {}
    for name, delay in (("written", 0), ("aligned", shift)):
        out[f"downbeats_{name}"] = median_offset_ok(downbeats + delay, bar, tpq / 8)
        out[f"beats_{name}"] = median_offset_ok(beats + delay, tpq, tpq / 8)
    return out


def measure(songs: list[Path]) -> dict[str, float]:
    """Shares of `songs` with downbeats on bar lines / beats on beat lines, written and
    aligned, as `pop909_downbeats_on_bars_written`, `..._aligned`, `pop909_beats_on_grid_*`."""
    rows = [song_alignment(song) for song in songs]
    share = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return {
        "pop909_alignment_songs": len(rows),
        "pop909_downbeats_on_bars_written": share["downbeats_written"],
        "pop909_downbeats_on_bars_aligned": share["downbeats_aligned"],
        "pop909_beats_on_grid_written": share["beats_written"],
        "pop909_beats_on_grid_aligned": share["beats_aligned"],
    }
