"""symbolic: MIDI-first music sequence modelling on JAX.

Data flows one way: MIDI -> tokens -> arrays -> model -> tokens -> MIDI -> audio. The public API,
the same functions the `symbolic` command calls::

    import symbolic
    run = symbolic.load_run("demo/run")                       # a Transformer, LSTM or VAE run
    scores = run.sample(num=4, max_tokens=255, top_p=0.95, seed=0)   # -> list[symusic.Score]
    paths = symbolic.write_midi(scores, "out")                # -> list[Path] of .mid files
    symbolic.render(paths[0], "out/sample_000.wav")           # FluidSynth

    meta = symbolic.prepare("data_manifests/bach_chorales.json", "remi", "data")
    summary = symbolic.train("data", "runs/transformer", preset="demo", steps=600)
    found = symbolic.analyze("song.mid")    # key, beats, chords, melody track, sections
    index = symbolic.index("my_midi/", "my_midi.index")      # "more like this" over a folder
    found = symbolic.similar("query.mid", "my_midi.index", k=10)   # -> [(file, score), ...]
    symbolic.serve(["demo/run"], port=8000)   # the web studio at http://127.0.0.1:8000/

Names are imported on first use, so `import symbolic` stays fast and does not load jax.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symusic import Score

    from symbolic.analysis import analyze
    from symbolic.data.prepare import prepare
    from symbolic.generation.run import LMRun
    from symbolic.generation.settings import Controls, Sampling
    from symbolic.output.render import render
    from symbolic.retrieval.build import build_index as index
    from symbolic.retrieval.build import similar
    from symbolic.retrieval.index import load_index
    from symbolic.studio.app import serve
    from symbolic.training.config import RunConfig
    from symbolic.vae.run import VAERun

__version__ = "0.1.0"

# name -> (module, attribute): imported on first access by `__getattr__`.
_LAZY = {
    "Sampling": ("symbolic.generation.settings", "Sampling"),
    "Controls": ("symbolic.generation.settings", "Controls"),
    "prepare": ("symbolic.data.prepare", "prepare"),
    "render": ("symbolic.output.render", "render"),
    "analyze": ("symbolic.analysis", "analyze"),
    "index": ("symbolic.retrieval.build", "build_index"),
    "similar": ("symbolic.retrieval.build", "similar"),
    "load_index": ("symbolic.retrieval.index", "load_index"),
    "serve": ("symbolic.studio.app", "serve"),
}

__all__ = [
    "Controls",
    "Sampling",
    "__version__",
    "analyze",
    "index",
    "load_index",
    "load_run",
    "prepare",
    "render",
    "serve",
    "similar",
    "train",
    "write_midi",
]


def load_run(path: str | Path) -> LMRun | VAERun:
    """The trained run in directory `path`, best checkpoint: a `symbolic.generation.run.LMRun`
    for a Transformer or LSTM (`sample`, `continue_from`, `infill`, `tokenizer`), or a
    `symbolic.vae.run.VAERun` for a VAE (`encode`, `decode`, `sample`, `interpolate`), or a
    `symbolic.gan.run.GANRun` for a GAN (`sample`, `interpolate`, `accompany`); a transcriber
    run gives a `symbolic.transcription.run.TranscriberRun` (`transcribe`, `continue_with`).

    Raises:
        FileNotFoundError: `path` is not a run directory (no config.json) or has no checkpoint.
    """
    from symbolic.training import checkpoint
    from symbolic.training.config import RunConfig

    config_path = Path(path) / checkpoint.CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no {checkpoint.CONFIG_FILE})")
    if RunConfig.load(config_path).model_name == "vae":
        from symbolic.vae.run import load_vae

        return load_vae(path)
    if RunConfig.load(config_path).model_name == "gan":
        from symbolic.gan.run import load_gan

        return load_gan(path)
    if RunConfig.load(config_path).model_name == "transcriber":
        from symbolic.transcription.run import load_transcriber

        return load_transcriber(path)
    from symbolic.generation.run import load_lm_run

    return load_lm_run(path)


def write_midi(scores: list[Score], out_dir: str | Path, **options: Any) -> list[Path]:
    """Write each `symusic.Score` as OUT_DIR/sample_NNN.mid, a DAW-ready type-1 MIDI file;
    OUT_DIR (a str or Path) is created. Options: key="D minor" (the key signature; else
    estimated), monophonic=True, plot=True (a piano-roll PNG beside each). -> the MIDI paths."""
    from symbolic.generation.generate import write_midi as write

    return write(scores, out_dir, **options)


def train(
    data_dir: str | Path,
    workdir: str | Path,
    *,
    model: str = "transformer",
    preset: str = "demo",
    overrides: Sequence[str] = (),
    steps: int | None = None,
    config: RunConfig | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) a run on DATA_DIR (a `prepare` output) into WORKDIR, as `symbolic train`.

    The config is `config` if given, else the named `preset` for `model` with `overrides`
    (``["model.d_model=64", "train.seq_len=128"]``, like ``--set``) and `steps`. Running the same
    call again resumes from WORKDIR's last checkpoint. Returns the run's summary (validation NLL,
    tokens/s, ...), which is also WORKDIR/summary.json.
    """
    from symbolic.training import config as config_lib
    from symbolic.training.trainer import train as train_run

    if config is None:
        config = config_lib.resolve(model, preset, list(overrides), steps=steps)
    return train_run(config, Path(data_dir), Path(workdir), progress=progress)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
