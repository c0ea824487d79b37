"""GAN phrases to files: DAW-ready multi-track MIDI (`symbolic.output.midi`), with a piano-roll
PNG and a FluidSynth WAV beside each on request."""

from __future__ import annotations

from pathlib import Path

from symusic import Score

from symbolic.output.midi import save_daw_midi
from symbolic.paths import locks_folder, output_folder


@locks_folder("out_dir")
def write_scores(
    scores: list[Score], out_dir: str | Path, *, stem: str = "sample", plot=False, render=False
) -> list[Path]:
    """Write each Score as OUT_DIR/{stem}_NNN.mid (one named track per GAN track, empty ones
    included), plus .png and .wav beside it when asked. -> the MIDI paths."""
    out_dir = output_folder(out_dir, create=True)
    paths = []
    for i, score in enumerate(scores):
        path = save_daw_midi(score, out_dir / f"{stem}_{i:03d}.mid")
        if plot:
            from symbolic.output.plot import plot_midi  # matplotlib only when asked

            plot_midi(path, path.with_suffix(".png"))
        if render:
            from symbolic.output.render import render as render_wav

            render_wav(path, path.with_suffix(".wav"))
        paths.append(path)
    return paths
