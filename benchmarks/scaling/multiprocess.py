"""Multi-process training on one machine, through JAX's own runtime: N `symbolic train`
processes joined by `jax.distributed` (JAX_COORDINATOR_ADDRESS, SYMBOLIC_NUM_PROCESSES,
SYMBOLIC_PROCESS_ID), all-reducing through JAX's gloo CPU collectives, each owning its own
host devices, train the tiny Transformer on one global batch. Their losses are compared with
one process that holds every device, and so is a run stopped at half its steps and continued
under the same processes (Orbax saving and restoring from every process).

`python -m benchmarks.scaling.multiprocess [--data DIR]` merges its row into
benchmarks/scaling/results.json and results.md; `python -m benchmarks.scaling` runs it too, and
tests/test_multihost.py launches through the same helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    command_line,
    load_average,
    load_line,
    markdown_table,
    merge_section,
)

OUT_DIR = Path(__file__).resolve().parent
SECTION = "## Multi-process training"  # results.md's heading for this row, replaced on a rerun
TOLERANCE = 1e-5  # the largest train-loss difference (nats) that counts as the same run
STEPS = 10
# A constant rate after the warm-up (the cosine decays from the rate to the rate), so that a
# run stopped at half its steps and continued with --steps STEPS is the uninterrupted run.
SETTINGS = ("train.log_every=1", "train.min_lr_ratio=1.0")
DISTRIBUTED_ENV = (
    "JAX_COORDINATOR_ADDRESS",
    "SYMBOLIC_DISTRIBUTED",
    "SYMBOLIC_NUM_PROCESSES",
    "SYMBOLIC_PROCESS_ID",
)


@dataclasses.dataclass(frozen=True)
class Layout:
    """`processes` processes on this machine, each owning `devices` host devices."""

    processes: int
    devices: int

    @property
    def name(self) -> str:
        return f"{self.processes}x{self.devices}"


REFERENCE = Layout(1, 4)  # one process holding all four devices
LAYOUTS = (Layout(2, 2), Layout(4, 1))  # the same four devices, split over processes


@dataclasses.dataclass(frozen=True)
class Run:
    """What one launch left in its run directory."""

    losses: dict[int, float]  # train loss of each step (the last logged, after a resume)
    valid_nll: float | None  # the last validation NLL
    summary: dict  # summary.json, written by process 0
    events: list[str]  # "start"/"resume" records of metrics.jsonl, in order
    tokens_per_step: int  # global batch x sequence length
    wall_s: float  # from the launch to the last process's exit

    @property
    def step_ms(self) -> float:
        """Median train step time of the last session, from its tokens/s."""
        return 1000 * self.tokens_per_step / self.summary["tokens_per_s"]


def free_port() -> int:
    """A TCP port free on this machine now (the coordinator binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def train_command(data: Path, run_dir: Path, steps: int) -> list[str]:
    """`symbolic train` of the tiny Transformer, as a user types it."""
    sets = [arg for setting in SETTINGS for arg in ("--set", setting)]
    return [
        *(sys.executable, "-m", "symbolic.cli", "train", "--model", "transformer"),
        *("--preset", "tiny", "--data", str(data), "--workdir", str(run_dir)),
        *("--steps", str(steps), *sets, "--no-progress"),
    ]


def process_env(layout: Layout, process_id: int, port: int) -> dict[str, str]:
    """The environment of process `process_id`: its own `layout.devices` CPU devices (JAX's
    jax_num_cpu_devices; the force flag is dropped from XLA_FLAGS so that it cannot disagree),
    and, with more than one process, the variables that `symbolic train` joins a job by."""
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
    flags = env.get("XLA_FLAGS", "").split()
    env["XLA_FLAGS"] = " ".join(f for f in flags if "xla_force_host_platform_device_count" not in f)
    env.update(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(layout.devices))
    if layout.processes > 1:
        env.update(
            JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
            SYMBOLIC_NUM_PROCESSES=str(layout.processes),
            SYMBOLIC_PROCESS_ID=str(process_id),
            JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",  # JAX's default on CPU, named here
        )
    return env


def launch(layout: Layout, data: Path, run_dir: Path, steps: int, timeout_s: float = 900) -> Run:
    """Train (or continue) RUN_DIR to `steps` with `layout`'s processes; each one's output goes
    to RUN_DIR.process<i>.log beside it.

    Raises:
        RuntimeError: a process failed or the launch ran past `timeout_s` (the others are then
            stopped; the message holds the end of the failing one's log).
    """
    port, started = free_port(), time.time()
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    logs = [run_dir.parent / f"{run_dir.name}.process{i}.log" for i in range(layout.processes)]
    with contextlib.ExitStack() as stack:
        procs = []
        for i, log in enumerate(logs):
            out = stack.enter_context(log.open("w"))
            command, env = train_command(data, run_dir, steps), process_env(layout, i, port)
            procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
        failed = _wait_all(procs, started + timeout_s)
    if failed is not None:
        tail = " | ".join(logs[failed].read_text(errors="replace").splitlines()[-5:])
        raise RuntimeError(f"{layout.name} process {failed} failed ({logs[failed]}): {tail}")
    return read_run(run_dir, time.time() - started)


def _wait_all(procs: list[subprocess.Popen], deadline: float) -> int | None:
    """Wait for every process: None when all succeeded, else the index of the first that
    failed or outlived `deadline`, the others then killed (a process whose peer died would
    wait on its collectives)."""
    while True:
        codes = [proc.poll() for proc in procs]
        failed = next((i for i, code in enumerate(codes) if code not in (None, 0)), None)
        if failed is None and None not in codes:
            return None
        if failed is None and time.time() > deadline:
            failed = codes.index(None)
        if failed is not None:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            return failed
        time.sleep(0.1)


def read_run(run_dir: Path, wall_s: float) -> Run:
    """The train losses, last validation NLL, events and summary of RUN_DIR."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in records if r.get("split") == "train"}
    valid = [r["nll"] for r in records if r.get("split") == "valid"]
    summary = json.loads((run_dir / "summary.json").read_text())
    train = json.loads((run_dir / "config.json").read_text())["train"]
    events = [r["event"] for r in records if "event" in r]
    tokens_per_step = train["batch_size"] * train["seq_len"]
    return Run(losses, valid[-1] if valid else None, summary, events, tokens_per_step, wall_s)


def launch_stopped_and_continued(layout: Layout, data: Path, run_dir: Path, steps: int) -> Run:
    """Train RUN_DIR to steps // 2, then continue it to `steps` from its checkpoint, both
    sessions under `layout`; the second session's figures, with every step's loss."""
    launch(layout, data, run_dir, steps // 2)
    return launch(layout, data, run_dir, steps)


def max_loss_difference(run: Run, reference: Run) -> float:
    """Largest absolute train-loss difference over the steps, which must be the same ones."""
    if sorted(run.losses) != sorted(reference.losses):
        raise ValueError(f"logged steps differ: {sorted(run.losses)} vs {sorted(reference.losses)}")
    return max(abs(run.losses[s] - reference.losses[s]) for s in reference.losses)


def measure(data: Path, work: Path, steps: int = STEPS) -> dict:
    """The row's figures: each layout's largest loss difference from the 1-process reference,
    its step time and its launch's wall time, and whether every difference is within
    TOLERANCE. A 1-process, 1-device run is measured too, to show the float noise of a
    different device count (not part of the verdict)."""
    load_before = load_average()
    reference = launch(REFERENCE, data, work / REFERENCE.name, steps)
    runs = {layout.name: launch(layout, data, work / layout.name, steps) for layout in LAYOUTS}
    first = LAYOUTS[0]
    runs[f"{first.name}_resumed"] = launch_stopped_and_continued(
        first, data, work / f"{first.name}_resumed", steps
    )
    one_device = launch(Layout(1, 1), data, work / "1x1", steps)
    differences = {name: max_loss_difference(run, reference) for name, run in runs.items()}
    return {
        "multiprocess_load_before": load_before,
        "multiprocess_load_after": load_average(),
        "multiprocess_matches": max(differences.values()) <= TOLERANCE,
        "multiprocess_tolerance": TOLERANCE,
        "multiprocess_steps": steps,
        "multiprocess_max_loss_diff": differences,
        "multiprocess_max_loss_diff_1_device": max_loss_difference(one_device, reference),
        "multiprocess_step_ms": {
            name: run.step_ms for name, run in {REFERENCE.name: reference, **runs}.items()
        },
        "multiprocess_wall_s": {
            name: run.wall_s for name, run in {REFERENCE.name: reference, **runs}.items()
        },
    }


def render_markdown(results: dict) -> str:
    """results.md's section for the row (starting with SECTION)."""
    diffs, step_ms = results["multiprocess_max_loss_diff"], results["multiprocess_step_ms"]
    wall_s = results["multiprocess_wall_s"]
    load = {"load_before": results["multiprocess_load_before"]}
    load["load_after"] = results["multiprocess_load_after"]
    rows = [[REFERENCE.name, "reference", f"{step_ms[REFERENCE.name]:.1f}", wall_s[REFERENCE.name]]]
    rows += [[name, f"{d:.2e}", f"{step_ms[name]:.1f}", wall_s[name]] for name, d in diffs.items()]
    verdict = "equal" if results["multiprocess_matches"] else "NOT equal"
    one_device = results["multiprocess_max_loss_diff_1_device"]
    within = "within" if one_device <= results["multiprocess_tolerance"] else "outside"
    return f"""{SECTION}

`{results["multiprocess_command"]}`: the tiny Transformer, global batch 8,
{results["multiprocess_steps"]} steps, launched as `symbolic train` processes on this machine
joined by `jax.distributed` (gloo CPU collectives); PxD is P processes of D host devices each.
`2x2_resumed` trained to half the steps, stopped, and continued from its Orbax checkpoint.
{load_line(load)}

{markdown_table(["layout", "max train-loss diff", "step ms", "launch wall s"], rows)}

Against one process with the same 4 devices the losses are {verdict} within
{results["multiprocess_tolerance"]:g} (`multiprocess_matches`: {results["multiprocess_matches"]}).
One process with 1 device, which sums the batch's gradients in another order, differs by
{one_device:.2e}, {within} the tolerance too. Step times are of processes sharing this machine's
{results["cpu_count"]} cores, so they measure the collectives' overhead, not a speed-up.
"""


def main() -> None:
    from benchmarks.common import environment
    from benchmarks.train_throughput.ours import ensure_data

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling.multiprocess")
    parser.add_argument("--data", type=Path, default=None, help="prepared REMI Bach data")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        row = measure(ensure_data(args.data), Path(work), args.steps)
    row["multiprocess_command"] = command_line("benchmarks.scaling.multiprocess")
    section = render_markdown({**environment(), **row})
    merge_section(args.out, row, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
