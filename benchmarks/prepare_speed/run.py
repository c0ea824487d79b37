"""Time `symbolic.data.prepare.prepare` (conversion cache off) and a sequential loop over the
same works; write results.json/.md.

The baseline is what one would write without `symbolic`: for each file, music21 parses the score
and writes MIDI (`convert.load_score`, the same conversion prepare does), then MidiTok tokenizes
it, one file after the other in this process. Neither side reuses converted scores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
    write_results,
)
from benchmarks.train_throughput.ours import MANIFEST

OUT_DIR = Path(__file__).resolve().parent
QUICK_WORKS = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prepare_speed")
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_WORKS} works")
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    return parser.parse_args()


def subset_manifest(manifest: Path, num_works: int | None, tmp: Path) -> Path:
    """The manifest itself, or a copy holding only its first `num_works` works."""
    if num_works is None:
        return manifest
    data = json.loads(manifest.read_text())
    data["works"] = data["works"][:num_works]
    path = tmp / manifest.name
    path.write_text(json.dumps(data))
    return path


def time_prepare(manifest: Path, workers: int, out: Path) -> dict:
    """`symbolic prepare` as the CLI runs it, without the conversion cache."""
    from symbolic.data.prepare import prepare

    start = time.perf_counter()
    meta = prepare(manifest, "remi", out, workers=workers, progress=False, cache_dir=False)
    seconds = time.perf_counter() - start
    counts = meta.counts.values()
    files = sum(c.works for c in counts)
    return {"seconds": seconds, "files": files, "tokens": sum(c.tokens for c in counts)}


def time_single_process(manifest: Path) -> dict:
    """music21 -> MIDI -> MidiTok, file by file in this process; failures are skipped."""
    from symbolic import tokenization
    from symbolic.data import convert
    from symbolic.data.manifest import load_manifest, source_root

    loaded = load_manifest(manifest)
    root, tokenizer = source_root(loaded), tokenization.load_tokenizer("remi")
    tokens, files, start = 0, 0, time.perf_counter()
    for work in loaded.works:
        try:
            score = convert.load_score(root / work.path)
        except Exception:  # noqa: BLE001 - a bad file is skipped, as prepare does
            continue
        tokens += len(tokenizer.encode(tokenization.normalize_meters(score)).ids) + 2  # BOS/EOS
        files += 1
    return {"seconds": time.perf_counter() - start, "files": files, "tokens": tokens}


def render_markdown(results: dict, command: str) -> str:
    rows = [
        [
            name,
            results[f"{p}_files"],
            f"{results[f'{p}_seconds']:.1f}",
            results[f"{p}_files_per_s"],
            f"{results[f'{p}_tokens_per_s']:,.0f}",
        ]
        for name, p in (
            (f"symbolic prepare ({results['workers']} processes)", "prepare"),
            ("single-process music21 + MidiTok loop", "single"),
        )
    ]
    table = markdown_table(["pipeline", "files", "seconds", "files/s", "tokens/s"], rows)
    return f"""# prepare_speed

Command: `{command}` ({
        "quick: first " + str(QUICK_WORKS) + " works"
        if results["quick"]
        else "full: every work of data_manifests/bach_chorales.json"
    }; REMI; conversion cache off).
Device: {results["cpu_count"]} cores ({results["processor"]}); music21 {results["music21_version"]},
miditok {results["miditok_version"]}. {load_line(results)}

{table}

Speed-up of `symbolic prepare` over the single-process loop (files/s):
**{results["speedup_vs_single_process"]:.2f}x**. The loop converts each score with music21 (the same
`convert.load_score` prepare uses) and tokenizes it with MidiTok, one file after another; prepare
also checks every file's sha256 and writes the token arrays, and its time includes starting its
worker processes.
"""


def main() -> None:
    from importlib import metadata

    args = parse_args()
    workers = args.workers or os.cpu_count() or 1
    results = {**environment(), "quick": args.quick, "workers": workers}
    for package in ("music21", "miditok", "symusic"):
        results[f"{package}_version"] = metadata.version(package)
    results["load_before"] = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = subset_manifest(args.manifest, QUICK_WORKS if args.quick else None, Path(tmp))
        timings = {
            "single": time_single_process(manifest),
            "prepare": time_prepare(manifest, workers, Path(tmp) / "prepared"),
        }
    for name, t in timings.items():
        results.update({f"{name}_{k}": v for k, v in t.items()})
        results[f"{name}_files_per_s"] = t["files"] / t["seconds"]
        results[f"{name}_tokens_per_s"] = t["tokens"] / t["seconds"]
    results["speedup_vs_single_process"] = (
        results["prepare_files_per_s"] / results["single_files_per_s"]
    )
    results["load_after"] = load_average()
    command = command_line("benchmarks.prepare_speed")
    results["command"] = command
    markdown = render_markdown(results, command)
    write_results(args.out, results, markdown)
    print(markdown)
