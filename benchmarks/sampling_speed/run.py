"""Grid of (parallel sequences, length): cached vs uncached vs HF GPT-2; results.json/.md."""

from __future__ import annotations

import argparse
import dataclasses
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
from symbolic.training import config as config_lib

OUT_DIR = Path(__file__).resolve().parent
VOCAB = 565  # the REMI Bach vocabulary; weights are random, so no data is needed
UNCACHED_MAX_TOKENS = 8 * 2048  # larger padded batches take minutes per step on 2 cores
UNCACHED_STEPS = 8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling_speed")
    parser.add_argument("--quick", action="store_true", help="batches 1, 8; lengths 256, 1024")
    parser.add_argument("--peer-threads", type=int, default=0, help="torch threads (0: all)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
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
"""


def main() -> None:
    args = parse_args()
    dtype = default_dtype() if args.dtype == "auto" else args.dtype
    run_cfg = config_lib.resolve("transformer", "demo", [f"model.dtype={dtype}"])
    run_cfg = dataclasses.replace(
        run_cfg, model=dataclasses.replace(run_cfg.model, vocab_size=VOCAB)
    )
    params = measure.init_params(run_cfg.model)
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
