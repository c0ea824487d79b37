"""TensorBoard event files beside metrics.jsonl, so that `tensorboard --logdir runs/` shows every
run's curves where JAX users look for them (Flax's examples write the same through `clu`).

`TensorBoardLog` mirrors the records `MetricsLog` writes: each numeric field of a train or
valid record becomes the scalar ``<split>/<field>`` at the record's step (``train/loss``,
``train/lr``, ``train/tokens_per_s``, ``valid/nll``, ...). Written through tensorboardX, which
needs no TensorFlow. A resumed run purges the events after its restored step, as
metrics.jsonl drops the records it replays, so every step is shown once.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

EVENTS_DIR = "tensorboard"  # RUN_DIR/tensorboard


class TensorBoardLog:
    """Scalars of metric records as event files in `log_dir`, opened at the first record."""

    def __init__(self, log_dir: Path):
        self.log_dir, self.writer, self.purge_step = Path(log_dir), None, None

    def rewind(self, step: int | None) -> None:
        """Hide the events after `step` (a resumed session trains and logs them again)."""
        self.purge_step = step

    def write(self, record: dict) -> None:
        split, step = record.get("split"), record.get("step")
        if split is None or not isinstance(step, int):  # start / resume events
            return
        if self.writer is None:
            from tensorboardX import SummaryWriter

            # Events at steps >= purge_step are hidden; the restored step's own are kept.
            purge = None if self.purge_step is None else self.purge_step + 1
            # tensorboardX names a file by the second it opened: a second writer in the same
            # second would truncate the first's file, so the name also carries nanoseconds
            # (which keep the files in the order they were written)
            self.writer = SummaryWriter(
                str(self.log_dir), purge_step=purge, filename_suffix=f".{time.time_ns()}"
            )
        for key, value in record.items():
            scalar = isinstance(value, int | float) and not isinstance(value, bool)
            if key != "step" and scalar and math.isfinite(value):
                self.writer.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
