"""`symbolic index` and `symbolic similar`: argument parsing and printing only; the work is in
`symbolic.retrieval` (and `symbolic.vae.similarity` for a `vae encode` EMB.npz). Imports are
inside the handlers (no jax to parse)."""

from __future__ import annotations

from pathlib import Path

EMBEDDINGS = ("features", "vae", "transformer")  # as symbolic.retrieval.embedders.EMBEDDINGS


def cmd_index(args) -> None:
    from symbolic.retrieval.build import build_index

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: must be at least 1")
    index = build_index(
        args.folder,
        args.out,
        embedding=args.embedding,
        run=args.run,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(
        f"wrote {args.out}: {len(index.files)} files, {len(index.vectors)} rows of "
        f"{index.dim} dims ({index.embedding}); {len(index.skipped)} skipped"
    )
    for skipped in index.skipped:  # a reason usually names its file already
        named = skipped.reason.startswith(skipped.file)
        print(f"  skipped {skipped.reason if named else f'{skipped.file}: {skipped.reason}'}")


def _ranked(args) -> list[tuple[str, float]]:
    if args.index.suffix == ".npz":  # a `symbolic vae encode` index of segment latents
        from symbolic.vae.similarity import similar_command

        return similar_command(args.query, args.index, args.k, args.run)
    from symbolic.retrieval.build import similar

    return similar(args.query, args.index, args.k, run=args.run)


def cmd_similar(args) -> None:
    from symbolic.vae.files import render_beside

    if args.k < 1:
        raise ValueError(f"-k {args.k}: must be at least 1")
    ranked = _ranked(args)
    for name, score in ranked:
        print(f"{score:.4f}  {name}")
    if args.render:
        files = dict.fromkeys([str(args.query)] + [name for name, _ in ranked])  # query once
        for path in render_beside(list(files)):
            print(path)


def add_index(subparsers) -> None:
    p = subparsers.add_parser(
        "index", help="embed every MIDI file under a folder into a similarity index"
    )
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, required=True, help="index folder to write")
    p.add_argument("--embedding", choices=EMBEDDINGS, default="features")
    p.add_argument("--run", type=Path, default=None, help="the trained run (vae, transformer)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_index)


def add_similar(subparsers) -> None:
    p = subparsers.add_parser(
        "similar", help="nearest files to a MIDI file in an index (or a `vae encode` EMB.npz)"
    )
    p.add_argument("query", type=Path)
    p.add_argument("--index", type=Path, required=True, help="`symbolic index` folder or .npz")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--run", type=Path, default=None, help="default: the index's run")
    p.add_argument(
        "--render", action="store_true", help="also write a WAV beside the query and each file"
    )
    p.set_defaults(func=cmd_similar)
