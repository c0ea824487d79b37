"""One measurement in its own process, so that its peak resident memory is its own.

`python -m benchmarks.train_throughput.worker KIND JSON_ARGS` prints one JSON line, where KIND is
peak | ours | torch and JSON_ARGS holds the keyword arguments (see `main`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import REPO_ROOT, peak_rss_mb


def run(kind: str, args: dict) -> dict:
    if kind == "peak":
        from benchmarks.train_throughput.flops import peak_gflops, shaped_matmul_gflops

        return {
            **peak_gflops(args.get("n", 2048)),
            "largest_matmul_gflops": shaped_matmul_gflops(*args["largest_matmul"]),
        }
    from symbolic.training import host_devices

    if kind == "ours":
        # the trainer's default, before JAX starts: one forced host device per core on CPU
        # (SYMBOLIC_HOST_DEVICES=1 in the benchmark's environment measures one device)
        host_devices.configure()
    from benchmarks.train_throughput.ours import bench_config, time_training

    data_dir = Path(args["data"])
    overrides, preset = args.get("overrides", []), args.get("preset", "demo")
    cfg = bench_config(args["model"], data_dir, args["dtype"], overrides, preset)
    warmup = args.get("warmup", 2)
    if kind == "ours":
        devices = None
        if args.get("num_devices"):
            import jax

            devices = jax.devices()[: args["num_devices"]]
        return time_training(cfg, data_dir, args["steps"], warmup=warmup, devices=devices)
    from benchmarks.train_throughput.ours import model_shape
    from benchmarks.train_throughput.peers import time_torch_training
    from symbolic.data.batches import load_split

    split = load_split(data_dir, "train")
    shape, threads = model_shape(cfg), args.get("peer_threads", 0)
    peer = args.get("peer", args["model"])  # see peers.PEER_MODELS
    return time_torch_training(peer, shape, split, args["steps"], warmup=warmup, threads=threads)


def spawn(kind: str, args: dict, env: dict[str, str] | None = None, timeout: float = 900) -> dict:
    """Run one measurement in a fresh interpreter (extra `env` set before jax starts)."""
    cmd = [sys.executable, "-m", "benchmarks.train_throughput.worker", kind, json.dumps(args)]
    proc = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix="inductor_") as cache:
        # a cold torch.compile cache, so the compiled peer's compile time is a first run's
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", cache)
        result = run(kind, args)
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
