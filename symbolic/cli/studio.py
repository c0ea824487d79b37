"""`symbolic serve`: the local web studio (`symbolic.studio`).

Imports are inside the handler so that building the parser loads neither FastAPI nor jax.
"""

from __future__ import annotations

from pathlib import Path


def cmd_serve(args) -> None:
    import symbolic

    symbolic.serve(args.run_dirs, host=args.host, port=args.port, out=args.out)


def add_serve(subparsers) -> None:
    """Register `serve` on the top-level subparsers."""
    p = subparsers.add_parser(
        "serve",
        help="a local web studio: generate, listen, compare and keep samples in the browser",
    )
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--out", type=Path, default=Path("studio_kept"), help="where 'keep' copies samples"
    )
    p.set_defaults(func=cmd_serve)
