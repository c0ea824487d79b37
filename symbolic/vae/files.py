"""Decoded melodies as files: one MIDI per row of events, and WAVs beside MIDI or score files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from symbolic.data.convert import file_kind, load_score
from symbolic.output import render as render_lib
from symbolic.paths import locks_folder, output_folder
from symbolic.vae.run import scores


@locks_folder("out_dir")
def write_midis(
    events: np.ndarray, out_dir: str | Path, prefix: str, *, render: bool = False
) -> list[Path]:
    """One MIDI per row of events [N, T] as OUT_DIR/{prefix}_{i:03d}.mid (+ WAV if render)."""
    out_dir = output_folder(out_dir, create=True)
    paths = []
    for i, score in enumerate(scores(events)):
        path = out_dir / f"{prefix}_{i:03d}.mid"
        score.dump_midi(str(path))
        paths.append(path)
    if render:
        render_beside(paths)
    return paths


def render_beside(paths: list[str | Path]) -> list[Path]:
    """A WAV beside each file (FluidSynth): MIDI as it is, a notated score (e.g. .mxl) through
    its MIDI conversion. Returns the WAV paths. (`render_lib.render` is looked up per call so
    that tests can fake FluidSynth.)"""
    wavs = []
    for path in map(Path, paths):
        if file_kind(path) == "midi":
            wavs.append(render_lib.render(path, path.with_suffix(".wav")))
            continue
        with tempfile.TemporaryDirectory(prefix="symbolic-vae-") as tmp:
            midi = Path(tmp) / "score.mid"
            load_score(path).dump_midi(str(midi))
            wavs.append(render_lib.render(midi, path.with_suffix(".wav")))
    return wavs
