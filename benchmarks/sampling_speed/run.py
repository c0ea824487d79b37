"""Grid of (parallel sequences, length): cached vs uncached vs HF GPT-2; results.json/.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from benchmarks.common import (
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
    write_results,
)
from benchmarks.sampling_speed import measure
from benchmarks.train_throughput.ours import default_dtype
from benchmarks.train_throughput.peers import MISSING, torch_available
from symbolic import tokenization
from symbolic.training import config as config_lib

OUT_DIR = Path(__file__).resolve().parent
# The REMI preset's vocabulary; weights are random, so no data is needed.
VOCAB = len(tokenization.build_preset("remi").vocab)
UNCACHED_MAX_TOKENS = 8 * 2048  # larger padded batches take minutes per step on 2 cores
UNCACHED_STEPS = 8
# Pieces longer than the demo model's 2,048-token window: the KV cache becomes a ring of the last
# 2,048 positions, so every step costs the same and tokens/s should stay flat.
LONG_LENGTHS = (2048, 8192, 32768)
LONG_BATCHES = (1, 8)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling_speed")
    parser.add_argument("--quick", action="store_true", help="batches 1, 8; lengths 256, 1024")
    parser.add_argument("--peer-threads", type=int, default=0, help="torch threads (0: all)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--long",
        action="store_true",
        help="only the lengths past the window (2k, 8k, 32k tokens), merged into results.json",
    )
    return parser.parse_args()


def grid(quick: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(batches, lengths) to measure."""
    return ((1, 8), (256, 1024)) if quick else ((1, 8, 64), (256, 1024, 2048))


def measure_point(run_cfg, params, batch: int, length: int, peer: bool, threads: int) -> dict:
    """Flat results for one (batch, length), keys suffixed `_b{batch}_{length}`."""
    out = {"cached": measure.time_cached(run_cfg, params, batch, length)["tokens_per_s"]}
    if batch * length <= UNCACHED_MAX_TOKENS:
        timing = measure.time_uncached(run_cfg.model, params, batch, length, UNCACHED_STEPS)
        out["uncached"] = timing["tokens_per_s"]
        out["cached_speedup"] = out["cached"] / out["uncached"]
    if peer:
        out["peer"] = measure.time_peer(run_cfg.model, batch, length, threads)["tokens_per_s"]
        out["speedup_vs_peer"] = out["cached"] / out["peer"]
    print(f"batch {batch} length {length}: {out}", flush=True)
    return {f"{k}_b{batch}_{length}": v for k, v in out.items()}


def headline(results: dict, batches: tuple[int, ...]) -> dict:
    """The issue's keys: cached/uncached and ours/peer at 1024 tokens, 8 parallel sequences
    (1 where 8 was not measured)."""
    b = 8 if 8 in batches else batches[0]
    return {
        "cached_speedup_1024": results.get(f"cached_speedup_b{b}_1024"),
        "speedup_vs_peer": results.get(f"speedup_vs_peer_b{b}_1024"),
        "headline_batch": b,
    }


def measure_long(run_cfg, params) -> dict:
    """Cached tokens/s at `LONG_LENGTHS`, keys `long_cached_b{batch}_{length}`, plus each
    batch's slowest over fastest rate (1.0: flat)."""
    out = {"window": run_cfg.model.max_len}
    for batch in LONG_BATCHES:
        rates = []
        for length in LONG_LENGTHS:
            rate = measure.time_cached(run_cfg, params, batch, length)["tokens_per_s"]
            print(f"batch {batch} length {length}: {rate:,.0f} tokens/s", flush=True)
            out[f"long_cached_b{batch}_{length}"] = rate
            rates.append(rate)
        out[f"long_flatness_b{batch}"] = min(rates) / max(rates)
    return out


def long_section(results: dict) -> str:
    """The results.md section for `measure_long`'s keys ("" before it has run)."""
    if "window" not in results:
        return ""
    rows = [
        [batch, length, f"{results[f'long_cached_b{batch}_{length}']:,.0f}"]
        for batch in LONG_BATCHES
        for length in LONG_LENGTHS
    ]
    flat = ", ".join(f"{results[f'long_flatness_b{b}']:.2f} (batch {b})" for b in LONG_BATCHES)
    return f"""
## Pieces longer than the window

`{results["long_command"]}`. The same model, whose window (`max_len`) is {results["window"]}
tokens: past it the KV cache is a ring of the last {results["window"]} positions (RoPE keys are
rotated once, when written), so each step costs the same however long the piece. Slowest over
fastest rate: {flat}. {results["long_load"]} This section is measured apart from the grid above
(`--long` merges into it), possibly on another day: compare rates within one table.

{markdown_table(["sequences", "tokens", "cached tok/s"], rows)}
"""


def render_markdown(results: dict, batches, lengths, command: str) -> str:
    rows = []
    for length in lengths:
        for batch in batches:
            key = f"b{batch}_{length}"
            rows.append(
                [
                    batch,
                    length,
                    f"{results[f'cached_{key}']:,.0f}",
                    f"{results.get(f'uncached_{key}') or float('nan'):,.0f}",
                    results.get(f"cached_speedup_{key}", "-"),
                    f"{results.get(f'peer_{key}') or float('nan'):,.0f}",
                    results.get(f"speedup_vs_peer_{key}", "-"),
                ]
            )
    table = markdown_table(
        [
            "sequences",
            "tokens",
            "cached tok/s",
            "uncached tok/s",
            "cached/uncached",
            "HF GPT-2 tok/s",
            "ours/HF",
        ],
        rows,
    )
    return f"""# sampling_speed

Command: `{command}` ({"quick" if results["quick"] else "full"} variant).
Device: {results["devices"]} ({results["cpu_count"]} cores); jax {results["jax_version"]},
flax {results["flax_version"]}, torch {results.get("torch_version")} ({results.get("peer_threads")}
threads),
activations {results["dtype"]}. {load_line(results)}

Demo Transformer size (d_model 128, 3 layers, 4 heads, d_ff 512, vocab {VOCAB}), random weights,
one-token prompt, `tokens - 1` new tokens, temperature 1, EOS disabled.
Cached: `symbolic.generation.sampling.sample` with the KV cache sized to the output
(`symbolic.generation.engine.decode_config`), compile excluded. Uncached: a jitted loop running
the full forward on the padded [sequences, tokens] array each step, timed over {UNCACHED_STEPS}
steps (every step costs the same); skipped above {UNCACHED_MAX_TOKENS} padded tokens. HF:
`GPT2LMHeadModel.generate(do_sample=True, use_cache=True)` in PyTorch, same sizes.

{table}

Headline (sequences {results["headline_batch"]}, 1024 tokens): cached/uncached
{results["cached_speedup_1024"]}, ours/HF {results["speedup_vs_peer"]}.
{long_section(results)}"""


def main() -> None:
    args = parse_args()
    dtype = default_dtype() if args.dtype == "auto" else args.dtype
    run_cfg = config_lib.resolve("transformer", "demo", [f"model.dtype={dtype}"])
    run_cfg = dataclasses.replace(
        run_cfg, model=dataclasses.replace(run_cfg.model, vocab_size=VOCAB)
    )
    params = measure.init_params(run_cfg.model)
    if args.long:
        return merge_long(args.out, run_cfg, params)
    peer = torch_available()
    if not peer:
        print(MISSING, flush=True)
    batches, lengths = grid(args.quick)
    results = {**environment(), "quick": args.quick, "dtype": dtype}
    results["load_before"] = load_average()
    if peer:
        import torch

        results["torch_version"] = torch.__version__
        results["peer_threads"] = args.peer_threads or os.cpu_count()
    for length in lengths:
        for batch in batches:
            point_peer = peer and (not args.quick or length == 1024)
            results.update(
                measure_point(run_cfg, params, batch, length, point_peer, args.peer_threads)
            )
    results.update(headline(results, batches))
    results["load_after"] = load_average()
    command = command_line("benchmarks.sampling_speed")
    results["command"] = command
    markdown = render_markdown(results, batches, lengths, command)
    write_results(args.out, results, markdown)
    print(markdown)


def merge_long(out_dir: Path, run_cfg, params) -> None:
    """Measure `measure_long` and merge it into OUT_DIR/results.json (the grid is kept)."""
    results = json.loads((out_dir / "results.json").read_text())
    before = load_average()
    results.update(measure_long(run_cfg, params))
    results["long_command"] = command_line("benchmarks.sampling_speed")
    results["long_load"] = load_line({"load_before": before, "load_after": load_average()})
    batches, lengths = grid(results["quick"])
    markdown = render_markdown(results, batches, lengths, results["command"])
    write_results(out_dir, results, markdown)
    print(markdown)
