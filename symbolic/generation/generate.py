"""Run directory -> MIDI files (and WAV): the path `symbolic generate` takes, on `LMRun`.

`generate` samples or continues pieces and `generate_infill` regenerates bars of one; both write
OUT_DIR/sample_000.mid, ... as DAW-ready files (`write_midi`), optionally a WAV and a piano-roll
PNG beside each, and OUT_DIR/generation.json with the settings, controls, lengths, note counts
and the sampling speed (also printed), the samples that decoded to no notes ("empty", printed;
their WAVs are silence, see `symbolic.output.render`) and every file written ("files").

A second call into the same OUT_DIR first deletes the files the old generation.json lists, so no
stale sample_NNN.* outlives the report that describes the folder; other files there are kept.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from symusic import Score

from symbolic.generation import infill
from symbolic.generation.conditioning import Condition
from symbolic.generation.engine import SamplingStats
from symbolic.generation.run import LMRun, load_lm_run
from symbolic.generation.sampling import TokenTap
from symbolic.generation.settings import Controls, Sampling, sampling_of
from symbolic.music import keys
from symbolic.output import midi as midi_io
from symbolic.paths import locks_folder, output_folder, read_json

REPORT_FILE = "generation.json"
SUFFIXES = (".mid", ".png", ".wav")  # what one sample may leave: MIDI, piano roll, WAV
# The only names a report may make us delete: a hand-edited or foreign generation.json must never
# reach a user's file, in the folder or (through "../") outside it.
OWN_FILE = re.compile(r"sample_\d{3,}\.(mid|png|wav)")


def note_count(score: Score) -> int:
    """Notes in every track of `score`."""
    return sum(len(track.notes) for track in score.tracks)


def write_midi(
    scores: Sequence[Score],
    out_dir: str | Path,
    *,
    key: str | None = None,
    monophonic: bool = False,
    plot: bool = False,
) -> list[Path]:
    """Write each Score as OUT_DIR/sample_NNN.mid, a DAW-ready type-1 file (`symbolic.output.midi`)
    with the key signature of `key` ("D minor"; else estimated), one note per onset with
    `monophonic`, and a piano roll sample_NNN.png beside it with `plot`. OUT_DIR is created.

    Returns the MIDI paths; a piece without notes gets a warning.
    """
    out_dir = Path(out_dir)
    signature = keys.parse_key(key) if key else None
    output_folder(out_dir, create=True)
    paths = []
    for i, score in enumerate(scores):
        path = midi_io.save_daw_midi(
            score, out_dir / f"sample_{i:03d}.mid", key=signature, monophonic=monophonic
        )
        if plot:
            from symbolic.output.plot import plot_midi  # matplotlib only when asked

            plot_midi(path, path.with_suffix(".png"))
        if note_count(score) == 0:
            warnings.warn(f"{path}: the sample decoded to no notes", stacklevel=2)
        paths.append(path)
    return paths


@locks_folder("out_dir")
def generate(
    run_dir: str | Path | LMRun,
    out_dir: str | Path,
    sampling: Sampling | None = None,
    *,
    prompt_midi: str | Path | None = None,
    controls: Controls | None = None,
    condition: Condition | None = None,
    plot: bool = False,
    render: bool = False,
    sample_rate: int = 44100,
    on_token: TokenTap | None = None,
    **settings,
) -> list[Path]:
    """Sample `num` pieces from the run in RUN_DIR and write OUT_DIR/sample_000.mid, ... .

    `sampling` and `settings` (its fields as keywords) say how to draw (see `Sampling`). With
    `prompt_midi` each piece is that MIDI's tokens followed by up to `max_tokens` new ones;
    without, it starts from BOS; the token grammar always applies. `controls` adds constraints,
    a repetition penalty and beam search; `condition` gives chords, a melody, a tempo or a time
    signature as model input (`max_tokens` is raised to what its forced tokens take). `plot`
    writes piano-roll PNGs and `render` WAVs (FluidSynth). `run_dir` may be a loaded `LMRun`,
    and `on_token` taps the tokens as they are drawn (`symbolic.generation.stream`). Returns the
    MIDI paths, then the WAVs.
    """
    settings_ = sampling_of(sampling, settings)
    controls, condition = controls or Controls(), condition or Condition()
    output_folder(out_dir)  # before sampling, which may take minutes
    run = run_dir if isinstance(run_dir, LMRun) else load_lm_run(run_dir)
    drawn = run.draw(
        settings_, primer=prompt_midi, controls=controls, condition=condition, on_token=on_token
    )
    replace_previous(Path(out_dir), len(drawn.scores), plot=plot, render=render)
    paths = write_midi(
        drawn.scores, out_dir, key=controls.key, monophonic=controls.monophonic, plot=plot
    )
    report = {
        "run_dir": str(run.run_dir),
        "settings": {
            **asdict(drawn.settings),
            "prompt_midi": str(prompt_midi) if prompt_midi else None,
        },
        "controls": asdict(controls),
        "condition": condition.to_json(),
        "stats": asdict(drawn.stats),
        "lengths": drawn.lengths.tolist(),
        "notes": [note_count(s) for s in drawn.scores],
    }
    return finish(paths, Path(out_dir), report, render=render, plot=plot, sample_rate=sample_rate)


@locks_folder("out_dir")
def generate_infill(
    run_dir: str | Path,
    out_dir: str | Path,
    prompt_midi: str | Path,
    bars: str | tuple[int, int],
    sampling: Sampling | None = None,
    *,
    controls: Controls | None = None,
    plot: bool = False,
    render: bool = False,
    sample_rate: int = 44100,
    **settings,
) -> list[Path]:
    """Regenerate `bars` ("5-8", 1-based, inclusive) of PROMPT_MIDI `num` times with the FIM
    run in RUN_DIR; write OUT_DIR/sample_NNN.mid (+ .png, .wav) and generation.json.

    `max_tokens` bounds each middle; the other arguments are those of `generate` (constraints
    apply inside the span). Returns the MIDI paths, then the WAV paths.
    """
    span = infill.parse_bar_span(bars) if isinstance(bars, str) else tuple(bars)  # before loading
    settings_ = sampling_of(sampling, settings)
    controls = controls or Controls()
    output_folder(out_dir)  # before sampling, which may take minutes
    run = load_lm_run(run_dir)
    drawn = infill.infill(run, prompt_midi, span, settings_, controls)
    replace_previous(Path(out_dir), len(drawn.scores), plot=plot, render=render)
    # The kept bars are written as they are: --monophonic constrains the new notes only.
    paths = write_midi(drawn.scores, out_dir, key=controls.key, plot=plot)
    report = {
        "run_dir": str(run_dir),
        "settings": {
            **asdict(settings_),
            "prompt_midi": str(prompt_midi),
            "infill_bars": list(drawn.span),
        },
        "controls": asdict(controls),
        "stats": asdict(drawn.stats),
        "middle_tokens": drawn.middle_tokens,
        "notes": [note_count(s) for s in drawn.scores],
        "dropped_restrikes": drawn.dropped_restrikes,
    }
    return finish(paths, Path(out_dir), report, render=render, plot=plot, sample_rate=sample_rate)


def output_names(count: int, *, plot: bool, render: bool) -> list[str]:
    """The file names a call writing `count` samples leaves in OUT_DIR (besides the report)."""
    wanted = (True, plot, render)
    return [
        f"sample_{i:03d}{suffix}"
        for i in range(count)
        for suffix, want in zip(SUFFIXES, wanted, strict=True)
        if want
    ]


def previous_outputs(out_dir: Path) -> list[str]:
    """Names of the files an earlier call wrote in OUT_DIR, from its generation.json: its "files",
    or, in a report older than that list, sample_NNN.mid/.png/.wav for each entry of "notes".
    Only names of our own form are returned; an unreadable report gives none (with a warning)."""
    path = out_dir / REPORT_FILE
    if not path.is_file():
        return []
    try:
        report = read_json(path)
    except (ValueError, OSError) as err:
        warnings.warn(f"{err}; no earlier samples cleared", stacklevel=3)
        return []
    if not isinstance(report, dict):
        return []
    names = report.get("files")
    if not isinstance(names, list):
        notes = report.get("notes")
        count = len(notes) if isinstance(notes, list) else 0
        names = output_names(count, plot=True, render=True)
    return [n for n in names if isinstance(n, str) and OWN_FILE.fullmatch(n)]


def replace_previous(out_dir: Path, count: int, *, plot: bool, render: bool) -> None:
    """Delete the files an earlier call listed in OUT_DIR/generation.json, then list the ones this
    call will write: a call interrupted while writing (a failed render) is cleared by the next."""
    output_folder(out_dir, create=True)
    for name in previous_outputs(out_dir):
        path = out_dir / name
        if path.is_file():
            path.unlink()
    planned = output_names(count, plot=plot, render=render)
    (out_dir / REPORT_FILE).write_text(json.dumps({"files": planned}, indent=2) + "\n")


def finish(
    paths: list[Path], out_dir: Path, report: dict, *, render: bool, plot: bool, sample_rate: int
) -> list[Path]:
    """Render `paths` to WAV with `render`, write OUT_DIR/generation.json with the empty samples
    and the files written, and print the sampling speed (`report["stats"]`) and the empty
    samples. A sample without notes is rendered too, as silence (no gain below the render's
    noise floor), so every MIDI has its WAV. Returns the MIDI paths, then the WAV paths."""
    pngs = [p.with_suffix(".png") for p in paths] if plot else []
    if render:
        from symbolic.output.render import render as render_wav  # FluidSynth only when asked

        paths = paths + [
            render_wav(p, p.with_suffix(".wav"), sample_rate=sample_rate) for p in paths
        ]
    empty = [i for i, count in enumerate(report["notes"]) if count == 0]
    report = {**report, "empty": empty, "files": sorted(p.name for p in paths + pngs)}
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    print(SamplingStats(**report["stats"]).summary())
    if empty:
        print(empty_summary(out_dir, empty, len(report["notes"]), render))
    return paths


def empty_summary(out_dir: Path, empty: list[int], total: int, render: bool) -> str:
    """One line naming the samples that decoded to no notes."""
    names = ", ".join(f"sample_{i:03d}.mid" for i in empty)
    tail = " (their WAVs are silence)" if render else ""
    return f"{out_dir}: {len(empty)} of {total} samples decoded to no notes: {names}{tail}"
