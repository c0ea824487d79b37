"""Piano-roll pictures of MIDI files (matplotlib, headless): notes, bar and beat lines, and
the chord symbols of a ``Chords`` track (chord views, ``symbolic.data.views``).

The only module that imports matplotlib, lazily, so the rest of the package does not need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.data.convert import load_score
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


def _draw_notes(ax, score, unit: float) -> tuple[float, int, int]:
    """Draw every note of `score` (one colour per track) at time / `unit` (ticks per quarter,
    or 1 for a score in seconds) -> (end of the last note, lowest pitch, highest pitch)."""
    import matplotlib.pyplot as plt

    end, low, high = 0.0, 127, 0
    for i, track in enumerate(score.tracks):
        if not len(track.notes):
            continue
        n = track.notes.numpy()
        colour = f"C{i % 10}"
        shortest = 1 if unit > 1 else 0.01
        for t, d, p in zip(n["time"], n["duration"], n["pitch"], strict=True):
            ax.add_patch(
                plt.Rectangle((t / unit, p - 0.4), max(d, shortest) / unit, 0.8, color=colour)
            )
        end = max(end, float((n["time"] + n["duration"]).max()) / unit)
        low, high = min(low, int(n["pitch"].min())), max(high, int(n["pitch"].max()))
    return end, low, high


def plot_score(score, out: str | Path, title: str = "") -> Path:
    """Write a piano roll of a symusic score (tick time) to `out` (PNG): one colour per track,
    x in quarter notes, bars as solid and beats as dotted vertical lines."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display in CI or on servers
    import matplotlib.pyplot as plt

    tpq = score.ticks_per_quarter
    fig, ax = plt.subplots(figsize=_FIGSIZE, dpi=100)
    end, low, high = _draw_notes(ax, score, tpq)
    end = max(round(end * tpq), tpq * 4)
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
    """Piano roll of the MIDI (or score) file `midi` written to `out` (PNG).

    Raises:
        FileNotFoundError, RuntimeError, ValueError: `load_score`'s, naming the file (symusic's
            own "MiniMidi: Invaild midi file!" names none).
    """
    output_file(out)  # a folder there is an error before the file is read
    return plot_score(load_score(midi), out, title=Path(midi).name)


def plot_analysis(score, analysis, out: str | Path) -> Path:
    """Write a piano roll of `score` in seconds with its `symbolic.analysis.Analysis` drawn on
    it (PNG): downbeats as lines, chord changes above the notes, key regions along the bottom
    and section letters along the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = float(np.clip(analysis.duration / 5, _FIGSIZE[0], 60))  # ~5 s per inch, capped
    fig, ax = plt.subplots(figsize=(width, 5), dpi=100)
    end, low, high = _draw_notes(ax, score.to("second"), 1.0)
    low, high = (low, high) if high >= low else (48, 84)
    ax.vlines(analysis.downbeats, low - 6, high + 2, colors="0.5", linewidth=0.6)
    for chord in analysis.chord_changes():
        ax.text(chord.time, high + 2.5, chord.label, fontsize=6, rotation=60, va="bottom")
    for i, region in enumerate(analysis.key_regions):
        ax.axvspan(region.start, region.end, ymin=0, ymax=0.04, color=f"C{i % 10}", alpha=0.5)
        ax.text(region.start, low - 5.5, f"{region.tonic} {region.mode}", fontsize=7)
    for section in analysis.sections:
        ax.axvline(section.start, color="k", linewidth=1.2)
        ax.text(section.start, high + 9, section.label, fontsize=11, weight="bold")
    ax.set_xlim(0, max(end, analysis.duration, 1.0))
    ax.set_ylim(low - 6, high + 12)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    key = analysis.key
    summary = f"{key.tonic} {key.mode}, " if key else ""
    ax.set_title(f"{analysis.file or ''}  {summary}{analysis.tempo:g} BPM, {analysis.meter}")
    fig.tight_layout()
    out = output_file(out)
    fig.savefig(out)
    plt.close(fig)
    return out
