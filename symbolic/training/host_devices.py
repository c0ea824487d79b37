"""How many devices a CPU run splits its batch over.

XLA:CPU leaves cores idle inside one device's program, so splitting the batch over one forced
host device per core trains faster on the same cores (`benchmarks/scaling`: 278 ms a demo step on
one device, 218 ms on two, on 2 cores). JAX fixes the host device count when its CPU backend
starts, so `configure` runs first (the CLI's start, `trainer.train`) and reads only the
environment, never jax; `mesh_devices` later picks the devices a batch size divides over.

SYMBOLIC_HOST_DEVICES=auto (the default) forces one host device per core, =N forces N, =1 turns
the split off. A device count the user gave JAX itself (XLA_FLAGS'
`--xla_force_host_platform_device_count`, JAX_NUM_CPU_DEVICES) is left alone, and so is a
machine where JAX will pick a GPU or TPU: the mesh is then that accelerator's devices.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import MutableMapping
from dataclasses import dataclass

ENV = "SYMBOLIC_HOST_DEVICES"
FORCE_FLAG = "--xla_force_host_platform_device_count"
# The count `configure` put in XLA_FLAGS by itself: tells its own flag (inherited by child
# processes too) from one the user set, whose batch-size mismatch stays an error.
AUTO_MARK = "SYMBOLIC_AUTO_HOST_DEVICES"
# Python distributions that make JAX's default backend an accelerator when their device is there
ACCELERATOR_PLUGINS = {"libtpu": "tpu", "jax_plugins": "gpu"}


@dataclass(frozen=True)
class HostDevices:
    """The host device count a run gets and why; `count` None leaves JAX's own default."""

    count: int | None
    reason: str
    # "auto" (one per core: the trainer may use fewer to divide the batch) or "switch"
    # (SYMBOLIC_HOST_DEVICES): `configure` writes these; "jax" ones the user gave JAX itself
    source: str = "jax"

    @property
    def automatic(self) -> bool:
        return self.source == "auto"


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, as `taskset` or a scheduler sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def forced_count(xla_flags: str) -> int | None:
    """The last `--xla_force_host_platform_device_count=N` in XLA_FLAGS, as XLA reads it."""
    counts = [f.split("=", 1)[1] for f in xla_flags.split() if f.startswith(FORCE_FLAG + "=")]
    return int(counts[-1]) if counts and counts[-1].isdigit() else None


def expected_accelerator(environ: MutableMapping[str, str]) -> str | None:
    """The platform JAX will pick over the CPU, judged without importing jax: JAX_PLATFORMS's
    first entry, else an installed accelerator plugin (a CUDA/ROCm `jax_plugins` package or
    libtpu); None when the backend will be the CPU."""
    platforms = environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        first = platforms.split(",")[0].strip().lower()
        return None if first == "cpu" else first
    for module, platform in ACCELERATOR_PLUGINS.items():
        if importlib.util.find_spec(module) is not None:
            return platform
    if importlib.metadata.entry_points(group="jax_plugins"):
        return "gpu"
    return None


def requested_count(environ: MutableMapping[str, str]) -> int | None:
    """SYMBOLIC_HOST_DEVICES as a count; None for `auto` or unset.

    Raises:
        ValueError: the value is neither `auto` nor a whole number >= 1.
    """
    value = environ.get(ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV}={environ[ENV]!r}: give `auto` or a device count >= 1")
    return int(value)


def choose(environ: MutableMapping[str, str], cores: int, accelerator: str | None) -> HostDevices:
    """The host device count for this environment (pure: `configure` applies it)."""
    requested = requested_count(environ)
    forced = forced_count(environ.get("XLA_FLAGS", ""))
    ours = requested if requested is not None else _int_or_none(environ.get(AUTO_MARK))
    jax_count = environ.get("JAX_NUM_CPU_DEVICES", "").strip()
    if jax_count:
        return HostDevices(_int_or_none(jax_count), f"JAX_NUM_CPU_DEVICES={jax_count}")
    if forced is not None and forced != ours:
        return HostDevices(forced, f"{FORCE_FLAG}={forced} in XLA_FLAGS")
    if accelerator is not None:
        return HostDevices(None, f"host devices left to JAX: a {accelerator} backend expected")
    if requested is not None:
        return HostDevices(requested, f"{ENV}={requested}", source="switch")
    return HostDevices(cores, f"one host device per core ({cores} cores)", source="auto")


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def configure(environ: MutableMapping[str, str] = os.environ) -> HostDevices:
    """Force this environment's host device count into XLA_FLAGS unless one is there already;
    call before JAX starts a backend (importing jax is fine, running anything is too late).

    Raises:
        ValueError: SYMBOLIC_HOST_DEVICES is not `auto` or a count.
    """
    choice = choose(environ, cpu_cores(), expected_accelerator(environ))
    flags = environ.get("XLA_FLAGS", "")
    if choice.source in ("auto", "switch") and forced_count(flags) != choice.count:
        environ["XLA_FLAGS"] = f"{flags} {FORCE_FLAG}={choice.count}".strip()
    if choice.automatic:
        environ[AUTO_MARK] = str(choice.count)
    return choice


def largest_divisor(batch_size: int, limit: int) -> int:
    """The largest device count <= `limit` that splits `batch_size` rows evenly."""
    return max(n for n in range(1, limit + 1) if batch_size % n == 0)


def mesh_devices(batch_size: int, choice: HostDevices | None = None) -> tuple[list, str]:
    """The devices a run's data-parallel mesh spans, and how they were chosen (for the run's
    log): every device of an accelerator or of a multi-process job; on CPU with the automatic
    count, the most host devices that divide `batch_size` (7 rows on 2 cores: 1 device, not an
    error the user never asked for); any other count as given (a batch it does not divide is
    then `parallel.check_batch_size`'s error). `choice` defaults to this process's `choose`."""
    import jax

    devices, backend = jax.devices(), jax.default_backend()
    if jax.process_count() > 1:
        return devices, f"all {len(devices)} devices of {jax.process_count()} processes"
    if backend != "cpu":
        return devices, f"all {len(devices)} {backend} devices"
    if choice is None:
        choice = choose(os.environ, cpu_cores(), expected_accelerator(os.environ))
    if choice.count is None:
        return devices, f"{len(devices)} host devices, {choice.reason}"
    if choice.count != len(devices):
        return devices, f"{len(devices)} host devices: JAX started before {choice.reason} applied"
    used = largest_divisor(batch_size, len(devices)) if choice.automatic else len(devices)
    if used == len(devices):
        return devices, choice.reason
    reason = f"{choice.reason}; {used} of them, the most that divide train.batch_size={batch_size}"
    return devices[:used], reason
