"""Multi-host training on JAX's own runtime: `symbolic train` launched as 2 and 4 processes on
this machine, joined by `jax.distributed` with gloo CPU collectives, trains like one process
holding the same four devices, checkpoints from every process and resumes."""

from __future__ import annotations

import os
import subprocess

import pytest

from benchmarks.scaling.multiprocess import (
    DISTRIBUTED_ENV,
    REFERENCE,
    STEPS,
    TOLERANCE,
    Layout,
    launch,
    launch_stopped_and_continued,
    max_loss_difference,
    train_command,
)
from symbolic.training import parallel
from symbolic.training.checkpoint import restore_params
from symbolic.training.trainer import num_params


@pytest.fixture(scope="module")
def one_process(chorale_data_dir, tmp_path_factory):
    """The reference: one process with four host devices, trained STEPS steps in one go."""
    return launch(REFERENCE, chorale_data_dir, tmp_path_factory.mktemp("one") / "run", STEPS)


def test_four_processes_train_like_one(one_process, chorale_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    four = launch(Layout(4, 1), chorale_data_dir, run_dir, STEPS)
    assert sorted(four.losses) == list(range(1, STEPS + 1))
    assert max_loss_difference(four, one_process) <= TOLERANCE
    assert four.valid_nll == pytest.approx(one_process.valid_nll, abs=TOLERANCE)
    assert len(four.summary["devices"]) == 4
    # process 0 alone wrote the log: each step once, one start
    assert four.events == ["start"]
    # Orbax saved the state from every process
    state = run_dir / "checkpoints" / "latest" / str(STEPS) / "state"
    assert sorted(p.name for p in state.glob("ocdbt.process_*")) == [
        f"ocdbt.process_{i}" for i in range(4)
    ]
    # and one process (generation's) reads them back
    params, step = restore_params(run_dir)
    assert step == STEPS and num_params(params) == four.summary["num_params"]


def test_two_processes_stopped_and_continued_train_like_one(
    one_process, chorale_data_dir, tmp_path
):
    run_dir = tmp_path / "run"
    two = launch_stopped_and_continued(Layout(2, 2), chorale_data_dir, run_dir, STEPS)
    assert two.events == ["start", "resume"]
    assert two.summary["steps_this_session"] == STEPS - STEPS // 2
    assert sorted(two.losses) == list(range(1, STEPS + 1))
    assert max_loss_difference(two, one_process) <= TOLERANCE
    assert two.valid_nll == pytest.approx(one_process.valid_nll, abs=TOLERANCE)
    saved = sorted(int(p.name) for p in (run_dir / "checkpoints" / "latest").glob("[0-9]*"))
    assert saved == [STEPS // 2, STEPS]


def test_a_coordinator_without_a_process_count_is_one_line_naming_the_variables(
    chorale_data_dir, tmp_path
):
    # through the entry point: in this process jax's backend may be started already
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
    env["JAX_COORDINATOR_ADDRESS"] = "localhost:1"
    command = train_command(chorale_data_dir, tmp_path / "run", STEPS)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and not (tmp_path / "run").exists()
    last = done.stderr.splitlines()[-1]
    assert last.startswith("symbolic: error: jax.distributed: ")
    assert last.endswith(
        "JAX_COORDINATOR_ADDRESS=HOST:PORT, SYMBOLIC_NUM_PROCESSES and SYMBOLIC_PROCESS_ID"
    )


def test_a_process_count_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1")
    monkeypatch.setenv(parallel.NUM_PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match="SYMBOLIC_NUM_PROCESSES='two': not a whole number"):
        parallel.maybe_initialize_distributed()
