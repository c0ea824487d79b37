"""`symbolic generate`: sample, continue or infill MIDI from a trained run.

Imports are inside the handler so that building the parser never loads jax.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from symbolic.generation.settings import DEFAULT_MAX_TOKENS


def cmd_generate(args) -> None:
    from symbolic.generation.conditioning import Condition
    from symbolic.generation.generate import generate, generate_infill
    from symbolic.generation.settings import Controls, Sampling

    sampling = Sampling(
        num=args.num,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    controls = Controls(
        key=args.key,
        pitch_range=args.pitch_range,
        monophonic=args.monophonic,
        max_polyphony=args.max_polyphony,
        grid=args.grid,
        bars=args.bars,
        repetition_penalty=args.repetition_penalty,
        beam=args.beam,
        programs=args.programs,
    )
    condition = Condition(
        chords=args.chords,
        chords_file=args.chords_file,
        melody=args.melody,
        tempo=args.tempo,
        time_signature=args.time_signature,
    )
    output = dict(controls=controls, plot=args.plot, render=args.render)
    if args.infill_bars is not None:
        if args.stream:
            raise ValueError("--stream plays new pieces; it cannot be combined with --infill-bars")
        if not condition.is_empty:
            raise ValueError("--infill-bars cannot be combined with chords, melody or tempo")
        if args.prompt is None:
            raise ValueError(
                "--infill-bars needs --prompt IN.mid: the piece whose bars to regenerate"
            )
        paths = generate_infill(
            args.run_dir, args.out, args.prompt, args.infill_bars, sampling, **output
        )
    elif args.stream:
        from symbolic.generation.stream import stream_generate

        paths = stream_generate(
            args.run_dir,
            args.out,
            sampling,
            port_name=args.port,
            prompt_midi=args.prompt,
            condition=condition,
            **output,
        )
    else:
        paths = generate(
            args.run_dir, args.out, sampling, prompt_midi=args.prompt, condition=condition, **output
        )
    for path in paths:
        print(path)


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num", type=int, default=4, help="number of pieces to generate")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help=f"new tokens per piece (default: until EOS or the asked bars end, at most "
        f"{DEFAULT_MAX_TOKENS:,}, or what a learned-position window leaves)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="sampling temperature, >= 0; 0 is greedy (always the likeliest token)",
    )
    p.add_argument("--top-k", type=int, default=0, help="keep the k likeliest tokens (0: off)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus probability mass (1: off)")
    p.add_argument("--seed", type=int, default=0)


def _add_control_args(p: argparse.ArgumentParser) -> None:
    """Hard constraints (masks at every step), penalties, beam search (`Controls`) and
    pictures."""
    p.add_argument("--key", default=None, help='only pitches of this scale, e.g. "D minor"')
    p.add_argument("--pitch-range", default=None, help="inclusive MIDI pitches, e.g. 60-84")
    p.add_argument("--monophonic", action="store_true", help="at most one note per onset")
    p.add_argument("--max-polyphony", type=int, default=None, help="most notes per onset")
    p.add_argument("--grid", default=None, help="onsets only on this grid: 4th, 8th, 16th, ...")
    p.add_argument("--bars", type=int, default=None, help="stop after this many new bars")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="on pitches (1: off)")
    p.add_argument("--beam", type=int, default=0, help="beam search width (0: sample)")
    p.add_argument(
        "--programs",
        default=None,
        help="GM programs the notes may use, e.g. 0,33 (-1: drums; 'all': any); "
        "default: the programs of the training data",
    )
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG per MIDI")
    p.add_argument(
        "--stream",
        action="store_true",
        help="play the first piece on a MIDI output port while it is generated, in time "
        "(needs python-rtmidi and a MIDI system; --tempo sets the speed)",
    )
    p.add_argument("--port", default=None, help="--stream: the MIDI output port (default: first)")


def _add_condition_args(p: argparse.ArgumentParser) -> None:
    """Conditions the model reads as input (symbolic.generation.conditioning)."""
    p.add_argument("--chords", default=None, help='a progression to follow, e.g. "C G Am F"')
    p.add_argument("--chords-file", type=Path, default=None, help="follow this file's chords")
    p.add_argument("--melody", type=Path, default=None, help="harmonise this MIDI's top voice")
    p.add_argument("--tempo", type=float, default=None, help="beats per minute (> 0)")
    p.add_argument("--time-signature", default=None, help="e.g. 3/4 (default 4/4)")


def add_generate(subparsers) -> None:
    """Register `generate` on the top-level subparsers."""
    p = subparsers.add_parser("generate", help="sample MIDI from a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    _add_sampling_args(p)
    _add_control_args(p)
    p.add_argument("--prompt", type=Path, default=None, help="a MIDI file to continue")
    _add_condition_args(p)
    p.add_argument(
        "--infill-bars",
        default=None,
        metavar="FIRST-LAST",
        help="regenerate these bars of --prompt and keep the rest (a run trained with FIM)",
    )
    p.add_argument("--render", action="store_true", help="also write a WAV beside each MIDI")
    p.set_defaults(func=cmd_generate)
