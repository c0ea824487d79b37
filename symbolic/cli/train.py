"""`symbolic train`, `symbolic eval` and `symbolic presets`."""

from __future__ import annotations

import json
from pathlib import Path


class _ModelNames:
    """`train --model` choices, read from the model registry only when `train` is parsed or its
    help is shown: importing symbolic.models loads flax, which building the parser must not."""

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    @staticmethod
    def _names() -> list[str]:
        from symbolic.models import names

        return names()


def cmd_train(args) -> None:
    import symbolic
    from symbolic.training import parallel

    parallel.maybe_initialize_distributed()
    summary = symbolic.train(
        args.data,
        args.workdir,
        model=args.model,
        preset=args.preset,
        overrides=args.set,
        steps=args.steps,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))


def cmd_eval(args) -> None:
    from symbolic.training.config import RunConfig

    config = RunConfig.load(args.run_dir / "config.json")
    if config.model_name == "vae":
        from symbolic.vae.evaluation import evaluate_run

        record = evaluate_run(args.run_dir, args.split, args.data)
    elif config.model_name == "transcriber":
        from symbolic.transcription.evaluation import evaluate_run as evaluate_transcriber

        if args.data is None:
            raise ValueError("pass --data DATA_DIR: the `symbolic audio prepare` output to score")
        record = evaluate_transcriber(args.run_dir, args.data, args.split)
    else:
        from symbolic.training.evaluation import evaluate_lm_run

        if args.data is None:
            raise ValueError("pass --data DATA_DIR: the `symbolic prepare` output to score on")
        record = evaluate_lm_run(args.run_dir, args.data, args.split)
    print(json.dumps(record, indent=2))


def cmd_presets(args) -> None:
    from symbolic.training import config as config_lib

    for name in config_lib.available_presets():
        print(name)


def add_train(subparsers) -> None:
    p = subparsers.add_parser("train", help="train or resume a model")
    # a metavar, or argparse lists the choices (importing the registry) as it adds the argument
    p.add_argument(
        "--model", choices=_ModelNames(), metavar="MODEL", required=True, help="%(choices)s"
    )
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


def add_eval(subparsers) -> None:
    p = subparsers.add_parser("eval", help="score a run's best checkpoint on a held-out split")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", type=Path, default=None, help="data dir (default for VAE: the run's)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.set_defaults(func=cmd_eval)


def add_presets(subparsers) -> None:
    p = subparsers.add_parser("presets", help="list training presets")
    p.set_defaults(func=cmd_presets)
