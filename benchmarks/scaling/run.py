"""Step time of the demo Transformer over 1, 2, 4, 8 devices and over sequence lengths.

On CPU each device count runs in its own process with
`XLA_FLAGS=--xla_force_host_platform_device_count=N` (set before jax starts), splitting the same
global batch over N host devices that share the machine's cores; this measures the data-parallel
machinery's overhead, not extra compute. On GPU/TPU the first N real devices are used instead.
Last, `multiprocess.py`'s row: 2 and 4 `symbolic train` processes joined by `jax.distributed`
against one process with the same devices.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import (
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
    write_results,
)
from benchmarks.scaling import memory, multiprocess
from benchmarks.train_throughput.ours import default_dtype, ensure_data
from benchmarks.train_throughput.worker import spawn
from symbolic.training.host_devices import FORCE_FLAG

OUT_DIR = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    parser.add_argument("--quick", action="store_true", help="1, 2 devices; lengths 256, 512")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per point")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--data", type=Path, default=None, help="prepared REMI Bach data")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    return parser.parse_args()


def device_counts(backend: str, available: int, quick: bool) -> list[int]:
    """Powers of two up to 8 (forced host devices on CPU) or up to the real device count."""
    limit = 2 if quick else 8
    if backend != "cpu":
        limit = min(limit, available)
    return [n for n in (1, 2, 4, 8) if n <= limit]


def device_env(backend: str, n: int) -> dict[str, str]:
    """Environment for a worker with `n` devices: forced host devices on CPU, else nothing."""
    return {"XLA_FLAGS": f"{FORCE_FLAG}={n}"} if backend == "cpu" else {}


def measure(job: dict, backend: str, n: int, seq_len: int) -> dict:
    """One worker process: step time for `n` devices at `seq_len` (global batch unchanged)."""
    job = {**job, "num_devices": n, "overrides": [f"train.seq_len={seq_len}"]}
    result = spawn("ours", job, env=device_env(backend, n))
    print(f"devices {n} seq_len {seq_len}: {result['step_ms']:.0f} ms/step", flush=True)
    return result


def plot(path: Path, xs: list[int], step_ms: list[float], xlabel: str, title: str) -> None:
    """A small log-x line plot of step time, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(xs, step_ms, marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set(xlabel=xlabel, ylabel="train step time (ms)", title=title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_markdown(results: dict, counts: list[int], lengths: list[int], command: str) -> str:
    dev_rows = [
        [n, results[f"step_ms_devices_{n}"], f"{results[f'tokens_per_s_devices_{n}']:,.0f}"]
        for n in counts
    ]
    len_rows = [
        [n, results[f"step_ms_seq_{n}"], f"{results[f'tokens_per_s_seq_{n}']:,.0f}"]
        for n in lengths
    ]
    forced = "forced host devices (one process each)" if results["backend"] == "cpu" else "real"
    return f"""# scaling

Command: `{command}` ({"quick" if results["quick"] else "full"} variant; {results["steps"]} timed
steps after 2 warm-up steps per point, each point in its own process).
Device: {results["devices"]} ({results["cpu_count"]} cores); jax {results["jax_version"]},
activations {results["dtype"]}. {load_line(results)}

Demo Transformer (d_model 128, 3 layers, 4 heads, d_ff 512), global batch 16.

Against the number of devices ({forced}), sequence length 256 (`scaling_devices.png`):

{markdown_table(["devices", "step ms", "tokens/s"], dev_rows)}

On CPU the forced devices share the same {results["cpu_count"]} cores, so a flat line means the
split is free: a rise is the cost of splitting the batch and all-reducing gradients in-process, a
drop means one device's program did not keep every core busy.

Against the sequence length, 1 device (`scaling_seq_len.png`):

{markdown_table(["seq_len", "step ms", "tokens/s"], len_rows)}
"""


def main() -> None:
    import jax

    args = parse_args()
    args.steps = args.steps or (3 if args.quick else 5)
    dtype = default_dtype() if args.dtype == "auto" else args.dtype
    data, backend = ensure_data(args.data), jax.default_backend()
    job = {"model": "transformer", "data": str(data), "dtype": dtype, "steps": args.steps}
    counts = device_counts(backend, len(jax.devices()), args.quick)
    lengths = [256, 512] if args.quick else [256, 512, 1024, 2048]
    results = {**environment(), "quick": args.quick, "steps": args.steps, "dtype": dtype}
    results["load_before"] = load_average()
    points = {(n, 256): measure(job, backend, n, 256) for n in counts}
    for length in lengths:
        if (1, length) not in points:  # the 1-device, 256-token point is shared
            points[(1, length)] = measure(job, backend, 1, length)
    for (n, length), r in points.items():
        for key, suffix in (((n, 256), f"devices_{n}"), ((1, length), f"seq_{length}")):
            if (n, length) == key:
                results[f"step_ms_{suffix}"] = r["step_ms"]
                results[f"tokens_per_s_{suffix}"] = r["tokens_per_s"]
                results[f"compile_s_{suffix}"] = r["compile_s"]
    results["load_after"] = load_average()
    with tempfile.TemporaryDirectory() as work:  # 2 and 4 `symbolic train` processes
        results.update(multiprocess.measure(data, Path(work)))
    command = command_line("benchmarks.scaling")
    results["multiprocess_command"] = command
    results["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    plot(
        args.out / "scaling_devices.png",
        counts,
        [results[f"step_ms_devices_{n}"] for n in counts],
        "devices",
        "step time vs devices",
    )
    plot(
        args.out / "scaling_seq_len.png",
        lengths,
        [results[f"step_ms_seq_{n}"] for n in lengths],
        "sequence length",
        "step time vs length",
    )
    markdown = render_markdown(results, counts, lengths, command)
    markdown += "\n" + multiprocess.render_markdown(results)
    # `python -m benchmarks.scaling.memory` (tens of minutes) runs on its own: keep its figures
    memory_keys, memory_section = memory.kept(args.out)
    results.update(memory_keys)
    markdown += "\n" + memory_section
    write_results(args.out, results, markdown)
    print(markdown)
