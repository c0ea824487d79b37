"""`symbolic analyze`: key, tempo, beats, meter, chords, melody track and sections of MIDI files."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cmd_analyze(args) -> None:
    from symbolic.analysis.batch import analyze_paths, midi_files
    from symbolic.paths import output_file, output_folder, write_text_atomic

    paths = midi_files(args.source)
    single = Path(args.source).is_file()
    if args.json:
        output_file(args.json)  # a folder there is an error before any work
    if args.plot and not single:
        output_folder(args.plot, create=True)
    results, skipped = [], []
    for outcome in analyze_paths(paths, args.workers, progress=not single):
        if outcome.analysis is None:
            if single:  # the one file asked for is an error, not a skip
                raise ValueError(f"{outcome.path}: {outcome.reason}")
            skipped.append(outcome)
            print(f"skipped {outcome.path}: {outcome.reason}", file=sys.stderr)
            continue
        print(outcome.analysis.table())
        results.append(outcome.analysis)
        if args.plot:
            _plot(outcome, args.plot, args.source, single)
    if args.json:
        text = json.dumps([a.to_json() for a in results], indent=1)
        print(f"wrote {write_text_atomic(output_file(args.json), text + chr(10))}")
    if not single:
        print(f"analysed {len(results)} files, skipped {len(skipped)}")


def _plot(outcome, plot: str, source: str, single: bool) -> None:
    from symusic import Score

    from symbolic.output.plot import plot_analysis

    if single:
        out = Path(plot)
    else:
        relative = outcome.path.relative_to(source)
        out = Path(plot) / relative.with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {plot_analysis(Score(str(outcome.path)), outcome.analysis, out)}")


def add_analyze(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="key, tempo, beats, meter, chords, melody track and sections of MIDI files",
        description="Analyse a MIDI file or every MIDI file of a folder (in parallel; a bad "
        "file is skipped with its reason) and print a table per file.",
    )
    p.add_argument("source", help="a MIDI file or a folder of them")
    p.add_argument("--json", help="write the analyses to this file, a JSON list")
    p.add_argument(
        "--plot",
        help="piano roll with chords, key regions, downbeats and sections: OUT.png for a "
        "file, a folder of PNGs for a folder",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    p.set_defaults(func=cmd_analyze)
