"""The training loop: wires config, data, jitted steps, checkpoints and metrics together.

Running the same command again resumes from RUN_DIR/checkpoints/latest; the batches are a function
of (seed, step), so a resumed run reproduces the losses of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from symbolic import models
from symbolic.data import fim
from symbolic.data import segments as segments_lib
from symbolic.data.batches import Split, eval_batches, load_meta, load_split, train_batch
from symbolic.train import parallel
from symbolic.train.baselines import unigram_nll
from symbolic.train.checkpoint import CONFIG_FILE, META_FILE, TOKENIZER_FILE, Checkpoints
from symbolic.train.config import RunConfig
from symbolic.train.losses import OBJECTIVES, mean_metrics
from symbolic.train.optim import learning_rate_schedule, make_optimizer
from symbolic.train.state import init_state
from symbolic.train.steps import eval_step, train_step

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def with_vocab_size(config: RunConfig, meta: dict) -> RunConfig:
    """The config with the model's vocabulary sized to the data set's (plus the FIM sentinels
    of `symbolic.data.fim` when train.fim_rate > 0); for segment data (fixed length, see
    `symbolic.data.segments`) also the model's and the batches' segment length."""
    model = dataclasses.replace(config.model, vocab_size=int(meta["vocab_size"]))
    if meta.get("kind") != segments_lib.SEGMENTS_KIND:
        vocab = model.vocab_size + fim.extra_vocab(config.train.fim_rate)
        return dataclasses.replace(config, model=dataclasses.replace(model, vocab_size=vocab))
    length = int(meta["segment_steps"])
    if hasattr(model, "seq_len"):
        model = dataclasses.replace(model, seq_len=length)
    train_cfg = dataclasses.replace(config.train, seq_len=length)
    return dataclasses.replace(config, model=model, train=train_cfg)


def prepare_run_dir(config: RunConfig, data_dir: Path, run_dir: Path) -> RunConfig:
    """Fill the vocabulary size from the data, check a resumed run matches, and copy the config,
    meta.json and tokenizer into RUN_DIR so that the run is self-contained."""
    meta = load_meta(data_dir)
    config = with_vocab_size(config, meta)
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / CONFIG_FILE).is_file():
        previous = RunConfig.load(run_dir / CONFIG_FILE)
        if (previous.model_name, previous.model) != (config.model_name, config.model):
            raise ValueError(
                f"{run_dir}: holds a different model ({previous.model_name}, "
                f"{previous.model}); use a new --workdir"
            )
        old_meta = json.loads((run_dir / META_FILE).read_text())
        if old_meta.get("tokenizer_hash") != meta.get("tokenizer_hash"):
            raise ValueError(f"{run_dir}: was trained with another tokenizer than {data_dir}")
    config.save(run_dir / CONFIG_FILE)
    run_meta = fim.run_meta(meta, config.train.fim_rate)  # + the FIM sentinel ids, if on
    (run_dir / META_FILE).write_text(json.dumps(run_meta, indent=1) + "\n")
    if (Path(data_dir) / TOKENIZER_FILE).is_file():  # segment data has a fixed encoding instead
        shutil.copyfile(Path(data_dir) / TOKENIZER_FILE, run_dir / TOKENIZER_FILE)
    return config


@dataclasses.dataclass
class Compiled:
    """The jitted steps and their shardings for one run."""

    train: callable
    evaluate: callable
    init: callable
    mesh: jax.sharding.Mesh


def compile_steps(config: RunConfig, devices: list | None = None) -> Compiled:
    """Jit init/train/eval over a data-parallel mesh of `devices` (default: all)."""
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.train.batch_size, mesh)
    model, tx = models.build(config.model_name, config.model), make_optimizer(config.train)
    objective = OBJECTIVES[models.objective(config.model_name)]
    rep, data = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    tcfg = config.train
    init = jax.jit(
        functools.partial(init_state, model, tx, tcfg.seed, 1, tcfg.seq_len), out_shardings=rep
    )
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
    return Compiled(train=train, evaluate=evaluate, init=init, mesh=mesh)


def evaluate(compiled: Compiled, params, batches) -> dict:
    """Validation metrics summed over `batches` (host dicts), then averaged (nats per token)."""
    totals: dict[str, float] = {}
    for batch in batches:
        sums = compiled.evaluate(params, parallel.shard_batch(batch, compiled.mesh))
        for key, value in jax.device_get(sums).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    return mean_metrics(totals)


class TokenData:
    """A `symbolic prepare` directory: random windows of the token stream (language models)."""

    def __init__(self, data_dir: Path, config: RunConfig, meta: dict):
        self.config, self.pad_id = config, int(meta["special_ids"]["pad"])
        self.splits = {name: load_split(data_dir, name) for name in ("train", "valid")}
        self.fim = fim_tokens(data_dir, meta) if config.train.fim_rate > 0 else None

    def train_batch(self, step: int) -> dict:
        tcfg = self.config.train
        batch = train_batch(self.splits["train"], tcfg.batch_size, tcfg.seq_len, tcfg.seed, step)
        if self.fim is None:
            return batch
        return fim.fim_batch(batch, self.fim, tcfg.fim_rate, tcfg.seed, step)

    def eval_batches(self):
        tcfg = self.config.train
        return eval_batches(
            self.splits["valid"], tcfg.batch_size, tcfg.seq_len, tcfg.eval_max_windows, self.pad_id
        )

    def baseline_nll(self) -> float:
        return baseline_nll(self.splits["train"], self.splits["valid"], self.config)


def fim_tokens(data_dir: Path, meta: dict) -> fim.FimTokens:
    """The FIM sentinel ids after DATA_DIR's vocabulary, and its Bar and EOS ids."""
    from symbolic import tokenization  # miditok only for FIM runs

    tokenizer = tokenization.load_tokenizer(Path(data_dir) / TOKENIZER_FILE)
    if "Bar_None" not in tokenizer.vocab:
        raise ValueError(f"{data_dir}: train.fim_rate needs a tokenizer with Bar tokens (REMI)")
    eos = int(meta["special_ids"]["eos"])
    return fim.FimTokens.for_vocab(int(meta["vocab_size"]), tokenizer.vocab["Bar_None"], eos)


class SegmentData:
    """A `symbolic vae prepare` directory: whole fixed-length segments [N, T] per batch row."""

    def __init__(self, data_dir: Path, config: RunConfig, meta: dict):
        self.config = config
        self.splits = {
            name: segments_lib.load_segments(data_dir, name)["segments"]
            for name in ("train", "valid")
        }

    def train_batch(self, step: int) -> dict:
        tcfg = self.config.train
        return segments_lib.segment_train_batch(
            self.splits["train"], tcfg.batch_size, tcfg.seed, step
        )

    def eval_batches(self):
        return segments_lib.segment_eval_batches(
            self.splits["valid"], self.config.train.batch_size, self.config.train.eval_max_windows
        )

    def baseline_nll(self) -> float:
        train, valid = self.splits["train"].ravel(), self.splits["valid"].ravel()
        return unigram_nll(train, valid, self.config.model.vocab_size)


def load_data(data_dir: Path, config: RunConfig, meta: dict) -> TokenData | SegmentData:
    """The batch source for a prepared directory, by the kind its meta.json declares."""
    if meta.get("kind") == segments_lib.SEGMENTS_KIND:
        return SegmentData(data_dir, config, meta)
    return TokenData(data_dir, config, meta)


def baseline_nll(train: Split, valid: Split, config: RunConfig) -> float:
    """Unigram NLL over exactly the validation targets the model is scored on."""
    tcfg = config.train
    num_targets = len(valid.tokens) - 1
    if tcfg.eval_max_windows > 0:
        num_targets = min(num_targets, tcfg.eval_max_windows * tcfg.seq_len)
    return unigram_nll(train.tokens, valid.tokens[1 : 1 + num_targets], config.model.vocab_size)


def _latent_record(metrics: dict) -> dict:
    """A VAE's KL annealing weight and KL nats per segment for the train log; {} for LMs."""
    if "kl_sum" not in metrics:
        return {}
    segments = max(float(metrics["segment_count"]), 1.0)
    return {"beta": float(metrics["beta"]), "kl": float(metrics["kl_sum"]) / segments}


class MetricsLog:
    """Append-only JSONL metrics file (appended to on resume)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def train(config: RunConfig, data_dir: Path, run_dir: Path, *, progress: bool = True) -> dict:
    """Train (or resume) `config` on DATA_DIR inside RUN_DIR; returns the run's summary."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    config = prepare_run_dir(config, data_dir, run_dir)
    data = load_data(data_dir, config, load_meta(data_dir))
    compiled = compile_steps(config)
    checkpoints = Checkpoints(run_dir)
    try:
        loop = TrainLoop(config, compiled, checkpoints, data, run_dir)
        return loop.run(progress)
    finally:
        checkpoints.close()


class TrainLoop:
    """State of one training run between steps: early stopping, logging, checkpoint cadence."""

    def __init__(self, config, compiled, checkpoints, data, run_dir):
        self.config, self.compiled, self.checkpoints = config, compiled, checkpoints
        self.data, self.run_dir = data, run_dir
        self.log = MetricsLog(run_dir / METRICS_FILE)
        self.lr = learning_rate_schedule(config.train)
        self.progress = {"best_nll": None, "evals_without_improvement": 0, "stopped_early": False}

    def restore_or_init(self):
        abstract = jax.eval_shape(self.compiled.init)
        restored = self.checkpoints.restore_latest(abstract)
        if restored is None:
            self.log.write({"event": "start", "step": 0, "time": time.time()})
            return self.compiled.init()
        state, self.progress = restored
        self.log.write({"event": "resume", "step": int(state.step), "time": time.time()})
        return state

    def run(self, show_progress: bool) -> dict:
        tcfg = self.config.train
        started = time.time()
        state = self.restore_or_init()
        first_step = int(state.step)
        compile_s = self._compile_train(state)
        bar = tqdm(
            total=tcfg.steps,
            initial=first_step,
            disable=not show_progress,
            desc=f"train {self.config.model_name}",
            unit="step",
            dynamic_ncols=True,
        )
        window_start, window_tokens, last_loss = time.time(), 0, float("nan")
        step, metrics = first_step, None
        while step < tcfg.steps and not self.progress["stopped_early"]:
            batch = self.data.train_batch(step)
            previous = metrics
            state, metrics = self.compiled.train(
                state, parallel.shard_batch(batch, self.compiled.mesh)
            )
            # At most two steps in flight: deeper async queues deadlock XLA:CPU's in-process
            # all-reduce across forced host devices, and one step of overlap hides dispatch.
            jax.block_until_ready(previous)
            step += 1
            window_tokens += tcfg.batch_size * tcfg.seq_len
            bar.update(1)
            if step % tcfg.log_every == 0 or step == tcfg.steps:
                last_loss = float(metrics["loss"])  # waits for the device
                tokens_per_s = window_tokens / (time.time() - window_start)
                self.log.write(
                    {
                        "step": step,
                        "split": "train",
                        "loss": last_loss,
                        "grad_norm": float(metrics["grad_norm"]),
                        "lr": float(self.lr(step - 1)),
                        "tokens_per_s": tokens_per_s,
                        **_latent_record(metrics),
                    }
                )
                bar.set_postfix(loss=f"{last_loss:.3f}", tok_s=f"{tokens_per_s:,.0f}")
                window_start, window_tokens = time.time(), 0
            if step % tcfg.eval_every == 0 or step == tcfg.steps:
                self._evaluate(state, step)
            if (
                step % tcfg.checkpoint_every == 0
                or step == tcfg.steps
                or self.progress["stopped_early"]
            ):
                self.checkpoints.save_latest(step, state, self.progress)
        bar.close()
        return self._summary(state, first_step, started, compile_s, last_loss)

    def _compile_train(self, state) -> float:
        """Compile the train step ahead of time, so compile time is reported on its own."""
        batch = self.data.train_batch(0)
        start = time.time()
        self.compiled.train = self.compiled.train.lower(
            state, parallel.shard_batch(batch, self.compiled.mesh)
        ).compile()
        return time.time() - start

    def _evaluate(self, state, step: int) -> None:
        metrics = evaluate(self.compiled, state.params, self.data.eval_batches())
        best = self.progress["best_nll"]
        if best is None or metrics["nll"] < best - 1e-4:
            self.progress.update(best_nll=metrics["nll"], evals_without_improvement=0)
            self.checkpoints.save_best(step, state.params, {"step": step, **metrics})
        else:
            self.progress["evals_without_improvement"] += 1
            patience = self.config.train.patience
            if patience > 0 and self.progress["evals_without_improvement"] >= patience:
                self.progress["stopped_early"] = True
        self.log.write(
            {"step": step, "split": "valid", **metrics, "best_nll": self.progress["best_nll"]}
        )
        tqdm.write(
            f"step {step}: valid nll {metrics['nll']:.4f} "
            f"(best {self.progress['best_nll']:.4f}, accuracy {metrics['accuracy']:.3f})"
        )

    def _summary(self, state, first_step, started, compile_s, last_loss) -> dict:
        steps_done = int(state.step) - first_step
        tokens_per_s = [
            json.loads(line).get("tokens_per_s")
            for line in (self.run_dir / METRICS_FILE).read_text().splitlines()[-20:]
        ]
        tokens_per_s = [t for t in tokens_per_s if t]
        summary = {
            "model": self.config.model_name,
            "steps": int(state.step),
            "steps_this_session": steps_done,
            "final_train_loss": last_loss,
            "best_valid_nll": self.progress["best_nll"],
            "unigram_valid_nll": self.data.baseline_nll(),
            "stopped_early": self.progress["stopped_early"],
            "tokens_per_s": float(np.median(tokens_per_s)) if tokens_per_s else None,
            "compile_s": compile_s,
            "wall_s": time.time() - started,
            "devices": [str(d) for d in jax.devices()],
            "num_params": int(sum(x.size for x in jax.tree.leaves(state.params))),
        }
        (self.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        return summary
