"""Smoke tests of the speed benchmarks' helpers (no timing assertions: the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import load_average, load_line, peak_rss_mb
from benchmarks.prepare_speed.run import subset_manifest
from benchmarks.sampling_speed.run import grid, headline
from benchmarks.scaling.run import FORCE_FLAG, device_counts, device_env
from benchmarks.train_throughput import flops


def test_transformer_flops_match_the_formula_by_hand():
    # demo preset: per layer 4*128^2 + 2*128*512 = 196,608 weights; 3 layers + 128*565 head.
    n_matmul = 3 * 196_608 + 128 * 565
    expected = 6 * n_matmul + 12 * 3 * 128 * 256
    assert flops.transformer_train_flops_per_token(128, 3, 512, 565, 256) == expected


def test_transformer_flops_grow_linearly_with_context():
    short = flops.transformer_train_flops_per_token(128, 3, 512, 565, 256)
    long = flops.transformer_train_flops_per_token(128, 3, 512, 565, 512)
    assert long - short == pytest.approx(12 * 3 * 128 * 256)


def test_lstm_flops_count_gates_and_head():
    # layer 1: 4*256*(128+256); layer 2: 4*256*(256+256); head 256*565.
    n_matmul = 4 * 256 * 384 + 4 * 256 * 512 + 256 * 565
    assert flops.lstm_train_flops_per_token(128, 256, 2, 565) == 6 * n_matmul


def test_peak_gflops_reports_both_backends_and_the_higher():
    peak = flops.peak_gflops(n=64, repeats=1)
    assert peak["peak_gflops"] == max(peak["peak_gflops_jax"], peak["peak_gflops_numpy"]) > 0
    assert peak["peak_matmul_n"] == 64 and all(np.isfinite(v) for v in peak.values())
    assert flops.shaped_matmul_gflops(64, 32, 16, repeats=1) > 0


def status_mib(field: str) -> float:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux /proc")
def test_process_helpers():
    ballast = np.ones(16 * 2**20)  # 128 MiB, every page touched, so resident
    resident, peak = status_mib("VmRSS"), peak_rss_mb()
    # 1% slack: the kernel's RSS counters are per-CPU and each file sums them at its own time
    assert resident > 128 and peak >= 0.99 * resident
    assert peak == pytest.approx(status_mib("VmHWM"), rel=0.01)  # the kernel's own peak
    del ballast
    assert peak_rss_mb() >= peak  # a peak never falls
    # a child reports its own peak, not this process's (ru_maxrss would inherit it)
    child = "from benchmarks.common import peak_rss_mb; print(peak_rss_mb())"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True, cwd=root
    )
    assert float(out.stdout) < 0.5 * peak
    line = load_average()
    assert line.startswith("load average ")
    loads = [float(x) for x in line.removeprefix("load average ").split(", ")]
    assert len(loads) == 3 and min(loads) >= 0


def test_the_memory_watcher_reports_each_childs_own_peak():
    from benchmarks.scaling.memory import watch

    ballast = np.ones(32 * 2**20)  # 256 MiB resident here, which a child's ru_maxrss inherits
    budget = 8 * 2**30
    idle = watch([sys.executable, "-c", "import time; time.sleep(0.5)"], budget, 60)
    grows = "import numpy as np, time; a = np.ones(64 * 2**20); time.sleep(0.5)"  # 512 MiB
    grown = watch([sys.executable, "-c", grows], budget, 60)
    del ballast
    assert idle.outcome == grown.outcome == "ok"
    assert idle.peak_rss_gib * 1024 < 128
    assert 512 < grown.peak_rss_gib * 1024 < 768


@pytest.mark.parametrize(("before", "idle"), [("0.12, 0.50, 0.9", True), ("9.40, 2.0, 1.0", False)])
def test_load_line_says_whether_other_jobs_shared_the_cores(before, idle):
    line = load_line({"load_before": f"load average {before}", "load_after": "load average 2"})
    assert ("otherwise idle" in line) == idle
    assert ("lower bounds" in line) == (not idle)


@pytest.mark.parametrize(
    ("backend", "available", "quick", "expected"),
    [("cpu", 1, False, [1, 2, 4, 8]), ("cpu", 1, True, [1, 2]), ("gpu", 4, False, [1, 2, 4])],
)
def test_device_counts(backend, available, quick, expected):
    assert device_counts(backend, available, quick) == expected


def test_device_env_forces_host_devices_only_on_cpu():
    assert device_env("cpu", 4) == {"XLA_FLAGS": f"{FORCE_FLAG}=4"}
    assert device_env("tpu", 4) == {}


def test_sampling_headline_uses_8_sequences_at_1024():
    batches, lengths = grid(quick=True)
    assert 1024 in lengths and 8 in batches
    results = {"cached_speedup_b8_1024": 30.0, "speedup_vs_peer_b8_1024": 2.0}
    assert headline(results, batches) == {
        "cached_speedup_1024": 30.0,
        "speedup_vs_peer": 2.0,
        "headline_batch": 8,
    }


def test_subset_manifest_keeps_the_first_works(tmp_path):
    source = tmp_path / "src" / "m.json"
    source.parent.mkdir()
    source.write_text(json.dumps({"name": "m", "works": [{"id": str(i)} for i in range(5)]}))
    assert subset_manifest(source, None, tmp_path) == source
    subset = json.loads(subset_manifest(source, 2, tmp_path).read_text())
    assert [w["id"] for w in subset["works"]] == ["0", "1"]
