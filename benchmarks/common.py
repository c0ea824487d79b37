"""Helpers every benchmark shares: where it ran (devices, versions, platform), the exact command,
and writing `results.json` (a flat object; music_metrics nests one level, an object per source)
beside `results.md`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")
Scalar = str | int | float | bool | None


def command_line(module: str) -> str:
    """The command that is running, as it would be typed from the repository root."""
    return " ".join(["python", "-m", module, *sys.argv[1:]])


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_commit() -> str | None:
    """HEAD of the repository (with '+dirty' for uncommitted changes), or None outside git."""
    try:
        dirty = "+dirty" if _git("status", "--porcelain") else ""
        return _git("rev-parse", "--short", "HEAD") + dirty
    except (OSError, subprocess.CalledProcessError):
        return None


def environment() -> dict[str, Scalar]:
    """Devices, library versions and platform, flat, for results.json."""
    import jax

    devices = jax.devices()
    env: dict[str, Scalar] = {
        "device": str(devices[0]),
        "devices": ", ".join(str(d) for d in devices),
        "device_kind": devices[0].device_kind,
        "backend": jax.default_backend(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
    }
    for package in PACKAGES:
        try:
            env[f"{package}_version"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            env[f"{package}_version"] = None
    return env


def _is_flat(value: object) -> bool:
    """A scalar, or a dict or list of scalars (one level: e.g. one object per source)."""
    if isinstance(value, dict):
        return all(isinstance(v, Scalar) for v in value.values())
    if isinstance(value, list):
        return all(isinstance(v, Scalar) for v in value)
    return isinstance(value, Scalar)


_highest_peak_mb = 0.0  # the largest VmHWM read so far (see peak_rss_mb)


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it started its program, in MiB.

    Linux's VmHWM, not `getrusage(RUSAGE_SELF).ru_maxrss`: a subprocess's ru_maxrss starts at
    its parent's high-water mark (it survives fork and exec), so a measuring child of a large
    benchmark process would report the parent's memory. VmHWM is the larger of the kernel's
    stored peak and the current RSS, whose per-CPU counters are summed at read time, so it can
    read a little lower after memory is freed: the largest reading so far is kept, as a peak
    never falls. ru_maxrss where there is no /proc."""
    global _highest_peak_mb
    if not Path("/proc/self/status").exists():
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    hwm_kib = proc_memory_kib().get("VmHWM", 0)
    _highest_peak_mb = max(_highest_peak_mb, hwm_kib / 1024.0)
    return _highest_peak_mb


def proc_memory_kib(pid: int | str = "self") -> dict[str, int]:
    """The memory lines of process `pid`'s /proc status in KiB ({"VmRSS": now, "VmHWM": its
    peak so far, ...}), read in one go; {} once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = (line.split() for line in status.splitlines())
    return {f[0].rstrip(":"): int(f[1]) for f in fields if len(f) == 3 and f[2] == "kB"}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def load_line(results: dict) -> str:
    """One sentence on the machine's load around a run, from its load_before / load_after: a
    1-minute load before the run above 3/4 of the cores means other jobs were competing (a
    benchmark that just finished leaves about 1 on its own)."""
    busy = float(results["load_before"].split()[2].rstrip(",")) > 0.75 * (os.cpu_count() or 1)
    verdict = (
        "other jobs were sharing the cores, so speeds are lower bounds"
        if busy
        else "the machine was otherwise idle"
    )
    return f"Load: `{results['load_before']}` before, `{results['load_after']}` after ({verdict})."


def write_results(
    out_dir: Path, results: dict[str, Scalar | dict[str, Scalar] | list[Scalar]], markdown: str
) -> tuple[Path, Path]:
    """Write OUT_DIR/results.json (scalars, or objects or lists of scalars one level deep) and
    OUT_DIR/results.md."""
    nested = sorted(k for k, v in results.items() if not _is_flat(v))
    if nested:
        raise TypeError(f"results.json holds scalars or objects of scalars; not these: {nested}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return json_path, md_path


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table; floats are printed with 3 decimals."""

    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def merge_section(out_dir: Path, keys: dict, heading: str, section: str, stale=None) -> None:
    """Merge one part of a benchmark into OUT_DIR's results: `keys` replace theirs in
    results.json (and those `stale(key)` marks are dropped first), and `section` replaces the
    results.md section that starts with `heading` (a `## ` line), or is appended."""
    json_path, md_path = Path(out_dir) / "results.json", Path(out_dir) / "results.md"
    results = json.loads(json_path.read_text()) if json_path.is_file() else {}
    if stale is not None:
        results = {k: v for k, v in results.items() if not stale(k)}
    markdown = md_path.read_text() if md_path.is_file() else ""
    before, found, after = markdown.partition(heading)
    rest = after.split("\n## ", 1) if found else []
    markdown = before.rstrip() + "\n\n" + section.rstrip() + "\n"
    if len(rest) > 1:
        markdown += "\n## " + rest[1]
    write_results(out_dir, {**results, **keys}, markdown)
