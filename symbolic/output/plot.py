"""Piano-roll pictures of MIDI files (matplotlib, headless): notes, bar and beat lines, and
the chord symbols of a ``Chords`` track (chord views, ``symbolic.data.views``).

The only module that imports matplotlib, lazily, so the rest of the package does not need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.music.chords import CHORD_TRACK_NAME, label_events, symbol
from symbolic.paths import output_file

_FIGSIZE = (12, 4)


def _grid_lines(score, end: int) -> tuple[list[int], list[int]]:
    """Tick positions of bar starts and beats up to `end`, from the score's time signatures."""
    tpq = score.ticks_per_quarter
    sigs = [(ts.time, ts.numerator, ts.denominator) for ts in score.time_signatures] or [(0, 4, 4)]
    bars, beats = [], []
    for i, (start, num, den) in enumerate(sigs):
        stop = sigs[i + 1][0] if i + 1 < len(sigs) else end
        beat = tpq * 4 // den
        for tick in range(start, max(stop, start + 1), beat):
            (bars if (tick - start) % (beat * num) == 0 else beats).append(tick)
    return bars, beats


def plot_score(score, out: str | Path, title: str = "") -> Path:
    """Write a piano roll of a symusic score (tick time) to `out` (PNG): one colour per track,
    x in quarter notes, bars as solid and beats as dotted vertical lines."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display in CI or on servers
    import matplotlib.pyplot as plt

    tpq = score.ticks_per_quarter
    fig, ax = plt.subplots(figsize=_FIGSIZE, dpi=100)
    end, low, high = tpq * 4, 127, 0
    for i, track in enumerate(score.tracks):
        if not len(track.notes):
            continue
        n = track.notes.numpy()
        colour = f"C{i % 10}"
        for t, d, p in zip(n["time"], n["duration"], n["pitch"], strict=True):
            ax.add_patch(plt.Rectangle((t / tpq, p - 0.4), max(d, 1) / tpq, 0.8, color=colour))
        end = max(end, int((n["time"] + n["duration"]).max()))
        low, high = min(low, int(n["pitch"].min())), max(high, int(n["pitch"].max()))
    bars, beats = _grid_lines(score, end)
    ax.vlines(np.array(beats) / tpq, 0, 127, colors="0.85", linestyles="dotted", linewidth=0.6)
    ax.vlines(np.array(bars) / tpq, 0, 127, colors="0.4", linewidth=0.8)
    ax.set_xlim(0, end / tpq)
    ax.set_ylim((low - 2, high + 2) if high >= low else (48, 84))
    labels = [e for t in score.tracks if t.name == CHORD_TRACK_NAME for e in label_events(t)]
    for tick, value in labels:  # the chord symbols of a chord track, above the notes
        ax.text(tick / tpq, high + 2, symbol(value), fontsize=8, va="bottom", clip_on=False)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title, pad=14)  # above the chord symbols
    fig.tight_layout()
    out = output_file(out)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_midi(midi: str | Path, out: str | Path) -> Path:
    """Piano roll of the MIDI file `midi` written to `out` (PNG)."""
    return plot_score(Score(str(midi)), out, title=Path(midi).name)
