"""Time our own training step (the trainer's jitted step) on prepared token arrays."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from symbolic.data.batches import load_split, train_batch
from symbolic.data.meta import load_meta
from symbolic.training import config as config_lib
from symbolic.training import parallel
from symbolic.training.trainer import compile_steps, with_vocab_size

MANIFEST = Path(__file__).resolve().parents[2] / "data_manifests" / "bach_chorales.json"
DEFAULT_DATA = Path.home() / ".cache" / "symbolic" / "bench_data"


def ensure_data(data_dir: Path | None) -> Path:
    """A prepared REMI Bach data set: `data_dir` if given, else prepared once into the cache."""
    if data_dir is not None:
        return Path(data_dir)
    if not (DEFAULT_DATA / "meta.json").is_file():
        from symbolic.data.prepare import prepare

        prepare(MANIFEST, "remi", DEFAULT_DATA, progress=False)
    return DEFAULT_DATA


def default_dtype() -> str:
    """bfloat16 activations on accelerators, float32 on CPU (XLA:CPU has no fast bf16 matmul)."""
    import jax

    return "float32" if jax.default_backend() == "cpu" else "bfloat16"


def bench_config(
    model: str, data_dir: Path, dtype: str, overrides: list[str] = (), preset: str = "demo"
):
    """The `preset` (demo, base) for `model`, sized to the data's vocabulary, dropout as trained."""
    cfg = config_lib.resolve(model, preset, [f"model.dtype={dtype}", *overrides])
    return with_vocab_size(cfg, load_meta(data_dir))


def time_training(cfg, data_dir: Path, steps: int, warmup: int = 2, devices=None) -> dict:
    """Compile and run `warmup + steps` train steps; time the last `steps`.

    At most two steps are in flight (we block on the previous step's metrics), as in
    `TrainLoop.run`: deeper async queues deadlock XLA:CPU's all-reduce across forced host devices.
    """
    import jax

    split = load_split(data_dir, "train")
    tcfg = cfg.train
    compiled = compile_steps(cfg, devices)
    state = compiled.init()

    def batch(step: int):
        host = train_batch(split, tcfg.batch_size, tcfg.seq_len, tcfg.seed, step)
        return parallel.shard_batch(host, compiled.mesh)

    start = time.perf_counter()
    train = compiled.train.lower(state, batch(0)).compile()
    compile_s = time.perf_counter() - start
    xla_flops = _xla_flops(train)
    metrics, started = None, None
    for step in range(warmup + steps):
        if step == warmup:
            jax.block_until_ready(metrics)
            started, cpu_started = time.perf_counter(), time.process_time()
        previous = metrics
        state, metrics = train(state, batch(step))
        jax.block_until_ready(previous)
    jax.block_until_ready((state, metrics))
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    tokens = steps * tcfg.batch_size * tcfg.seq_len
    return {
        "tokens_per_s": tokens / elapsed,
        "step_ms": 1000.0 * elapsed / steps,
        "cpu_ms_per_step": 1000.0 * cpu_s / steps,
        "compile_s": compile_s,
        "xla_flops_per_step": xla_flops,
        "num_params": int(sum(x.size for x in jax.tree.leaves(state.params))),
        "final_loss": float(metrics["loss"]),
        "num_devices": len(compiled.mesh.devices.flat),
    }


def _xla_flops(compiled) -> float | None:
    """XLA's own FLOP count for one compiled step (None where the backend gives none)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - cost analysis is best-effort on some backends
        return None
    if isinstance(analysis, list):  # older jax returned one dict per device program
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops else None


def model_shape(cfg) -> dict:
    """The architecture sizes the peers copy (plain dict of ints)."""
    return {**dataclasses.asdict(cfg.model), **dataclasses.asdict(cfg.train)}
