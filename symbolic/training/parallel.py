"""Data parallelism with JAX's own machinery: a 1-D device mesh over every device, parameters
replicated, the batch split along its first axis. Under `jax.distributed` (one process per host,
or per GPU) each process feeds its own rows of the global batch, and the same jitted step
all-reduces across processes; `benchmarks/scaling/multiprocess.py` checks that 2 and 4 processes
train like one."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


# Read here, not by JAX: `jax.distributed.initialize` takes only the coordinator's address from
# the environment (JAX_COORDINATOR_ADDRESS), and otherwise detects a cluster (SLURM, Open MPI,
# Cloud TPU) or fails.
NUM_PROCESSES_ENV = "SYMBOLIC_NUM_PROCESSES"
PROCESS_ID_ENV = "SYMBOLIC_PROCESS_ID"


def maybe_initialize_distributed() -> None:
    """Join a multi-host job when launched as one; call before anything touches a device.

    SYMBOLIC_DISTRIBUTED=1 alone lets JAX detect the cluster (a TPU pod slice, SLURM, Open MPI);
    JAX_COORDINATOR_ADDRESS=HOST:PORT with SYMBOLIC_NUM_PROCESSES and SYMBOLIC_PROCESS_ID names it
    anywhere else. On CPU the processes all-reduce through JAX's own collectives (gloo by
    default; JAX_CPU_COLLECTIVES_IMPLEMENTATION chooses).

    Raises:
        ValueError: a variable is not a number, or JAX could not tell how many processes there
            are (one line naming the variables to set).
    """
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if os.environ.get("SYMBOLIC_DISTRIBUTED") != "1" and not address:
        return
    if jax.distributed.is_initialized():  # a caller (a notebook, a launcher) joined already
        return
    try:
        jax.distributed.initialize(
            num_processes=_env_int(NUM_PROCESSES_ENV), process_id=_env_int(PROCESS_ID_ENV)
        )
    except ValueError as err:  # JAX's "Number of processes must be defined." names no fix
        raise ValueError(
            f"jax.distributed: {err} Outside a detected cluster (SLURM, Open MPI, a TPU pod), "
            f"set JAX_COORDINATOR_ADDRESS=HOST:PORT, {NUM_PROCESSES_ENV} and {PROCESS_ID_ENV}"
        ) from err


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: not a whole number") from None


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every host)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.size:
        raise ValueError(
            f"train.batch_size={batch_size} is not divisible by the {mesh.size} devices; "
            f"pick a multiple of {mesh.size}"
        )


def host_slice(global_batch_size: int) -> slice:
    """Rows of the global batch that this host feeds."""
    per_host = global_batch_size // jax.process_count()
    start = jax.process_index() * per_host
    return slice(start, start + per_host)


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Global host-side batch -> arrays sharded along the data axis (this host's rows only)."""
    rows = host_slice(next(iter(batch.values())).shape[0])
    sharding = batch_sharding(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v[rows]))
        for k, v in batch.items()
    }
