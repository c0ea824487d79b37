"""Training engine: overfitting, data-parallel equivalence, kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from symusic import Score

from symbolic.data.batches import load_split, train_batch
from symbolic.data.meta import load_meta
from symbolic.training import config as config_lib
from symbolic.training import parallel, sources, trainer


def tiny_config(model_name: str, *overrides: str) -> config_lib.RunConfig:
    return config_lib.resolve(model_name, "tiny", list(overrides))


@pytest.mark.parametrize("model_name", ["transformer", "lstm"])
def test_tiny_model_overfits_one_batch(model_name, chorale_data_dir):
    capacity = {
        "lstm": ["model.hidden_size=256", "train.learning_rate=0.005"],
        "transformer": ["train.learning_rate=0.01"],
    }[model_name]
    cfg = tiny_config(
        model_name, "train.weight_decay=0.0", "train.steps=200", "train.warmup_steps=5", *capacity
    )
    cfg = trainer.with_vocab_size(cfg, load_meta(chorale_data_dir))
    compiled = trainer.compile_steps(cfg)
    state = compiled.init()
    split = load_split(chorale_data_dir, "train")
    batch = parallel.shard_batch(train_batch(split, 8, 32, seed=0, step=0), compiled.mesh)
    first = None
    for _ in range(cfg.train.steps):
        state, metrics = compiled.train(state, batch)
        loss = float(metrics["loss"])  # one step in flight: see TrainLoop.run
        first = first if first is not None else loss
    final = loss
    assert first > 3.0, first  # starts near log(vocab): the model is not trivially right
    assert final < 0.3, (first, final)


def test_early_stopping_waits_patience_evaluations_and_round_trips():
    stop = trainer.EarlyStopping(patience=2).observe(2.0, 10)
    assert stop.improved_at(10) and not stop.stopped_early
    stop = stop.observe(2.0 - trainer.MIN_IMPROVEMENT / 2, 20)  # too small a gain to count
    assert not stop.improved_at(20) and stop.best_step == 10 and not stop.stopped_early
    stop = stop.observe(2.5, 30)
    assert stop.stopped_early and (stop.best_nll, stop.evals_without_improvement) == (2.0, 2)
    assert trainer.EarlyStopping.from_progress(2, stop.progress()) == stop
    older = {"best_nll": 2.0, "evals_without_improvement": 1, "stopped_early": False}
    assert trainer.EarlyStopping.from_progress(2, older).evals_without_improvement == 1
    never = trainer.EarlyStopping(patience=0)
    for step in range(1, 6):
        never = never.observe(1.0, step)
    assert not never.stopped_early and never.evals_without_improvement == 4


def test_train_loop_runs_any_batch_source_with_the_best_in_memory(chorale_data_dir):
    cfg = tiny_config("lstm", "train.steps=20", "train.eval_every=10", "train.log_every=5")
    meta = load_meta(chorale_data_dir)
    cfg = trainer.with_vocab_size(cfg, meta)
    source, compiled = sources.TokenData(chorale_data_dir, cfg, meta), trainer.compile_steps(cfg)
    best, log = trainer.BestInMemory(), trainer.MetricsLog(None)
    loop = trainer.TrainLoop(cfg.train, compiled, source, best, log, echo=lambda line: None)
    outcome = loop.run()
    assert int(outcome.state.step) == 20 and outcome.first_step == 0
    assert [r["step"] for r in log.records if r.get("split") == "train"] == [5, 10, 15, 20]
    valid = [r for r in log.records if r.get("split") == "valid"]
    assert [r["step"] for r in valid] == [10, 20]
    assert outcome.stopping.best_nll == min(r["nll"] for r in valid)
    assert best.record["step"] == outcome.stopping.best_step
    rescored = trainer.evaluate(compiled, best.params, source.eval_batches())
    assert rescored["nll"] == pytest.approx(outcome.stopping.best_nll, rel=1e-6)


@pytest.mark.parametrize("model_name", ["transformer", "lstm"])
def test_sharded_step_matches_single_device(model_name, chorale_data_dir):
    assert jax.device_count() >= 4, "conftest forces 4 host devices"
    cfg = trainer.with_vocab_size(
        tiny_config(model_name, "train.batch_size=8"), load_meta(chorale_data_dir)
    )
    split = load_split(chorale_data_dir, "train")
    results = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        compiled = trainer.compile_steps(cfg, devices)
        state = compiled.init()
        losses = []
        for step in range(3):
            batch = train_batch(split, 8, cfg.train.seq_len, seed=0, step=step)
            state, metrics = compiled.train(state, parallel.shard_batch(batch, compiled.mesh))
            losses.append(float(metrics["loss"]))
        results.append((losses, jax.device_get(state.params)))
    (single_losses, single_params), (sharded_losses, sharded_params) = results
    np.testing.assert_allclose(sharded_losses, single_losses, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
        single_params,
        sharded_params,
    )


def _train_command(data_dir: Path, run_dir: Path, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "symbolic.cli",
        "train",
        "--model",
        "transformer",
        "--preset",
        "tiny",
        "--data",
        str(data_dir),
        "--workdir",
        str(run_dir),
        "--steps",
        str(steps),
        "--set",
        "train.log_every=1",
        "--set",
        "train.checkpoint_every=20",
        "--set",
        "train.eval_every=20",
        "--no-progress",
    ]


def _train_losses(run_dir: Path) -> dict[int, float]:
    """Last logged train loss for each step (a resumed run re-logs the steps it repeats)."""
    losses = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("split") == "train":
            losses[record["step"]] = record["loss"]
    return losses


def _saved_steps(run_dir: Path) -> list[int]:
    latest = run_dir / "checkpoints" / "latest"
    return [int(p.name) for p in latest.glob("*") if p.name.isdigit()] if latest.is_dir() else []


def test_killed_run_resumes_with_same_losses(chorale_data_dir, tmp_path):
    steps = 200
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    reference = tmp_path / "reference"
    subprocess.run(_train_command(chorale_data_dir, reference, steps), check=True, env=env)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(chorale_data_dir, killed, steps), env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if _saved_steps(killed):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = max(_train_losses(killed), default=0)
    assert interrupted < steps, "the run finished before it could be killed"

    subprocess.run(_train_command(chorale_data_dir, killed, steps), check=True, env=env)
    log = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    resumes = [r for r in log if r.get("event") == "resume"]
    assert resumes and resumes[-1]["step"] >= 20
    expected, got = _train_losses(reference), _train_losses(killed)
    assert sorted(got) == list(range(1, steps + 1))
    np.testing.assert_allclose(
        [got[s] for s in expected], [expected[s] for s in expected], rtol=1e-5
    )


def test_eval_scores_the_best_checkpoint_on_test(chorale_data_dir, tmp_path):
    from symbolic.cli import main

    run_dir = tmp_path / "run"
    trainer.train(tiny_config("lstm", "train.steps=10"), chorale_data_dir, run_dir, progress=False)
    assert main(["eval", str(run_dir), "--data", str(chorale_data_dir), "--split", "test"]) == 0
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "eval" and record["split"] == "test"
    test_targets = len(load_split(chorale_data_dir, "test").tokens) - 1
    assert record["tokens"] == test_targets  # every target of the split, scored once
    assert 0 < record["nll"] < 8 and np.isclose(record["perplexity"], np.exp(record["nll"]))


def test_a_run_trained_on_four_devices_generates_and_resumes_on_one(chorale_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    trainer.train(tiny_config("transformer", "train.steps=10"), chorale_data_dir, run_dir)
    assert len(jax.devices()) == 4
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    out = tmp_path / "samples"
    generate = [sys.executable, "-m", "symbolic.cli", "generate", str(run_dir), "--out", str(out)]
    subprocess.run([*generate, "--num", "1", "--max-tokens", "16"], check=True, env=env)
    assert (out / "sample_000.mid").is_file()
    # one DAW-ready file, as asked, that reads back with its tempo and meter
    assert sorted(p.name for p in out.glob("*.mid")) == ["sample_000.mid"]
    sample = Score(str(out / "sample_000.mid"))
    assert len(sample.tempos) >= 1 and len(sample.time_signatures) >= 1
    subprocess.run(_train_command(chorale_data_dir, run_dir, 20), check=True, env=env)
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("event") == "resume"] == [10]
    assert max(_train_losses(run_dir)) == 20
