"""Orbax checkpoints inside a run directory.

RUN_DIR/checkpoints/latest holds the full training state plus the trainer's progress record
(early-stopping counters), for resuming; RUN_DIR/checkpoints/best holds the parameters with the best
validation NLL, for generation (a run without validation data has none, and generation reads
latest instead). Orbax writes each step to a temporary directory and renames it, so a
run killed mid-save keeps its previous checkpoint; latest keeps two steps, so one damaged on
disk later is set aside (checkpoints/corrupt/) and the run resumes from the one before.

In a multi-host run every process saves and restores (Orbax writes each process's shards, and
process 0 the metadata and the progress record, in step through its barriers), so the run
directory must be one folder that every host sees; only process 0 sets a damaged step aside.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from symbolic.data.meta import META_FILE, Meta, read_meta
from symbolic.training.config import RunConfig

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
# latest keeps its newest step and the one before: a newest step damaged on disk (a full disk,
# a bad sector) is then set aside, and the run resumes from the one before, saying so.
LATEST_KEPT = 2
CORRUPT_DIR = "corrupt"  # RUN_DIR/checkpoints/corrupt/<name>-<step>: steps that did not read


def _manager(directory: Path, max_to_keep: int = 1) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
    )
    handlers = {"state": ocp.StandardCheckpointHandler(), "progress": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(directory.absolute(), options=options, item_handlers=handlers)


class Checkpoints:
    """The latest and best checkpoints of one run."""

    def __init__(self, run_dir: Path):
        root = Path(run_dir) / "checkpoints"
        self.latest = _manager(root / "latest", LATEST_KEPT)
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
        the run has no checkpoint yet. A step that does not read falls back to the one before
        (`restore_newest`)."""
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()
        )
        found = restore_newest(self.latest, lambda step: args, set_aside=True)
        if found is None:
            return None
        restored = found[1]
        return restored["state"], dict(restored["progress"])

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def restore_newest(
    manager: ocp.CheckpointManager, args_of: Callable[[int], Any], *, set_aside: bool = False
) -> tuple[int, Any] | None:
    """(step, restored) of the newest step of `manager` that reads, `args_of(step)` saying how;
    None when it has no step. A step that fails (its files cut short or damaged: tensorstore
    then raises hundreds of lines) is skipped with a warning; with `set_aside` (a resuming
    run, which holds the run directory's lock) it is moved to checkpoints/corrupt/, so that no
    later save collides with it.

    Raises:
        ValueError: no step reads (one line naming the folder and the first failure).
    """
    directory = Path(manager.directory)
    failures: list[str] = []
    damaged: list[int] = []
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            restored = manager.restore(step, args=args_of(step))
        except Exception as err:  # noqa: BLE001 - any failure to read is a damaged step
            failures.append(f"step {step}: {' '.join(str(err).split())[:200]}")
            damaged.append(step)
            continue
        if failures:
            # only once a step reads (with none, the run dir stays as it was), and by process 0
            # alone in a multi-host run: the others skip the same damaged steps
            if set_aside and jax.process_index() == 0:
                for bad in damaged:
                    _set_aside(directory, bad)
                manager.reload()  # the manager still lists the steps moved away
            moved = f" (moved to {directory.parent / CORRUPT_DIR})" if set_aside else ""
            print(
                f"symbolic: warning: {directory}: {failures[0]} did not read{moved}; "
                f"using step {step}, the newest that reads",
                file=sys.stderr,
            )
        return step, restored
    if failures:
        raise ValueError(f"{directory}: no checkpoint reads ({failures[0]})")
    return None


def _set_aside(directory: Path, step: int) -> None:
    """Move step `step` of the manager at DIRECTORY to checkpoints/corrupt/NAME-STEP."""
    target = directory.parent / CORRUPT_DIR / f"{directory.name}-{step}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    source = directory / str(step)
    if source.exists():
        os.replace(source, target)


def _on_this_host(metadata: Any) -> Any:
    """Shapes and dtypes of a saved tree, placed on this process's first device: a run trained
    on 8 GPUs (or 4 forced host devices) must load on a laptop's one CPU."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata)


def restore_params(run_dir: Path, which: str = "best") -> tuple[Any, int]:
    """Parameters from RUN_DIR's `which` checkpoint ("best" falls back to "latest")."""
    root = Path(run_dir) / "checkpoints"
    for name in (which, "latest") if which == "best" else (which,):
        manager = _manager(root / name, LATEST_KEPT if name == "latest" else 1)

        def args_of(step: int, manager=manager) -> Any:
            target = _on_this_host(manager.item_metadata(step)["state"])
            return ocp.args.Composite(state=ocp.args.StandardRestore(target))

        try:
            found = restore_newest(manager, args_of)
        finally:
            manager.close()
        if found is None:
            continue
        step, restored = found
        state = restored["state"]
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
