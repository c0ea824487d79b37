"""The training engine: the one `TrainLoop`, its batch sources, and `train` for run directories.

`TrainLoop` runs jitted steps (`compile_steps`, or `compile_model` for a model outside the
registry) over any `BatchSource`; it owns early stopping (`EarlyStopping`), the metrics log
(`MetricsLog`, the only writer of metrics.jsonl) and the checkpoint cadence. `train` gives it a
prepared data directory and a run directory: running the same command again resumes from
RUN_DIR/checkpoints/latest, and since the batches are a function of (seed, step), a resumed run
reproduces the losses of an uninterrupted one. A benchmark gives it its own batches and
`BestInMemory` instead of a run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from tqdm.auto import tqdm

from symbolic import models
from symbolic.data import fim
from symbolic.data.meta import (
    AudioMeta,
    Meta,
    PhrasesMeta,
    SegmentsMeta,
    encoding_mismatch,
    load_meta,
    read_meta,
    write_meta,
)
from symbolic.paths import folder_lock, output_folder, write_text_atomic
from symbolic.training import gan_steps, host_devices, parallel
from symbolic.training.checkpoint import CONFIG_FILE, META_FILE, TOKENIZER_FILE, Checkpoints
from symbolic.training.config import RunConfig, TrainConfig
from symbolic.training.event_files import EVENTS_DIR, TensorBoardLog
from symbolic.training.losses import OBJECTIVES, mean_metrics
from symbolic.training.optim import learning_rate_schedule, make_optimizer
from symbolic.training.sources import check_data_kind, load_data
from symbolic.training.state import TrainState, init_state
from symbolic.training.steps import Objective, eval_step, train_step

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
MIN_IMPROVEMENT = 1e-4  # nats: a smaller drop in validation NLL does not reset the patience

Batch = dict[str, np.ndarray]  # host arrays, leading axis the global batch


def with_vocab_size(config: RunConfig, meta: Meta) -> RunConfig:
    """The config with the model's vocabulary sized to the data set's (plus the FIM sentinels
    of `symbolic.data.fim` when train.fim_rate > 0); for segment data (fixed length, see
    `symbolic.data.segments`) also the model's and the batches' segment length."""
    if isinstance(meta, PhrasesMeta):  # piano rolls: the GAN's shape is the data's
        return gan_steps.with_phrase_shape(config, meta)
    if isinstance(meta, AudioMeta):  # features, not tokens: the input width is the data's
        return dataclasses.replace(
            config, model=dataclasses.replace(config.model, num_bins=meta.num_bins)
        )
    model = dataclasses.replace(config.model, vocab_size=meta.vocab_size)
    if not isinstance(meta, SegmentsMeta):
        vocab = model.vocab_size + fim.extra_vocab(config.train.fim_rate)
        return dataclasses.replace(config, model=dataclasses.replace(model, vocab_size=vocab))
    length = meta.segment_steps
    if hasattr(model, "seq_len"):
        model = dataclasses.replace(model, seq_len=length)
    train_cfg = dataclasses.replace(config.train, seq_len=length)
    return dataclasses.replace(config, model=model, train=train_cfg)


def prepare_run_dir(config: RunConfig, data_dir: Path, run_dir: Path) -> RunConfig:
    """Fill the vocabulary size from the data, check a resumed run matches, and copy the config,
    meta.json and tokenizer into RUN_DIR so that the run is self-contained. In a multi-host run
    process 0 alone checks and writes them (the others would race it on the same files)."""
    meta = load_meta(data_dir)
    check_data_kind(config, meta, data_dir)
    config = with_vocab_size(config, meta)
    if jax.process_index() != 0:
        return config
    output_folder(run_dir, create=True)
    if (run_dir / CONFIG_FILE).is_file():
        previous = RunConfig.load(run_dir / CONFIG_FILE)
        if (previous.model_name, previous.model) != (config.model_name, config.model):
            raise ValueError(
                f"{run_dir}: holds a different model ({previous.model_name}, "
                f"{previous.model}); use a new --workdir"
            )
        mismatch = encoding_mismatch(read_meta(run_dir / META_FILE), meta)
        if mismatch:
            raise ValueError(
                f"{run_dir}: was trained on other tokens than {data_dir} holds ({mismatch}); "
                "use a new --workdir"
            )
    config.save(run_dir / CONFIG_FILE)
    # + the FIM sentinel ids, if on
    write_meta(fim.run_meta(meta, config.train.fim_rate), run_dir / META_FILE)
    if (Path(data_dir) / TOKENIZER_FILE).is_file():  # segment data has a fixed encoding instead
        shutil.copyfile(Path(data_dir) / TOKENIZER_FILE, run_dir / TOKENIZER_FILE)
    return config


@dataclasses.dataclass
class Compiled:
    """The jitted steps and their shardings for one run."""

    train: Callable
    evaluate: Callable
    init: Callable
    mesh: jax.sharding.Mesh
    devices_chosen: str = "given by the caller"  # how the mesh's devices were chosen, for the log


def compile_steps(config: RunConfig, devices: list | None = None) -> Compiled:
    """Jit init/train/eval of `config`'s registered model and objective over a data-parallel
    mesh of `devices` (default: `host_devices.mesh_devices`); the model is initialised on
    [1, seq_len] int32 tokens, or on what its spec's `example_input` says (the transcriber's
    [1, seq_len, F] features)."""
    if config.train.remat:
        models.check_remat(config.model_name)
    if models.objective(config.model_name) == gan_steps.OBJECTIVE:  # two networks, one step
        devices, chosen = _mesh_devices(config.train.batch_size, devices)
        init, train, mesh = gan_steps.compile_gan(config, devices)
        return Compiled(train, gan_steps.no_evaluation, init, mesh, devices_chosen=chosen)
    model = models.build(config.model_name, config.model, remat=config.train.remat)
    objective = OBJECTIVES[models.objective(config.model_name)]
    example_input = models.spec(config.model_name).example_input
    if example_input is not None:
        example = example_input(config.model, config.train.seq_len)
    else:
        example = jax.ShapeDtypeStruct((1, config.train.seq_len), jnp.int32)
    return compile_model(model, objective, config.train, example, devices)


def _mesh_devices(batch_size: int, devices: list | None) -> tuple[list, str]:
    """`devices` if the caller gave them, else the engine's choice for `batch_size`."""
    if devices is not None:
        return devices, Compiled.devices_chosen
    return host_devices.mesh_devices(batch_size)


def compile_model(
    model: nn.Module,
    objective: Objective,
    tcfg: TrainConfig,
    example: jax.ShapeDtypeStruct,
    devices: list | None = None,
) -> Compiled:
    """Jit init/train/eval of any Flax `model` under `objective` (one of `OBJECTIVES`) with the
    library's optimizer; `example` is the shape and dtype of one model input, for init."""
    devices, chosen = _mesh_devices(tcfg.batch_size, devices)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(tcfg.batch_size, mesh)
    tx = make_optimizer(tcfg)
    rep, data = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    init = jax.jit(functools.partial(init_state, model, tx, tcfg.seed, example), out_shardings=rep)
    train = jax.jit(
        functools.partial(train_step, model=model, tx=tx, seed=tcfg.seed, objective=objective),
        in_shardings=(rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
    )
    evaluate = jax.jit(
        functools.partial(eval_step, model=model, objective=objective),
        in_shardings=(rep, data),
        out_shardings=rep,
    )
    return Compiled(train=train, evaluate=evaluate, init=init, mesh=mesh, devices_chosen=chosen)


def evaluate(compiled: Compiled, params, batches: Iterable[Batch]) -> dict:
    """Validation metrics summed over `batches` (host dicts), then averaged (nats per token)."""
    totals: dict[str, float] = {}
    for batch in batches:
        sums = compiled.evaluate(params, parallel.shard_batch(batch, compiled.mesh))
        for key, value in jax.device_get(sums).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    if not totals:  # callers name the split; this is the last guard before a KeyError
        raise ValueError("evaluate: no batches to score (an empty split)")
    return mean_metrics(totals)


class BatchSource(Protocol):
    """What `TrainLoop` trains on. `train_batch(step)` is asked once per step, in order, and
    should be a function of (seed, step) so that a resumed run sees the same batches."""

    def train_batch(self, step: int) -> Batch: ...

    def eval_batches(self) -> Iterable[Batch]:
        """The validation batches, each position scored once (padding masked out); none at
        all makes `TrainLoop` train without evaluation or early stopping."""
        ...


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Patience on validation NLL: `patience` evaluations in a row that do not beat the best by
    MIN_IMPROVEMENT stop the run (0 never stops). Saved in the latest checkpoint as `progress`."""

    patience: int
    best_nll: float | None = None
    best_step: int = 0
    evals_without_improvement: int = 0
    stopped_early: bool = False

    def observe(self, nll: float, step: int) -> EarlyStopping:
        """The record after an evaluation at `step`; `improved_at(step)` says if it was best."""
        if self.best_nll is None or nll < self.best_nll - MIN_IMPROVEMENT:
            return dataclasses.replace(
                self, best_nll=nll, best_step=step, evals_without_improvement=0
            )
        bad = self.evals_without_improvement + 1
        return dataclasses.replace(
            self, evals_without_improvement=bad, stopped_early=0 < self.patience <= bad
        )

    def improved_at(self, step: int) -> bool:
        return self.best_nll is not None and self.best_step == step

    def progress(self) -> dict:
        """The JSON record a checkpoint keeps (patience comes from the config on resume)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "patience"}

    @classmethod
    def from_progress(cls, patience: int, progress: dict) -> EarlyStopping:
        """Back from `progress()`; checkpoints from before `best_step` was kept lack it."""
        names = {f.name for f in dataclasses.fields(cls)} - {"patience"}
        return cls(patience, **{k: v for k, v in progress.items() if k in names})


class MetricsLog:
    """The one writer of a run's metrics.jsonl: one JSON record a line, appended to (by a resumed
    run and by `symbolic eval`). `records` holds this session's; with no path (a benchmark's
    in-memory run) that is all there is.

    The file is read tolerantly (`read_records`): a line that does not parse, such as a last line
    torn by a full disk, is skipped and reported in one line, and the first write of a session
    rewrites the file without it, so the new record never lands on the torn tail. A resume
    drops the records it replays: `rewind(step)` rewrites the file without the records after the
    restored step (those steps are trained and logged again), so every step is logged once.
    Rewrites are atomic (a temp file, then os.replace)."""

    def __init__(
        self,
        path: Path | None,
        *,
        warn: Callable[[str], None] | None = None,
        mirror: TensorBoardLog | None = None,
    ):
        self.path, self.records, self.mirror = path, [], mirror
        self.warn = warn or _warn_line
        self._checked = path is None  # the file is read (and repaired) before the first write

    @classmethod
    def of_run(cls, run_dir: Path, *, tensorboard: bool = False) -> MetricsLog:
        """The log of RUN_DIR; `tensorboard` also writes RUN_DIR/tensorboard event files."""
        mirror = TensorBoardLog(Path(run_dir) / EVENTS_DIR) if tensorboard else None
        return cls(Path(run_dir) / METRICS_FILE, mirror=mirror)

    def write(self, record: dict) -> None:
        if not self._checked:
            self.rewind(None)
        self.records.append(record)
        if self.mirror is not None:
            self.mirror.write(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        """Flush the TensorBoard events (the .jsonl is flushed at every write)."""
        if self.mirror is not None:
            self.mirror.close()

    def read_records(self) -> list[dict]:
        """Every readable record of the file ([] if there is none); unreadable lines are
        skipped and reported in one line."""
        if self.path is None or not self.path.is_file():
            return []
        return self._parse(self.path.read_text(errors="replace"))

    def _parse(self, text: str) -> list[dict]:
        records, bad = _parse_lines(text)
        if bad:
            torn_tail = bad == [len(text.splitlines())]
            where = "its last line" if torn_tail else f"{len(bad)} lines"
            self.warn(f"{self.path}: skipped {where}, torn or not JSON (an interrupted write)")
        return records

    def rewind(self, step: int | None) -> None:
        """Drop the records after `step` (the step a session restores; None keeps them all) and
        any unreadable line, rewriting the file only when something goes."""
        self.records = [r for r in self.records if not _after(r, step)]
        if self.mirror is not None:
            self.mirror.rewind(step)
        if self.path is None:
            return
        self._checked = True
        if not self.path.is_file():
            return
        text = self.path.read_text(errors="replace")
        kept = [r for r in self._parse(text) if not _after(r, step)]
        body = "".join(json.dumps(r) + "\n" for r in kept)
        if body != text:
            write_text_atomic(self.path, body)

    def recent_median(self, key: str, last: int = 20) -> float | None:
        """Median of `key` over the last `last` records that have it set; None if none do."""
        values = [r.get(key) for r in self.records[-last:]]
        values = [v for v in values if v]
        return float(np.median(values)) if values else None


def _warn_line(message: str) -> None:
    print(f"symbolic: warning: {message}", file=sys.stderr)


def _parse_lines(text: str) -> tuple[list[dict], list[int]]:
    """The JSON records of a .jsonl text, and the numbers (from 1) of the lines that are not
    one; blank lines are neither."""
    records, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif line.strip():
            bad.append(number)
    return records, bad


def _after(record: dict, step: int | None) -> bool:
    """Whether a resume at `step` replays `record`: any record of a later step (an eval record
    has no step and is kept)."""
    return step is not None and isinstance(record.get("step"), int) and record["step"] > step


class CheckpointSink(Protocol):
    """Where `TrainLoop` saves to and resumes from: `Checkpoints` (a run directory) or
    `BestInMemory`."""

    def restore_latest(self, abstract_state: Any) -> tuple[Any, dict] | None: ...

    def save_latest(self, step: int, state: Any, progress: dict) -> None: ...

    def save_best(self, step: int, params: Any, record: dict) -> None: ...


class BestInMemory:
    """A `CheckpointSink` without a run directory (benchmarks, notebooks): nothing to resume,
    and `params` is a host copy of the best validation parameters."""

    def __init__(self):
        self.params, self.record = None, None

    def restore_latest(self, abstract_state: Any) -> None:
        return None

    def save_latest(self, step: int, state: Any, progress: dict) -> None:
        """Nothing: a run without a directory is not resumed."""

    def save_best(self, step: int, params: Any, record: dict) -> None:
        # A host copy: the train step donates the state's buffers.
        self.params, self.record = jax.device_get(params), record


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one `TrainLoop.run` session ends with."""

    state: TrainState
    first_step: int  # > 0 when the session resumed
    last_loss: float  # the last logged train loss
    stopping: EarlyStopping
    compile_s: float
    wall_s: float
    tokens_per_s: float | None  # median over the session's last train records


def train(config: RunConfig, data_dir: Path, run_dir: Path, *, progress: bool = True) -> dict:
    """Train (or resume) `config` on DATA_DIR inside RUN_DIR; returns the run's summary.

    RUN_DIR is locked for the run (`folder_lock`): a second `train` on it is refused, not left
    to interleave the metrics and overwrite the checkpoints. Only process 0 of a multi-host run
    takes the lock and writes the run's files; the others write only their checkpoint shards
    (Orbax) into the same directory.
    """
    host_devices.configure()  # before jax.process_index() below starts the backend
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    output_folder(run_dir)  # a file there is an error before a lock file is made beside it
    lock = folder_lock(run_dir) if jax.process_index() == 0 else contextlib.nullcontext()
    with lock:
        return _train_locked(config, data_dir, run_dir, progress)


def _train_locked(config: RunConfig, data_dir: Path, run_dir: Path, progress: bool) -> dict:
    config = prepare_run_dir(config, data_dir, run_dir)
    data = load_data(data_dir, config, load_meta(data_dir))
    compiled = compile_steps(config)
    checkpoints = Checkpoints(run_dir)
    primary = jax.process_index() == 0  # the one writer of the run's log and summary
    log = MetricsLog.of_run(run_dir, tensorboard=True) if primary else MetricsLog(None)
    try:
        loop = TrainLoop(
            config.train,
            compiled,
            data,
            checkpoints,
            log,
            name=config.model_name,
            where=str(data_dir),
        )
        outcome = loop.run(progress)
    finally:
        checkpoints.close()
        log.close()
    summary = run_summary(config, outcome, data.baseline_nll(), compiled)
    if primary:
        (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run_summary(
    config: RunConfig, outcome: Outcome, unigram_valid_nll: float | None, compiled: Compiled
) -> dict:
    """summary.json of a run directory."""
    state = outcome.state
    return {
        "model": config.model_name,
        "steps": int(state.step),
        "steps_this_session": int(state.step) - outcome.first_step,
        "final_train_loss": outcome.last_loss,
        "best_valid_nll": outcome.stopping.best_nll,
        "unigram_valid_nll": unigram_valid_nll,
        "stopped_early": outcome.stopping.stopped_early,
        "tokens_per_s": outcome.tokens_per_s,
        "compile_s": outcome.compile_s,
        "wall_s": outcome.wall_s,
        **device_record(compiled),
        "num_params": num_params(state.params),
    }


def device_record(compiled: Compiled) -> dict:
    """The devices a run's batch is split over and how they were chosen (summary, start log)."""
    devices = compiled.mesh.devices.flat
    return {
        "devices": [str(d) for d in devices],
        "device_count": compiled.mesh.size,
        "devices_chosen": compiled.devices_chosen,
    }


def num_params(params) -> int:
    return int(sum(x.size for x in jax.tree.leaves(params)))


def _latent_record(metrics: dict) -> dict:
    """A VAE's KL annealing weight and KL nats per segment for the train log; {} for LMs."""
    if "kl_sum" not in metrics:
        return {}
    segments = max(float(metrics["segment_count"]), 1.0)
    return {"beta": float(metrics["beta"]), "kl": float(metrics["kl_sum"]) / segments}


class Diverged(RuntimeError):
    """The train loss or gradient norm became NaN or infinite."""


def _check_finite(step: int, metrics: dict) -> None:
    """Diverged at `step` unless its loss and gradient norm are finite. Called where the loop
    already waits for the device (a log or checkpoint step), so no step waits for this alone;
    parameters that went NaN keep the loss NaN, so a later check still sees it."""
    for key in ("loss", "grad_norm"):
        value = float(metrics[key])
        if not math.isfinite(value):
            raise Diverged(
                f"step {step}: train {key} is {value}; stopped, the last checkpoint is kept "
                f"(try a lower train.learning_rate)"
            )


class TrainLoop:
    """One training session over a batch source: the jitted steps, train and valid records in
    `log` every `log_every` / `eval_every` steps, early stopping, and `checkpoints` saved every
    `checkpoint_every` steps (and the best parameters at each improvement). `echo` prints the
    one-line validation summaries."""

    def __init__(
        self,
        tcfg: TrainConfig,
        compiled: Compiled,
        data: BatchSource,
        checkpoints: CheckpointSink,
        log: MetricsLog,
        *,
        echo: Callable[[str], None] = tqdm.write,
        name: str = "",
        where: str = "the batch source",
    ):
        self.tcfg, self.compiled, self.data = tcfg, compiled, data
        self.checkpoints, self.log, self.echo, self.name = checkpoints, log, echo, name
        self.where = where  # names the data in the one-line notes
        self.lr = learning_rate_schedule(tcfg)
        self.stopping = EarlyStopping(tcfg.patience)
        self.validates = True

    def run(self, show_progress: bool = False) -> Outcome:
        """Train from the latest checkpoint (or from init) to `steps` or an early stop."""
        tcfg, started = self.tcfg, time.time()
        state = self._restore_or_init()
        self.validates = self._has_validation()
        first_step = int(state.step)
        first_batch = self.data.train_batch(first_step)
        compile_s = self._compile_train(state, first_batch)
        bar = tqdm(
            total=tcfg.steps,
            initial=first_step,
            disable=not show_progress,
            desc=f"train {self.name}",
            unit="step",
            dynamic_ncols=True,
        )
        self._window = (time.time(), first_step)  # throughput since the last train record
        step, metrics, last_loss = first_step, None, float("nan")
        while step < tcfg.steps and not self.stopping.stopped_early:
            batch = first_batch if step == first_step else self.data.train_batch(step)
            previous = metrics
            state, metrics = self.compiled.train(
                state, parallel.shard_batch(batch, self.compiled.mesh)
            )
            # At most two steps in flight: deeper async queues deadlock XLA:CPU's in-process
            # all-reduce across forced host devices, and one step of overlap hides dispatch.
            jax.block_until_ready(previous)
            step += 1
            bar.update(1)
            if step % tcfg.log_every == 0 or step == tcfg.steps:
                last_loss = self._log_train(step, metrics, bar)
            if self.validates and (step % tcfg.eval_every == 0 or step == tcfg.steps):
                self._evaluate(state, step)
            if (
                step % tcfg.checkpoint_every == 0
                or step == tcfg.steps
                or self.stopping.stopped_early
            ):
                _check_finite(step, metrics)  # never save a diverged state over a good one
                self.checkpoints.save_latest(step, state, self.stopping.progress())
        bar.close()
        tokens_per_s = self.log.recent_median("tokens_per_s")
        wall_s = time.time() - started
        return Outcome(state, first_step, last_loss, self.stopping, compile_s, wall_s, tokens_per_s)

    def _restore_or_init(self) -> TrainState:
        abstract = jax.eval_shape(self.compiled.init)
        restored = self.checkpoints.restore_latest(abstract)
        if restored is None:
            self.log.rewind(0)  # a run killed before its first checkpoint starts over
            self.log.write(
                {"event": "start", "step": 0, "time": time.time(), **device_record(self.compiled)}
            )
            return self.compiled.init()
        state, progress = restored
        self.stopping = EarlyStopping.from_progress(self.tcfg.patience, progress)
        self.log.rewind(int(state.step))  # the steps after it are trained and logged again
        resumed = {"event": "resume", "step": int(state.step), "time": time.time()}
        self.log.write({**resumed, **device_record(self.compiled)})
        return state

    def _has_validation(self) -> bool:
        """Whether the source has a validation batch; without one (a split left empty by a
        tiny data set) the run trains to `steps` with no early stopping and no best
        checkpoint, generation falling back to the latest, and says so once."""
        if not getattr(self.data, "validates", True):  # a GAN: no likelihood to validate
            return False
        if next(iter(self.data.eval_batches()), None) is not None:
            return True
        self.echo(
            f"{self.where}: no validation data (the valid split is empty): training without "
            f"evaluation or early stopping; generation will use checkpoints/latest"
        )
        return False

    def _compile_train(self, state: TrainState, batch: Batch) -> float:
        """Compile the train step ahead of time, so compile time is reported on its own."""
        start = time.time()
        self.compiled.train = self.compiled.train.lower(
            state, parallel.shard_batch(batch, self.compiled.mesh)
        ).compile()
        return time.time() - start

    def _log_train(self, step: int, metrics: dict, bar: tqdm) -> float:
        """Write a train record; returns its loss."""
        loss = float(metrics["loss"])  # waits for the device
        _check_finite(step, metrics)
        window_start, window_step = self._window
        tokens = (step - window_step) * self.tcfg.batch_size * self.tcfg.seq_len
        tokens_per_s = tokens / (time.time() - window_start)
        self.log.write(
            {
                "step": step,
                "split": "train",
                "loss": loss,
                "grad_norm": float(metrics["grad_norm"]),
                "lr": float(self.lr(step - 1)),
                "tokens_per_s": tokens_per_s,
                **_latent_record(metrics),
                # a step's own figures (the GAN's D and G losses, EB, QN): logged and shown
                **{k: float(v) for k, v in metrics.get("log", {}).items()},
            }
        )
        if "log" in metrics:
            shown = {k: v for k, v in self.log.records[-1].items() if k.endswith("_loss")}
            bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()})
        else:
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s:,.0f}")
        self._window = (time.time(), step)
        return loss

    def _evaluate(self, state: TrainState, step: int) -> None:
        metrics = evaluate(self.compiled, state.params, self.data.eval_batches())
        self.stopping = self.stopping.observe(metrics["nll"], step)
        best = self.stopping.best_nll
        if self.stopping.improved_at(step):
            self.checkpoints.save_best(step, state.params, {"step": step, **metrics})
        self.log.write({"step": step, "split": "valid", **metrics, "best_nll": best})
        self.echo(
            f"step {step}: valid nll {metrics['nll']:.4f} (best {best:.4f} at step "
            f"{self.stopping.best_step}, accuracy {metrics['accuracy']:.3f})"
        )
