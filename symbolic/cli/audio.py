"""`symbolic audio prepare` (rendered audio data for the transcriber) and `symbolic transcribe`
(audio -> MIDI, optionally continued by a language model)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from symbolic.audio.features import FEATURE_KINDS, FeatureParams


def _programs(text: str) -> tuple[int, ...]:
    """`--programs 0,19,48` -> (0, 19, 48): GM program numbers, 0-based."""
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected GM programs like 0,19,48, got {text!r}"
        ) from err


def _manifest_programs(text: str) -> tuple[str, tuple[int, ...]]:
    """`--manifest-programs pop909=0,1` -> ("pop909", (0, 1))."""
    name, sep, programs = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=0,1 (a manifest's name), got {text!r}")
    return name.strip(), _programs(programs)


def cmd_audio_prepare(args) -> None:
    from symbolic.audio import synth
    from symbolic.audio.dataset import prepare_audio

    meta = prepare_audio(
        args.manifest,
        args.out,
        copies=args.copies,
        programs=args.programs or synth.SEEN_PROGRAMS,
        manifest_programs=dict(args.manifest_programs),
        params=FeatureParams(kind=args.features),
        max_seconds=args.max_seconds,
        soundfont=args.soundfont,
        workers=args.workers,
        progress=not args.no_progress,
        seed=args.seed,
    )
    for split, count in meta.counts.items():
        print(
            f"{split}: {count['works']} works, {count['pieces']} renders, {count['frames']} frames"
        )
    for skipped in meta.skipped:
        print(f"skipped {skipped.file}: {skipped.reason}")
    print(f"wrote {args.out}")


def cmd_transcribe(args) -> None:
    from symbolic.transcription.run import load_transcriber

    run = load_transcriber(args.run)
    if args.continue_run is not None:
        paths = run.continue_with(
            args.input, args.continue_run, args.out, num=args.num, seed=args.seed
        )
        print("\n".join(str(p) for p in paths))
        return
    out = (
        args.out if args.out.suffix.lower() in (".mid", ".midi") else args.out / "transcription.mid"
    )
    path, notes = run.transcribe(args.input, out, tempo=args.tempo, plot=args.plot)
    print(json.dumps({"midi": str(path), "notes": len(notes)}))


def cmd_audio_tune(args) -> None:
    from symbolic.transcription.evaluation import tune_thresholds

    print(json.dumps(tune_thresholds(args.run_dir, args.data, args.split), indent=2))


def add_audio(subparsers) -> None:
    """Register `audio` (prepare, tune)."""
    audio = subparsers.add_parser("audio", help="rendered-audio data for the transcriber")
    commands = audio.add_subparsers(dest="audio_command", required=True)
    p = commands.add_parser(
        "prepare", help="render a manifest's works and write features + frame targets"
    )
    p.add_argument("manifest", type=Path, nargs="+", help="one or more manifests")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--copies", type=int, default=2, help="augmented renders per train work")
    p.add_argument(
        "--programs",
        type=_programs,
        default=None,
        help="GM programs (0-based) to render with, e.g. 0,19,48 (default: 21 timbres)",
    )
    p.add_argument(
        "--manifest-programs",
        type=_manifest_programs,
        action="append",
        default=[],
        metavar="NAME=PROGRAMS",
        help="programs for one manifest's works instead (by its name), e.g. pop909=0,1; repeatable",
    )
    p.add_argument(
        "--features",
        choices=FEATURE_KINDS,
        default=FeatureParams.kind,
        help="log constant-Q transform (default, as basic-pitch) or log-mel (Onsets and Frames)",
    )
    p.add_argument("--max-seconds", type=float, default=None, help="keep each work's start only")
    p.add_argument("--soundfont", type=Path, default=None)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_audio_prepare)
    p = commands.add_parser(
        "tune", help="choose a transcriber run's decoding thresholds on a valid split"
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", type=Path, required=True, help="an `audio prepare` output")
    p.add_argument("--split", default="valid", choices=["train", "valid"])
    p.set_defaults(func=cmd_audio_tune)


def add_transcribe(subparsers) -> None:
    p = subparsers.add_parser("transcribe", help="audio (wav, flac, mp3, ogg) -> MIDI")
    p.add_argument("input", type=Path)
    p.add_argument("--run", type=Path, required=True, help="a trained transcriber run")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="OUT.mid, or a folder (with --continue, always a folder)",
    )
    p.add_argument("--tempo", type=float, default=120.0, help="MIDI tempo, quarters per minute")
    p.add_argument("--plot", action="store_true", help="also write OUT.png: features + piano roll")
    p.add_argument(
        "--continue",
        dest="continue_run",
        type=Path,
        default=None,
        metavar="RUN_LM",
        help="continue the transcription with this language-model run",
    )
    p.add_argument("--num", type=int, default=1, help="with --continue: continuations")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_transcribe)
