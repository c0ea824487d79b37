"""TensorBoard event files: `train` writes loss, learning rate, tokens/s and validation NLL as
scalars in RUN_DIR/tensorboard, which TensorBoard's own reader reads back with the values of
metrics.jsonl, and a resumed run shows each step once."""

from __future__ import annotations

import json

import pytest

from symbolic.training import config as config_lib
from symbolic.training import trainer

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard: dev extra"
)


def _scalars(run_dir) -> dict[str, dict[int, float]]:
    """{tag: {step: value}}, checking that no step of a tag is shown twice."""
    reader = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"))
    reader.Reload()
    out = {}
    for tag in reader.Tags()["scalars"]:
        events = reader.Scalars(tag)
        out[tag] = {event.step: event.value for event in events}
        assert len(out[tag]) == len(events), f"{tag}: a step is shown twice"
    return out


def _train(data_dir, run_dir, steps: int) -> None:
    overrides = ["train.log_every=5", "train.eval_every=10", "train.checkpoint_every=10"]
    config = config_lib.resolve("lstm", "tiny", overrides, steps=steps)
    trainer.train(config, data_dir, run_dir, progress=False)


def test_train_writes_scalars_that_tensorboard_reads_back(chorale_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    _train(chorale_data_dir, run_dir, 10)
    scalars = _scalars(run_dir)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in records if r.get("split") == "train"}
    valid = {r["step"]: r for r in records if r.get("split") == "valid"}
    for key in ("loss", "lr", "tokens_per_s", "grad_norm"):
        assert scalars[f"train/{key}"] == pytest.approx({s: r[key] for s, r in train.items()})
    assert scalars["valid/nll"] == pytest.approx({s: r["nll"] for s, r in valid.items()})
    assert sorted(scalars["train/loss"]) == [5, 10]

    # What a session killed after its step-10 checkpoint leaves: events past that step.
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(run_dir / "tensorboard")) as orphan:
        orphan.add_scalar("train/loss", 999.0, 15)
    _train(chorale_data_dir, run_dir, 20)  # resumes from step 10
    resumed = _scalars(run_dir)
    assert sorted(resumed["train/loss"]) == [5, 10, 15, 20]
    assert resumed["train/loss"][10] == pytest.approx(scalars["train/loss"][10])
    assert resumed["train/loss"][15] != 999.0  # replaced by the resumed session's step 15


def test_two_sessions_opened_in_one_second_keep_both_files(tmp_path):
    # tensorboardX names an event file by the second it opened; without a finer suffix the
    # second session truncated the first's file (a flaky resume test showed steps 5 and 10 lost)
    from symbolic.training.event_files import TensorBoardLog

    for step in (5, 15):
        log = TensorBoardLog(tmp_path)
        log.write({"split": "train", "step": step, "loss": float(step)})
        log.close()
    reader = event_accumulator.EventAccumulator(str(tmp_path))
    reader.Reload()
    assert [e.step for e in reader.Scalars("train/loss")] == [5, 15]
    assert len(list(tmp_path.iterdir())) == 2
