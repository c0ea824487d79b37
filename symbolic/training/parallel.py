"""Data parallelism with JAX's own machinery: a 1-D device mesh over every device, parameters
replicated, the batch split along its first axis. Under `jax.distributed` each host feeds its own
slice of the global batch."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def maybe_initialize_distributed() -> None:
    """Join a multi-host job when launched as one (SYMBOLIC_DISTRIBUTED=1, or a coordinator
    address set); JAX auto-detects the cluster (TPU pods, SLURM, ...)."""
    if os.environ.get("SYMBOLIC_DISTRIBUTED") == "1" or os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize()


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
