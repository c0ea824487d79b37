"""`symbolic gan ...`: argument parsing only; the work is in `symbolic.data.phrase_sets`
(prepare) and `symbolic.gan` (sample, interpolate, accompany). Imports are inside the handlers
(no jax to parse)."""

from __future__ import annotations

from pathlib import Path

from symbolic.cli.arguments import add_transpose_arg


def cmd_gan_prepare(args) -> None:
    from symbolic.data import phrases as ph
    from symbolic.data.phrase_sets import prepare_phrases

    low, high = ph.parse_pitch_range(args.pitch_range)
    grid = ph.Grid(args.bars, args.steps_per_beat, args.beats_per_bar, low, high)
    tracks = tuple(t for t in args.tracks.split(",") if t.strip())
    meta = prepare_phrases(
        args.manifest,
        args.out,
        tracks=tracks,
        grid=grid,
        hop=args.hop,
        min_notes=args.min_notes,
        augment_transpose=args.transpose,
        limit=args.limit,
    )
    counts = ", ".join(f"{k}: {v.segments} phrases" for k, v in meta.counts.items())
    dropped = ", ".join(f"{k} {v}" for k, v in meta.dropped.items() if v)
    print(
        f"prepared {args.out} ({len(meta.tracks)} tracks x {meta.phrase_steps} steps x "
        f"{meta.pitches} pitches, meter {meta.meter}; {counts}; dropped: {dropped or 'none'}; "
        f"{len(meta.skipped)} works skipped)"
    )


def cmd_gan_sample(args) -> None:
    from symbolic.gan import load_gan
    from symbolic.gan.files import write_scores

    if args.num < 1:
        raise ValueError(f"--num {args.num}: ask for at least one sample")
    run = load_gan(args.run)
    scores = run.sample(
        args.num, seed=args.seed, threshold=args.threshold, candidates=args.candidates
    )
    for path in write_scores(scores, args.out, plot=args.plot, render=args.render):
        print(path)


def cmd_gan_interpolate(args) -> None:
    from symbolic.gan import load_gan
    from symbolic.gan.files import write_scores

    run = load_gan(args.run)
    for walk in ("shared", "private"):
        rolls = run.interpolate(args.steps, seed=args.seed, walk=walk)
        for path in write_scores(run.scores(rolls), args.out, stem=f"walk_{walk}", plot=args.plot):
            print(path)


def cmd_gan_accompany(args) -> None:
    from symbolic.gan import load_gan
    from symbolic.gan.files import write_scores

    run = load_gan(args.run)
    score = run.accompany(args.midi, args.track, seed=args.seed, candidates=args.candidates)
    stem = f"{Path(args.midi).stem}_accompanied"
    for path in write_scores([score], args.out, stem=stem, plot=args.plot, render=args.render):
        print(path)


def _add_prepare(gan) -> None:
    p = gan.add_parser("prepare", help="a manifest -> bar-aligned multi-track piano-roll phrases")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the phrases folder to write")
    p.add_argument("--tracks", required=True, help="tracks to keep, in order: names or indices")
    p.add_argument("--bars", type=int, default=4, help="bars per phrase (default 4)")
    p.add_argument("--steps-per-beat", type=int, default=12, help="grid steps a beat (12)")
    p.add_argument("--beats-per-bar", type=int, default=4, help="the meter kept (4: 4/4)")
    p.add_argument("--pitch-range", default="24-108", help="LOW-HIGH MIDI pitches, high excluded")
    p.add_argument("--hop", type=int, default=None, help="bars between phrases (default --bars)")
    p.add_argument("--min-notes", type=int, default=8, help="drop phrases with fewer notes (8)")
    p.add_argument("--limit", type=int, default=None, help="the first N works of each split")
    add_transpose_arg(p, "transposed copies of the train phrases, e.g. -5..6 semitones")
    p.set_defaults(func=cmd_gan_prepare)


def _add_candidates(p) -> None:
    p.add_argument(
        "--candidates",
        type=int,
        default=1,  # symbolic.gan.run.CANDIDATES, not imported: parsing imports no jax
        help="draws a phrase, the critic keeps its best (1: plain sampling)",
    )


def _add_use(gan) -> None:
    p = gan.add_parser("sample", help="multi-track phrases from scratch -> MIDI")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--num", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=0.5, help="binarisation threshold (0.5)")
    _add_candidates(p)
    p.add_argument("--render", action="store_true", help="a WAV beside each (FluidSynth)")
    p.add_argument("--plot", action="store_true", help="a piano-roll PNG beside each")
    p.set_defaults(func=cmd_gan_sample)
    p = gan.add_parser("interpolate", help="walk the shared latent, then the private ones")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", action="store_true")
    p.set_defaults(func=cmd_gan_interpolate)
    p = gan.add_parser("accompany", help="keep one track of a MIDI file, generate the others")
    p.add_argument("midi", type=Path)
    p.add_argument("--track", required=True, help="the given track: a name or an index")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    _add_candidates(p)
    p.add_argument("--render", action="store_true")
    p.add_argument("--plot", action="store_true")
    p.set_defaults(func=cmd_gan_accompany)


def add_gan(subparsers) -> None:
    """Register `gan` (prepare, sample, interpolate, accompany)."""
    gan = subparsers.add_parser("gan", help="MuseGAN: piano-roll phrases, sampling, accompaniment")
    gan = gan.add_subparsers(dest="gan_command", required=True)
    _add_prepare(gan)
    _add_use(gan)
