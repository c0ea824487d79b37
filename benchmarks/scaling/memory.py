"""Memory and length: the longest `seq_len` the demo-width Transformer trains at batch 1 within a
memory budget, with and without `train.remat`, against HF GPT-2 of the same size; and the peak
resident memory of `symbolic train` at the demo settings and of `symbolic generate`.

Every probe is a child process that the parent watches, so that running out of memory ends the
probe, never the session: it is killed when its resident memory passes the budget (out of
memory), when it runs past the time cap (too slow, which says nothing about memory), or when the
machine's free memory runs low because of other jobs (inconclusive); RLIMIT_AS at the budget
plus `AS_SLACK` backs the watch up against an allocation too fast to see. Lengths double from
1,024 until one fails, then one bisection step between the last that fit and the first that did
not. Each training probe runs `PROBE_STEPS` steps after compiling; ours also prints XLA's own
buffer sizes for the step (argument, output and temporary bytes) before it runs, so a length
killed for memory still says where its memory would go.

`python -m benchmarks.scaling.memory [--data DIR] [--budget-gib 20] [--max-len 65536]` merges
its keys (`max_seq_len_remat`, `max_seq_len_no_remat`, `max_seq_len_peer`, `peak_rss_*`) and its
section into benchmarks/scaling/results.json and results.md, keeping the other figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    load_average,
    load_line,
    markdown_table,
    merge_section,
    peak_rss_mb,
    proc_memory_kib,
)

OUT_DIR = Path(__file__).resolve().parent
SECTION = "## Memory and length"  # results.md's heading for these figures, replaced on a rerun
GIB = 1024**3
PROBE_STEPS = 1  # the first step after compiling allocates all a step needs
RUNTIME_GIB = 1.0  # resident memory besides XLA's buffers (jax, numpy, the data), measured
FIRST_LENGTH = 1024
AS_SLACK = 4 * GIB  # JAX maps ~1.5 GiB of address space it never touches
PLANNED_OUT_OF_MEMORY = 3  # a child's exit status: XLA's buffers alone pass the budget
MIN_FREE = 1 * GIB  # the machine's MemAvailable below which a probe is stopped (others' jobs)
POLL_S = 0.1
CONFIGS = ("remat", "no_remat", "peer")  # result key suffixes of the length probes
PLAN_LENGTHS = (4096, 8192)
# XLA:CPU's default scheduler orders the step for concurrency; off, it orders it for memory
MEMORY_SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
KS = ("default", "memory")  # the plan table's scheduler columns
SAMPLE_TOKENS = 2048  # the demo model's whole window


@dataclass
class Probe:
    """One child process's end: `outcome` ok | out_of_memory | too_slow | low_free_memory |
    failed; its own peak RSS (`child_peak_bytes`); the RESULT/INFO lines it printed."""

    outcome: str
    peak_rss_gib: float
    wall_s: float
    result: dict
    info: dict
    error: str = ""


def mem_available() -> int:
    """The machine's MemAvailable in bytes (/proc/meminfo)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("/proc/meminfo: no MemAvailable line")


def child_peak_bytes(ru_maxrss_kib: int, inherited_bytes: int, polled_hwm_bytes: int) -> int:
    """A child's own peak RSS. Its rusage ru_maxrss starts at the parent's high-water mark
    (it survives fork and exec), so it is the child's own figure only where it rose above
    that; otherwise the child's VmHWM, the highest read while it ran, is (it misses growth
    only in the last poll before the child exits, which a figure below the parent's peak
    can afford)."""
    from_rusage = ru_maxrss_kib * 1024  # KiB on Linux
    return from_rusage if from_rusage > inherited_bytes else polled_hwm_bytes


def watch(command: list[str], budget: int, time_cap_s: float, env: dict | None = None) -> Probe:
    """Run `command` with RLIMIT_AS at `budget + AS_SLACK`, killed past `budget` resident bytes,
    `time_cap_s` seconds or the machine's `MIN_FREE`; lines `RESULT {json}` / `INFO {json}` on
    its stdout are collected."""

    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (budget + AS_SLACK, budget + AS_SLACK))

    started = time.monotonic()
    inherited = int(peak_rss_mb() * 1024 * 1024)  # the child's ru_maxrss starts here
    hwm = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=err,
            text=True,
            preexec_fn=limit_address_space,
        )
        outcome, waited = None, (0, 0, None)
        while not waited[0]:  # wait4, not poll: it reaps the child with its rusage
            waited = os.wait4(proc.pid, os.WNOHANG)
            if waited[0]:
                break
            memory = proc_memory_kib(proc.pid)
            hwm = max(hwm, memory.get("VmHWM", 0) * 1024)
            if memory.get("VmRSS", 0) * 1024 > budget:
                outcome = "out_of_memory"
            elif time.monotonic() - started > time_cap_s:
                outcome = "too_slow"
            elif mem_available() < MIN_FREE:
                outcome = "low_free_memory"
            if outcome:
                proc.kill()
                waited = os.wait4(proc.pid, 0)
                break
            time.sleep(POLL_S)
        _, status, usage = waited
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    result, info = _tagged(stdout, "RESULT "), _tagged(stdout, "INFO ")
    if outcome is None and proc.returncode == PLANNED_OUT_OF_MEMORY:
        outcome = "out_of_memory_planned"
    if outcome is None and proc.returncode != 0:
        exhausted = ("RESOURCE_EXHAUSTED", "MemoryError", "std::bad_alloc", "Cannot allocate")
        outcome = "out_of_memory" if any(s in stderr for s in exhausted) else "failed"
    peak = child_peak_bytes(usage.ru_maxrss, inherited, hwm) / GIB
    error = stderr.strip().splitlines()[-1] if outcome == "failed" and stderr.strip() else ""
    return Probe(outcome or "ok", peak, time.monotonic() - started, result, info, error)


def _tagged(stdout: str, tag: str) -> dict:
    merged: dict = {}
    for line in stdout.splitlines():
        if line.startswith(tag):
            merged.update(json.loads(line[len(tag) :]))
    return merged


# --- the children -------------------------------------------------------------------------


def child_ours(data: Path, seq_len: int, remat: bool, budget_gib: float) -> None:
    """Our train step at batch 1 on one device: XLA's buffer sizes, then PROBE_STEPS steps,
    unless those buffers alone pass the budget (exit 3: out of memory by XLA's own plan, known
    without filling the machine's memory for minutes first)."""
    import jax

    from benchmarks.train_throughput.ours import bench_config
    from symbolic.data.batches import load_split, train_batch
    from symbolic.training import parallel
    from symbolic.training.trainer import compile_steps

    overrides = [f"train.seq_len={seq_len}", "train.batch_size=1", f"model.max_len={seq_len}"]
    cfg = bench_config(
        "transformer", data, "float32", [*overrides, f"train.remat={str(remat).lower()}"]
    )
    compiled = compile_steps(cfg, jax.devices()[:1])
    split = load_split(data, "train")

    def batch(step: int):
        host = train_batch(split, 1, seq_len, cfg.train.seed, step)
        return parallel.shard_batch(host, compiled.mesh)

    state = compiled.init()
    start = time.perf_counter()
    train = compiled.train.lower(state, batch(0)).compile()
    memory = train.memory_analysis()
    _say(
        "INFO",
        compile_s=time.perf_counter() - start,
        xla_temp_gib=memory.temp_size_in_bytes / GIB,
        xla_argument_gib=memory.argument_size_in_bytes / GIB,
        xla_output_gib=memory.output_size_in_bytes / GIB,
    )
    planned = memory.temp_size_in_bytes + memory.argument_size_in_bytes
    if planned / GIB + RUNTIME_GIB > budget_gib:
        sys.exit(PLANNED_OUT_OF_MEMORY)
    step_s = []
    for step in range(PROBE_STEPS):
        start = time.perf_counter()
        state, metrics = train(state, batch(step))
        jax.block_until_ready((state, metrics))
        step_s.append(time.perf_counter() - start)
        _say("INFO", **{f"step_{step}_s": step_s[-1]})
    _say("RESULT", step_s=step_s, loss=float(metrics["loss"]))


def child_plan(data: Path) -> None:
    """XLA's temporary buffers for our step at PLAN_LENGTHS, without and with remat, compiled
    only (the scheduler is this process's XLA_FLAGS)."""
    import jax

    from benchmarks.train_throughput.ours import bench_config
    from symbolic.data.batches import load_split, train_batch
    from symbolic.training import parallel
    from symbolic.training.trainer import compile_steps

    split = load_split(data, "train")
    for seq_len in PLAN_LENGTHS:
        for remat in ("false", "true"):
            overrides = [f"train.seq_len={seq_len}", "train.batch_size=1"]
            overrides += [f"model.max_len={seq_len}", f"train.remat={remat}"]
            cfg = bench_config("transformer", data, "float32", overrides)
            compiled = compile_steps(cfg, jax.devices()[:1])
            batch = parallel.shard_batch(train_batch(split, 1, seq_len, 0, 0), compiled.mesh)
            lowered = compiled.train.lower(jax.eval_shape(compiled.init), batch)
            temp = lowered.compile().memory_analysis().temp_size_in_bytes / GIB
            _say("INFO", **{f"xla_temp_gib_{seq_len}_remat_{remat}": temp})


def child_peer(data: Path, seq_len: int) -> None:
    """HF GPT-2 of the demo width (`peers.gpt2_model`) trained PROBE_STEPS steps at batch 1."""
    from benchmarks.train_throughput.ours import bench_config, model_shape
    from benchmarks.train_throughput.peers import time_torch_training
    from symbolic.data.batches import load_split

    overrides = [f"train.seq_len={seq_len}", "train.batch_size=1", f"model.max_len={seq_len}"]
    shape = model_shape(bench_config("transformer", data, "float32", overrides))
    timing = time_torch_training(
        "transformer", shape, load_split(data, "train"), steps=1, warmup=PROBE_STEPS - 1
    )
    _say("RESULT", step_s=[timing["step_ms"] / 1000.0], loss=timing["final_loss"])


def _say(tag: str, **values) -> None:
    print(f"{tag} {json.dumps(values)}", flush=True)


# --- the parent ---------------------------------------------------------------------------


def probe_length(kind: str, data: Path, seq_len: int, args) -> Probe:
    command = [sys.executable, "-m", "benchmarks.scaling.memory", "--child", kind]
    command += [
        "--data",
        str(data),
        "--seq-len",
        str(seq_len),
        "--budget-gib",
        str(args.budget_gib),
    ]
    probe = watch(command, int(args.budget_gib * GIB), args.time_cap_s)
    print(
        f"{kind} seq_len {seq_len}: {probe.outcome}, peak RSS {probe.peak_rss_gib:.2f} GiB, "
        f"{probe.wall_s:.0f} s {probe.info} {probe.error}",
        flush=True,
    )
    return probe


def longest_length(kind: str, data: Path, args) -> tuple[int | None, dict[int, Probe]]:
    """Double from FIRST_LENGTH while the probe fits, then bisect once; -> the longest length
    that trained (None if none) and every probe by length."""
    probes: dict[int, Probe] = {}
    length, fits = FIRST_LENGTH, None
    while length <= args.max_len:
        probes[length] = probe_length(kind, data, length, args)
        if probes[length].outcome != "ok":
            break
        fits, length = length, 2 * length
    failed = length if probes.get(length) and probes[length].outcome.startswith("out_of") else None
    if fits is not None and failed is not None:
        middle = (fits + failed) // 2 // 256 * 256
        probes[middle] = probe_length(kind, data, middle, args)
        if probes[middle].outcome == "ok":
            fits = middle
    return fits, probes


def cli_peaks(data: Path, args) -> dict:
    """Peak RSS of `symbolic train` at the demo preset (its default host devices) and of
    `symbolic generate` from that run: one piece of the model's whole window, then 8 at once."""
    budget, cli = int(args.budget_gib * GIB), [sys.executable, "-m", "symbolic.cli"]
    out: dict = {}
    with tempfile.TemporaryDirectory() as work:
        run_dir = Path(work) / "run"
        train = [*cli, "train", "--model", "transformer", "--preset", "demo", "--data", str(data)]
        train += ["--workdir", str(run_dir), "--steps", "20", "--no-progress"]
        probe = watch(train, budget, args.time_cap_s)
        out["peak_rss_train_demo_gib"] = probe.peak_rss_gib
        out["peak_rss_train_demo_outcome"] = probe.outcome
        summary = run_dir / "summary.json"
        if summary.is_file():
            out["peak_rss_train_demo_devices"] = json.loads(summary.read_text())["device_count"]
        for num in (1, 8):
            generate = [*cli, "generate", str(run_dir), "--out", str(Path(work) / f"s{num}")]
            generate += ["--num", str(num), "--max-tokens", str(SAMPLE_TOKENS), "--seed", "0"]
            probe = watch(generate, budget, args.time_cap_s)
            out[f"peak_rss_sample_num{num}_gib"] = probe.peak_rss_gib
            out[f"peak_rss_sample_num{num}_outcome"] = probe.outcome
            out[f"sample_num{num}_wall_s"] = probe.wall_s
        print(json.dumps(out), flush=True)
    return out


def plans(data: Path, args) -> dict:
    """`child_plan` under XLA:CPU's default scheduler and under MEMORY_SCHEDULER."""
    out: dict = {}
    for name, flags in (("default", ""), ("memory", MEMORY_SCHEDULER)):
        command = [sys.executable, "-m", "benchmarks.scaling.memory", "--child", "plan"]
        command += ["--data", str(data)]
        env = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()}
        probe = watch(command, int(args.budget_gib * GIB), args.time_cap_s, env)
        out.update({f"memory_plan_{k}_{name}": v for k, v in probe.info.items()})
        print(f"plan {name}: {probe.outcome} {probe.info} {probe.error}", flush=True)
    return out


def measure(data: Path, args) -> dict:
    results: dict = {"memory_budget_gib": args.budget_gib, "memory_time_cap_s": args.time_cap_s}
    results["memory_max_len"] = args.max_len
    results["memory_load_before"] = load_average()
    for config in CONFIGS:
        if config == "peer":
            if not args.no_plan:
                results.update(plans(data, args))
            if not args.no_cli:
                results.update(cli_peaks(data, args))
            if args.no_peer:
                continue
        kind = {"no_remat": "ours", "remat": "ours_remat", "peer": "peer"}[config]
        fits, probes = longest_length(kind, data, args)
        results[f"max_seq_len_{config}"] = fits
        for length, probe in sorted(probes.items()):
            key = f"{config}_{length}"
            results[f"memory_outcome_{key}"] = probe.outcome
            results[f"memory_peak_rss_gib_{key}"] = probe.peak_rss_gib
            step_s = probe.result.get("step_s") or [
                probe.info[k] for k in sorted(probe.info) if k.startswith("step_")
            ]
            results[f"memory_step_s_{key}"] = step_s[-1] if step_s else None
            if "xla_temp_gib" in probe.info:
                results[f"memory_xla_temp_gib_{key}"] = probe.info["xla_temp_gib"]
    results["memory_load_after"] = load_average()
    results["memory_command"] = command_line("benchmarks.scaling.memory")
    return results


def scores_gib(seq_len: int, heads: int = 4) -> float:
    """One float32 [1, H, T, T] attention-score tensor, in GiB."""
    return 4 * heads * seq_len * seq_len / GIB


def _longest(r: dict, config: str) -> str:
    """`max_seq_len_<config>` for the text: 'at least' when the probe stopped at its cap."""
    value = r.get(f"max_seq_len_{config}")
    if value is None:
        return "none"
    capped = value >= r.get("memory_max_len", value + 1)
    return f"at least {value:,} (the longest tried)" if capped else f"{value:,}"


def render_markdown(r: dict) -> str:
    lengths = sorted(
        {int(k.rsplit("_", 1)[1]) for k in r if k.startswith("memory_outcome_")},
    )
    rows = []
    for length in lengths:
        row: list[object] = [f"{length:,}", f"{scores_gib(length):.2f}"]
        for config in CONFIGS:
            outcome = r.get(f"memory_outcome_{config}_{length}")
            if outcome is None:
                row.append("")
                continue
            cell = f"{outcome}, {r[f'memory_peak_rss_gib_{config}_{length}']:.2f} GiB"
            step = r.get(f"memory_step_s_{config}_{length}")
            cell += f", {step:.1f} s/step" if step is not None else ""
            temp = r.get(f"memory_xla_temp_gib_{config}_{length}")
            cell += f", XLA temp {temp:.2f} GiB" if temp is not None else ""
            row.append(cell)
        rows.append(row)
    best = {c: _longest(r, c) for c in CONFIGS}
    names = {"remat": "ours, train.remat", "no_remat": "ours", "peer": "HF GPT-2"}
    table = markdown_table(
        ["seq_len", "one [1,4,T,T] f32 score tensor GiB", *(names[c] for c in CONFIGS)], rows
    )
    load = load_line({"load_before": r["memory_load_before"], "load_after": r["memory_load_after"]})
    cli = ""
    if "peak_rss_train_demo_gib" in r:
        cli = f"""
Peak RSS of the commands (kernel rusage of the process): `symbolic train --preset demo --steps
20` (batch 16, seq_len 256, {r.get("peak_rss_train_demo_devices")} device(s)):
{r["peak_rss_train_demo_gib"]:.2f} GiB; `symbolic generate` from that run, {SAMPLE_TOKENS:,}
tokens per piece: {r["peak_rss_sample_num1_gib"]:.2f} GiB for 1 piece
({r["sample_num1_wall_s"]:.0f} s), {r["peak_rss_sample_num8_gib"]:.2f} GiB for 8
({r["sample_num8_wall_s"]:.0f} s).
"""
    plan_rows = [
        [f"{n:,}", remat, *(r.get(f"memory_plan_xla_temp_gib_{n}_remat_{remat}_{k}") for k in KS)]
        for n in PLAN_LENGTHS
        for remat in ("false", "true")
    ]
    plan = ""
    if any(v is not None for row in plan_rows for v in row[2:]):
        plan = f"""
XLA's temporary buffers (GiB) for the step, compiled only, under XLA:CPU's default scheduler
(ordered for concurrency) and with `XLA_FLAGS={MEMORY_SCHEDULER}` (ordered for memory):

{markdown_table(["seq_len", "train.remat", "default scheduler", "memory scheduler"], plan_rows)}
"""
    return f"""{SECTION}

Command: `{r["memory_command"]}`. The demo width (d_model 128, 3 layers, 4 heads, d_ff 512,
dropout 0.1) at batch 1, `model.max_len` = `seq_len` (full causal attention), float32, one
device; HF GPT-2 of the same sizes (`peers.gpt2_model`, torch's default attention). Each length
is a child process of {PROBE_STEPS} step(s) after compiling, killed past {r["memory_budget_gib"]:g}
GiB resident (`out_of_memory`; a budget under the machine's 24 GiB, which other jobs share) or
past {r["memory_time_cap_s"]:g} s (`too_slow`: not out of memory, only slow on these cores).
Lengths double from {FIRST_LENGTH:,}, then one bisection step. {load}

Longest `seq_len` that trains: {best["no_remat"]} without remat (`max_seq_len_no_remat`),
{best["remat"]} with `train.remat=true` (`max_seq_len_remat`), {best["peer"]} for HF GPT-2
(`max_seq_len_peer`).

{table}

Cells: outcome, peak RSS, the last step's seconds, and XLA's temporary buffers for the step
(its own buffer assignment, printed before the step runs). The score column is what one
materialised [B, H, T, T] float32 tensor takes. `out_of_memory_planned`: XLA's buffers for the
step plus {RUNTIME_GIB:g} GiB of runtime already pass the budget, so the step was not run.
{plan}{cli}"""


def _is_memory_key(key: str) -> bool:
    return key.startswith(("memory_", "max_seq_len_", "peak_rss_", "sample_num"))


def kept(out_dir: Path) -> tuple[dict, str]:
    """This benchmark's keys and section from OUT_DIR's results, for a rerun of the rest of
    `benchmarks.scaling` to carry over."""
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    results = json.loads(json_path.read_text()) if json_path.is_file() else {}
    markdown = md_path.read_text() if md_path.is_file() else ""
    _, found, after = markdown.partition(SECTION)
    section = (SECTION + after.split("\n## ", 1)[0]) if found else ""
    return {k: v for k, v in results.items() if _is_memory_key(k)}, section


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling.memory")
    parser.add_argument("--data", type=Path, default=None, help="prepared REMI Bach data")
    parser.add_argument("--budget-gib", type=float, default=20.0, help="resident memory cap")
    parser.add_argument("--time-cap-s", type=float, default=600.0, help="per probe, compile too")
    parser.add_argument("--max-len", type=int, default=65536, help="longest length to try")
    parser.add_argument("--no-peer", action="store_true", help="skip HF GPT-2")
    parser.add_argument("--no-cli", action="store_true", help="skip the train/generate peaks")
    parser.add_argument("--no-plan", action="store_true", help="skip XLA's scheduler table")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--child", choices=["ours", "ours_remat", "peer", "plan"], help=argparse.SUPPRESS
    )
    parser.add_argument("--seq-len", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    from benchmarks.train_throughput.ours import ensure_data

    args = parse_args()
    data = ensure_data(args.data)
    if args.child == "peer":
        return child_peer(data, args.seq_len)
    if args.child == "plan":
        return child_plan(data)
    if args.child:
        return child_ours(data, args.seq_len, args.child == "ours_remat", args.budget_gib)
    results = measure(data, args)
    section = render_markdown(results)
    merge_section(args.out, results, SECTION, section, stale=_is_memory_key)
    print(section)


if __name__ == "__main__":
    main()
