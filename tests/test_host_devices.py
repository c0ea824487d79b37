"""The engine's host device count: one forced host device per core on CPU by default, the user's
own XLA_FLAGS or SYMBOLIC_HOST_DEVICES respected, a batch the count does not divide trained on
fewer devices, and the same losses on 1 and 2 host devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from symbolic.training import host_devices
from symbolic.training.host_devices import FORCE_FLAG, HostDevices


def test_auto_forces_one_host_device_per_core():
    choice = host_devices.choose({}, cores=2, accelerator=None)
    assert (choice.count, choice.automatic) == (2, True)
    assert "per core" in choice.reason


def test_the_users_own_count_wins():
    flags = {"XLA_FLAGS": f"--xla_cpu_enable_fast_math=false {FORCE_FLAG}=3"}
    assert host_devices.choose(flags, 2, None) == HostDevices(3, f"{FORCE_FLAG}=3 in XLA_FLAGS")
    # XLA_FLAGS is JAX's own setting: it wins over SYMBOLIC_HOST_DEVICES too
    assert host_devices.choose({**flags, "SYMBOLIC_HOST_DEVICES": "1"}, 2, None).count == 3
    assert host_devices.choose({"JAX_NUM_CPU_DEVICES": "5"}, 2, None).count == 5
    explicit = host_devices.choose({"SYMBOLIC_HOST_DEVICES": "1"}, 2, None)
    assert explicit == HostDevices(1, "SYMBOLIC_HOST_DEVICES=1", "switch")  # turns it off
    environ = {"JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "3"}
    host_devices.configure(environ)
    assert "XLA_FLAGS" not in environ  # JAX's own count: nothing to add


def test_an_accelerator_leaves_host_devices_alone():
    assert host_devices.expected_accelerator({"JAX_PLATFORMS": "cuda,cpu"}) == "cuda"
    assert host_devices.expected_accelerator({"JAX_PLATFORMS": "cpu"}) is None
    choice = host_devices.choose({}, 2, accelerator="cuda")
    assert choice.count is None and "cuda" in choice.reason
    environ = {"JAX_PLATFORMS": "tpu"}
    host_devices.configure(environ)
    assert environ == {"JAX_PLATFORMS": "tpu"}


def test_configure_adds_the_flag_once_and_keeps_other_flags():
    environ = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    first = host_devices.configure(environ)
    cores = host_devices.cpu_cores()
    assert environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {FORCE_FLAG}={cores}"
    # a child process inherits the flag and the mark: still the automatic count, not the user's
    child = dict(environ)
    assert host_devices.configure(child) == first and child == environ
    assert first.automatic


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_switch_is_one_line_naming_it(value):
    with pytest.raises(ValueError, match=f"SYMBOLIC_HOST_DEVICES='{value}'"):
        host_devices.choose({"SYMBOLIC_HOST_DEVICES": value}, 2, None)


def test_an_automatic_count_trains_a_batch_it_does_not_divide_on_fewer_devices():
    assert len(jax.devices()) == 4  # conftest forces 4 host devices
    automatic = HostDevices(4, "one host device per core (4 cores)", source="auto")
    devices, reason = host_devices.mesh_devices(6, automatic)
    assert devices == jax.devices()[:3] and "train.batch_size=6" in reason
    assert host_devices.mesh_devices(8, automatic) == (jax.devices(), automatic.reason)
    # a count the user set is kept as given: check_batch_size then names the mismatch
    users = HostDevices(4, f"{FORCE_FLAG}=4 in XLA_FLAGS")
    assert host_devices.mesh_devices(6, users) == (jax.devices(), users.reason)


def _train(data_dir, run_dir, switch: str | None) -> tuple[dict, dict[int, float]]:
    """A tiny Transformer (dropout on) trained in its own process, whose XLA_FLAGS holds no
    device count; -> its summary and its train losses by step."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.pop(host_devices.ENV, None)
    env.pop(host_devices.AUTO_MARK, None)
    if switch is not None:
        env[host_devices.ENV] = switch
    command = [sys.executable, "-m", "symbolic.cli", "train", "--model", "transformer"]
    command += ["--data", str(data_dir), "--workdir", str(run_dir), "--preset", "tiny"]
    command += ["--steps", "8", "--no-progress", "--set", "train.log_every=1"]
    command += ["--set", "model.dropout=0.1", "--set", "train.batch_size=8"]
    subprocess.run(command, check=True, env=env, capture_output=True)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in records if r.get("split") == "train"}
    start = next(r for r in records if r.get("event") == "start")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {k: start[k] for k in ("devices", "device_count", "devices_chosen")} == {
        k: summary[k] for k in ("devices", "device_count", "devices_chosen")
    }
    return summary, losses


def test_host_devices_by_default_give_the_losses_of_one_device(chorale_data_dir, tmp_path):
    one, one_losses = _train(chorale_data_dir, tmp_path / "one", "1")
    auto, auto_losses = _train(chorale_data_dir, tmp_path / "auto", None)
    assert (one["device_count"], one["devices_chosen"]) == (1, "SYMBOLIC_HOST_DEVICES=1")
    assert auto["device_count"] == host_devices.largest_divisor(8, host_devices.cpu_cores())
    assert "per core" in auto["devices_chosen"]
    assert sorted(one_losses) == sorted(auto_losses) == list(range(1, 9))
    steps = sorted(one_losses)
    np.testing.assert_allclose(
        [auto_losses[s] for s in steps], [one_losses[s] for s in steps], rtol=1e-5, atol=1e-5
    )
