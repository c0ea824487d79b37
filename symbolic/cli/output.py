"""`symbolic render`, `plot`, `ports` and `play`: MIDI files out to WAV, pictures and ports."""

from __future__ import annotations

from pathlib import Path


def cmd_render(args) -> None:
    from symbolic.output.render import render

    render(
        args.midi,
        args.wav,
        sample_rate=args.sample_rate,
        reverb=not args.no_reverb,
        gain_normalize=not args.no_normalize,
        soundfont=args.soundfont,
        max_seconds=args.max_seconds,
    )
    print(f"wrote {args.wav}")


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


def add_render(subparsers) -> None:
    p = subparsers.add_parser("render", help="render MIDI to WAV with FluidSynth")
    p.add_argument("midi", type=Path)
    p.add_argument("wav", type=Path)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--no-reverb", action="store_true")
    p.add_argument("--no-normalize", action="store_true", help="keep FluidSynth's raw gain")
    p.add_argument("--soundfont", type=Path, default=None)
    p.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        help="refuse a file whose last note ends later (the WAV stops 2 s after it)",
    )
    p.set_defaults(func=cmd_render)


def add_plot(subparsers) -> None:
    p = subparsers.add_parser("plot", help="draw a MIDI file as a piano-roll PNG")
    p.add_argument("midi", type=Path)
    p.add_argument("png", type=Path)
    p.set_defaults(func=cmd_plot)


def add_ports(subparsers) -> None:
    p = subparsers.add_parser("ports", help="list MIDI output ports (needs python-rtmidi and ALSA)")
    p.set_defaults(func=cmd_ports)


def add_play(subparsers) -> None:
    p = subparsers.add_parser("play", help="play a MIDI file to a MIDI output port in real time")
    p.add_argument("midi", type=Path)
    p.add_argument("--port", default=None, help="output port name (default: the first)")
    p.set_defaults(func=cmd_play)
