"""Command-line interface: parse arguments and call one function per subcommand.

Imports are inside the handlers so that data commands never load jax.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "data_manifests" / "bach_chorales.json"


def _transpose_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("..")
    try:
        return (int(low), int(high)) if sep else (-abs(int(low)), abs(int(low)))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected LOW..HIGH semitones, got {text!r}") from err


def cmd_manifest(args) -> None:
    from symbolic.data.manifest import write_folder_manifest

    path = write_folder_manifest(
        args.folder, args.out, name=args.name, seed=args.seed, licence=args.licence
    )
    print(f"wrote {path}")


def cmd_prepare(args) -> None:
    from symbolic.data.prepare import prepare
    from symbolic.data.views import View

    meta = prepare(
        args.manifest,
        args.tokenizer,
        args.out,
        augment_transpose=args.transpose,
        workers=args.workers,
        progress=not args.no_progress,
        view=View(args.view, args.track, args.chord_rate),
    )
    _print_prepare(meta, args.out)


def _print_prepare(meta: dict, out: Path) -> None:
    counts = ", ".join(
        f"{k}: {v['sequences']} seqs / {v['tokens']:,} tokens" for k, v in meta["counts"].items()
    )
    print(f"prepared {out} (vocab {meta['vocab_size']}; {counts}; {len(meta['skipped'])} skipped)")
    for item in meta["skipped"]:
        print(f"  skipped {item['file']}: {item['reason']}")


def cmd_train(args) -> None:
    from symbolic.train import config as config_lib
    from symbolic.train import parallel, trainer

    parallel.maybe_initialize_distributed()
    cfg = config_lib.resolve(args.model, args.preset, args.set, steps=args.steps)
    summary = trainer.train(cfg, args.data, args.workdir, progress=not args.no_progress)
    print(json.dumps(summary, indent=2))


def cmd_eval(args) -> None:
    from symbolic.train.config import RunConfig

    config = RunConfig.load(args.run_dir / "config.json")
    if config.model_name == "vae":
        from symbolic import vae as vae_tools

        record = vae_tools.evaluate_run(args.run_dir, args.split, args.data)
    else:
        from symbolic.train.evaluation import evaluate_lm_run

        if args.data is None:
            raise ValueError("pass --data DATA_DIR: the `symbolic prepare` output to score on")
        record = evaluate_lm_run(args.run_dir, args.data, args.split)
    print(json.dumps(record, indent=2))


def cmd_generate(args) -> None:
    from symbolic.generation.conditioning import Condition
    from symbolic.generation.generate import Controls, generate

    controls = Controls(
        key=args.key,
        pitch_range=args.pitch_range,
        monophonic=args.monophonic,
        max_polyphony=args.max_polyphony,
        grid=args.grid,
        bars=args.bars,
        repetition_penalty=args.repetition_penalty,
        beam=args.beam,
        plot=args.plot,
    )
    condition = Condition(
        chords=args.chords,
        chords_file=args.chords_file,
        melody=args.melody,
        tempo=args.tempo,
        time_signature=args.time_signature,
    )
    settings = dict(
        num=args.num,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        render=args.render,
        controls=controls,
    )
    if args.infill_bars is not None:
        if not condition.is_empty:
            raise ValueError("--infill-bars cannot be combined with chords, melody or tempo")
        paths = _infill(args, settings)
    else:
        paths = generate(
            args.run_dir, args.out, prompt_midi=args.prompt, condition=condition, **settings
        )
    for path in paths:
        print(path)


def _infill(args, settings: dict) -> list[Path]:
    """`generate --infill-bars`: regenerate those bars of --prompt (symbolic.generation.infill)."""
    from symbolic.generation.infill import generate_infill

    if args.prompt is None:
        raise ValueError("--infill-bars needs --prompt IN.mid: the piece whose bars to regenerate")
    return generate_infill(args.run_dir, args.out, args.prompt, args.infill_bars, **settings)


def cmd_plot(args) -> None:
    from symbolic.output.plot import plot_midi

    print(f"wrote {plot_midi(args.midi, args.png)}")


def cmd_ports(args) -> None:
    from symbolic.output import ports as midi_out

    for name in midi_out.list_ports():
        print(name)


def cmd_play(args) -> None:
    from symbolic.output import ports as midi_out

    print(f"sent {midi_out.play(args.midi, args.port)} messages")


def cmd_render(args) -> None:
    from symbolic.output.render import render

    render(
        args.midi,
        args.wav,
        sample_rate=args.sample_rate,
        reverb=not args.no_reverb,
        gain_normalize=not args.no_normalize,
        soundfont=args.soundfont,
    )
    print(f"wrote {args.wav}")


def cmd_demo(args) -> None:
    from symbolic.demo import run_demo

    run_demo(
        args.out,
        model_name=args.model,
        steps=args.steps,
        num=args.num,
        manifest=args.manifest,
        tokenizer=args.tokenizer,
    )


def cmd_bench(args) -> None:
    """Run `python -m benchmarks.NAME ARGS...` from the repository root."""
    import runpy

    root = DEFAULT_MANIFEST.parents[1]
    if not (root / "benchmarks" / args.name / "__main__.py").is_file():
        names = sorted(p.parent.name for p in (root / "benchmarks").glob("*/__main__.py"))
        raise ValueError(f"unknown benchmark {args.name!r}; available: {names}")
    sys.path.insert(0, str(root))
    sys.argv = [f"benchmarks.{args.name}", *args.bench_args]
    runpy.run_module(f"benchmarks.{args.name}", run_name="__main__")


def cmd_presets(args) -> None:
    from symbolic.train import config as config_lib

    for name in config_lib.available_presets():
        print(name)


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num", type=int, default=4, help="number of pieces to generate")
    p.add_argument("--max-tokens", type=int, default=512, help="new tokens per piece")
    p.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    p.add_argument("--top-k", type=int, default=0, help="keep the k likeliest tokens (0: off)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus probability mass (1: off)")
    p.add_argument("--seed", type=int, default=0)


def _add_control_args(p: argparse.ArgumentParser) -> None:
    """Hard constraints (masks at every step), penalties, beam search and pictures."""
    p.add_argument("--key", default=None, help='only pitches of this scale, e.g. "D minor"')
    p.add_argument("--pitch-range", default=None, help="inclusive MIDI pitches, e.g. 60-84")
    p.add_argument("--monophonic", action="store_true", help="at most one note per onset")
    p.add_argument("--max-polyphony", type=int, default=None, help="most notes per onset")
    p.add_argument("--grid", default=None, help="onsets only on this grid: 4th, 8th, 16th, ...")
    p.add_argument("--bars", type=int, default=None, help="stop after this many new bars")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="on pitches (1: off)")
    p.add_argument("--beam", type=int, default=0, help="beam search width (0: sample)")
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG per MIDI")


def _add_view_args(p: argparse.ArgumentParser) -> None:
    """What `prepare` keeps of each work (checked by symbolic.data.views.View, which is not
    imported here: it loads miditok, and the parser is built for every command)."""
    p.add_argument(
        "--view",
        default="full",
        help="full, melody, chords, drums, melody_over_chords or chords_for_melody",
    )
    p.add_argument("--track", default=None, help="melody views: a track or GM program name")
    p.add_argument("--chord-rate", default="beat", help="chord views: a chord per beat or bar")


def _add_condition_args(p: argparse.ArgumentParser) -> None:
    """Conditions the model reads as input (symbolic.generation.conditioning)."""
    p.add_argument("--chords", default=None, help='a progression to follow, e.g. "C G Am F"')
    p.add_argument("--chords-file", type=Path, default=None, help="follow this file's chords")
    p.add_argument("--melody", type=Path, default=None, help="harmonise this MIDI's top voice")
    p.add_argument("--tempo", type=float, default=None, help="beats per minute")
    p.add_argument("--time-signature", default=None, help="e.g. 3/4 (default 4/4)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbolic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="prepare the Bach chorales, train, generate MIDI and WAV")
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder")
    p.add_argument("--model", choices=["transformer", "lstm"], default="transformer")
    p.add_argument("--steps", type=int, default=None, help="override the demo preset's steps")
    p.add_argument("--num", type=int, default=4, help="pieces to generate")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--tokenizer", default="remi")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("manifest", help="write a manifest for a folder of MIDI files")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the train/valid/test split")
    p.add_argument("--licence", default="unknown: check the source's terms")
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("prepare", help="tokenize a manifest's works into token arrays")
    p.add_argument("manifest", type=Path)
    p.add_argument("--tokenizer", default="remi", help="preset in tokenizers/ or a JSON path")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--transpose",
        type=_transpose_range,
        default=None,
        help="augment train by transposing LOW..HIGH semitones, e.g. -3..3",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    _add_view_args(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train or resume a model")
    p.add_argument("--model", choices=["transformer", "lstm", "vae"], required=True)
    p.add_argument("--data", type=Path, required=True, help="a prepare or vae prepare output")
    p.add_argument("--workdir", type=Path, required=True, help="run directory (resumed if present)")
    p.add_argument("--preset", default="demo", help="named preset in symbolic/configs/")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override, e.g. model.num_layers=2 or train.learning_rate=3e-4",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="score a run's best checkpoint on a held-out split")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", type=Path, default=None, help="data dir (default for VAE: the run's)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="sample MIDI from a trained run")
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

    p = sub.add_parser("render", help="render MIDI to WAV with FluidSynth")
    p.add_argument("midi", type=Path)
    p.add_argument("wav", type=Path)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--no-reverb", action="store_true")
    p.add_argument("--no-normalize", action="store_true", help="keep FluidSynth's raw gain")
    p.add_argument("--soundfont", type=Path, default=None)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("plot", help="draw a MIDI file as a piano-roll PNG")
    p.add_argument("midi", type=Path)
    p.add_argument("png", type=Path)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("ports", help="list MIDI output ports (needs python-rtmidi and ALSA)")
    p.set_defaults(func=cmd_ports)

    p = sub.add_parser("play", help="play a MIDI file to a MIDI output port in real time")
    p.add_argument("midi", type=Path)
    p.add_argument("--port", default=None, help="output port name (default: the first)")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("bench", help="run a benchmark from benchmarks/ (e.g. chorales_nll --quick)")
    p.add_argument("name")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("presets", help="list training presets")
    p.set_defaults(func=cmd_presets)

    from symbolic.cli.vae import add_vae_commands

    add_vae_commands(sub)
    return parser


def _attach_signed_values(argv: list[str]) -> list[str]:
    """`--transpose -3..3` -> `--transpose=-3..3`: argparse would read a value that starts with
    '-' and is not a plain number as the next option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--transpose" and arg.startswith("-") and ".." in arg:
            out[-1] = f"--transpose={arg}"
        else:
            out.append(arg)
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(_attach_signed_values(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"symbolic: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
