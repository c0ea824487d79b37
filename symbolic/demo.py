"""The README's main job on the embedded default: Bach chorales in; a model, MIDI and WAV out.

Each stage writes into OUT (data/, run/, samples/) and is skipped or resumed when already done,
so running the demo again is cheap and a killed demo picks up where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from symbolic.data.meta import DataMeta, load_meta
from symbolic.data.prepare import is_prepared, prepare
from symbolic.generation.generate import generate
from symbolic.generation.settings import Sampling
from symbolic.paths import output_folder
from symbolic.training import config as config_lib
from symbolic.training import trainer

DEMO_PRESET = "demo"


def prepare_once(manifest: Path, tokenizer: str, data_dir: Path) -> DataMeta:
    """Prepare the corpus unless DATA_DIR already holds it for this manifest and tokenizer."""
    if is_prepared(data_dir, manifest, tokenizer):
        print(f"reusing prepared data in {data_dir}")
        return load_meta(data_dir)
    return prepare(manifest, tokenizer, data_dir)


def run_demo(
    out: Path,
    *,
    model_name: str = "transformer",
    steps: int | None = None,
    num: int = 4,
    manifest: Path,
    tokenizer: str = "remi",
) -> dict:
    """Run prepare -> train -> generate -> render into OUT and return the report."""
    out = output_folder(out)
    # every value checked before minutes of preparing: --steps -1 or --num 0 fail at once
    config = config_lib.resolve(model_name, DEMO_PRESET, steps=steps)
    Sampling(num=num)
    started = time.time()
    timings = {}
    meta = prepare_once(manifest, tokenizer, out / "data")
    timings["prepare_s"] = time.time() - started

    summary = trainer.train(config, out / "data", out / "run")
    timings["train_s"] = time.time() - started - timings["prepare_s"]

    generated = generate(
        out / "run",
        out / "samples",
        num=num,
        max_tokens=1024,
        temperature=1.0,
        top_k=0,
        top_p=0.95,
        seed=0,
        render=True,
    )
    timings["generate_s"] = time.time() - started - timings["prepare_s"] - timings["train_s"]
    report = {
        "out": str(out),
        "model": model_name,
        "wall_s": time.time() - started,
        **timings,
        "best_valid_nll": summary["best_valid_nll"],
        "unigram_valid_nll": summary["unigram_valid_nll"],
        "train_tokens_per_s": summary["tokens_per_s"],
        "steps": summary["steps"],
        "data": {split: asdict(c) for split, c in meta.counts.items()},
        "skipped_files": len(meta.skipped),
        "samples": [str(p) for p in generated],
    }
    (out / "demo_report.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report)
    return report


def _print_report(report: dict) -> None:
    print()
    print(
        f"demo finished in {report['wall_s'] / 60:.1f} min "
        f"(prepare {report['prepare_s']:.0f} s, train {report['train_s']:.0f} s, "
        f"generate+render {report['generate_s']:.0f} s)"
    )
    if report["best_valid_nll"] is None:  # a manifest whose valid split is empty
        print("no validation data: the run was trained without evaluation")
    else:
        print(
            f"validation NLL {report['best_valid_nll']:.3f} nats/token "
            f"(unigram baseline {report['unigram_valid_nll']:.3f})"
        )
    print(f"generated {len(report['samples'])} files in {report['out']}/samples:")
    for path in report["samples"]:
        print(f"  {path}")
