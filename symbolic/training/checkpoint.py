"""Orbax checkpoints inside a run directory.

RUN_DIR/checkpoints/latest holds the full training state plus the trainer's progress record
(early-stopping counters), for resuming; RUN_DIR/checkpoints/best holds the parameters with the best
validation NLL, for generation (a run without validation data has none, and generation reads
latest instead). Orbax writes each step to a temporary directory and renames it, so a
run killed mid-save keeps its previous checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from symbolic.data.meta import META_FILE, Meta, read_meta
from symbolic.training.config import RunConfig

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"


def _manager(directory: Path) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True, enable_async_checkpointing=False
    )
    handlers = {"state": ocp.StandardCheckpointHandler(), "progress": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(directory.absolute(), options=options, item_handlers=handlers)


class Checkpoints:
    """The latest and best checkpoints of one run."""

    def __init__(self, run_dir: Path):
        root = Path(run_dir) / "checkpoints"
        self.latest = _manager(root / "latest")
        self.best = _manager(root / "best")

    def save_latest(self, step: int, state: Any, progress: dict) -> None:
        self.latest.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)
            ),
        )

    def save_best(self, step: int, params: Any, record: dict) -> None:
        self.best.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(params), progress=ocp.args.JsonSave(record)
            ),
        )

    def restore_latest(self, abstract_state: Any) -> tuple[Any, dict] | None:
        """(state, progress) from the latest checkpoint, laid out like `abstract_state`; None if
        the run has no checkpoint yet."""
        step = self.latest.latest_step()
        if step is None:
            return None
        restored = self.latest.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()
            ),
        )
        return restored["state"], dict(restored["progress"])

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def _on_this_host(metadata: Any) -> Any:
    """Shapes and dtypes of a saved tree, placed on this process's first device: a run trained
    on 8 GPUs (or 4 forced host devices) must load on a laptop's one CPU."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata)


def restore_params(run_dir: Path, which: str = "best") -> tuple[Any, int]:
    """Parameters from RUN_DIR's `which` checkpoint ("best" falls back to "latest")."""
    root = Path(run_dir) / "checkpoints"
    for name in (which, "latest") if which == "best" else (which,):
        manager = _manager(root / name)
        step = manager.latest_step()
        if step is None:
            continue
        target = _on_this_host(manager.item_metadata(step)["state"])
        restored = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
        )
        state = restored["state"]
        manager.close()
        params = state["params"] if name == "latest" else state
        return jax.tree.map(jax.numpy.asarray, params), step
    raise FileNotFoundError(f"{run_dir}: no checkpoint found; train it with `symbolic train`")


def load_run(run_dir: Path, which: str = "best") -> tuple[RunConfig, Any, Meta]:
    """Everything generation needs from a run directory: (config, params, meta)."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {CONFIG_FILE})")
    config = RunConfig.load(config_path)
    meta = read_meta(run_dir / META_FILE)
    params, _ = restore_params(run_dir, which)
    return config, params, meta
