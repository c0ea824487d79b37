"""`symbolic manifest` and `symbolic prepare`: MIDI folders -> manifests -> token arrays."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symbolic.cli.arguments import add_transpose_arg


def cmd_manifest(args) -> None:
    from symbolic.data.manifest import load_manifest, split_leaks, write_folder_manifest

    path = write_folder_manifest(
        args.folder,
        args.out,
        name=args.name,
        seed=args.seed,
        licence=args.licence,
        exclude=tuple(args.exclude),
        group_by=args.group_by,
        max_works=dict(args.max_works) or None,
    )
    manifest = load_manifest(path)
    print(f"wrote {path} ({len(manifest.works)} works, {len(manifest.excluded)} excluded)")
    warning = split_leaks(manifest).warning()
    if warning:
        print(warning, file=sys.stderr)


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
        view=View(args.view, args.track, args.chord_rate, args.align_downbeat),
        max_tokens_per_work=args.max_tokens_per_work,
    )
    _print_prepare(meta, args.out)


def _print_prepare(meta, out: Path) -> None:
    """meta: the DataMeta that `prepare` wrote."""
    counts = ", ".join(
        f"{k}: {v.sequences} seqs / {v.tokens:,} tokens" for k, v in meta.counts.items()
    )
    print(f"prepared {out} (vocab {meta.vocab_size}; {counts}; {len(meta.skipped)} skipped)")
    for item in meta.skipped:
        print(f"  skipped {item.file}: {item.reason}")


def add_manifest(subparsers) -> None:
    p = subparsers.add_parser("manifest", help="write a manifest for a folder of MIDI files")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the train/valid/test split")
    p.add_argument("--licence", default="unknown: check the source's terms")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out paths (or folder/file names) matching GLOB, e.g. versions; repeatable",
    )
    p.add_argument(
        "--group-by",
        default=None,
        metavar="top|parent|REGEX",
        help="keep all files of one work in one split: grouped by their first folder (top), "
        "their own folder (parent), or a regex's first group on the relative path",
    )
    p.add_argument(
        "--max-works",
        action="append",
        default=[],
        type=_split_count,
        metavar="SPLIT=N",
        help="keep only the first N works of a split (after splitting), e.g. train=60; repeatable",
    )
    p.set_defaults(func=cmd_manifest)


def _split_count(text: str) -> tuple[str, int]:
    split, _, count = text.partition("=")
    if not count.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want SPLIT=N, e.g. train=60")
    return split, int(count)


def add_prepare(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="tokenize a manifest's works into token arrays")
    p.add_argument("manifest", type=Path)
    p.add_argument("--tokenizer", default="remi", help="preset in tokenizers/ or a JSON path")
    p.add_argument("--out", type=Path, required=True)
    add_transpose_arg(p, "augment train by transposing LOW..HIGH semitones, e.g. -3..3")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--max-tokens-per-work",
        type=int,
        default=None,
        metavar="N",
        help="cut each work's sequence to at most N tokens, at a bar line (default: no cap)",
    )
    _add_view_args(p)
    p.set_defaults(func=cmd_prepare)


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
    p.add_argument(
        "--align-downbeat",
        action="store_true",
        help="delay each file so that its estimated downbeats fall on its bar lines (the shift "
        "is recorded in meta.json's downbeat_shifts)",
    )
