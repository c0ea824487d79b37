"""Model registry: one `ModelSpec` per model family, read by `train --model`, config resolution,
the trainer and the checkpoint loader, so that adding a family is one entry here plus its module.

Every model module exports the same small surface:

- a frozen config dataclass (a preset's section named after the family overrides its fields);
- a Flax module class: `Module(config)(tokens [B, T] int32, *, train) -> logits [B, T, V] float32`;
- if it decodes incrementally, `init_decode_state(config, params, batch_size) -> state` (a KV
  cache, or LSTM carries) and `decode_step(config, params, state, tokens [B] int32) ->
  (logits [B, V] float32, state)`. The VAE decodes whole segments from a latent instead
  (`vae.sample`). The transcriber reads features [B, T, F] float32 and returns a dict of
  per-key logits; its spec's `example_input` gives init that input's shape.

Models import only jax, flax and numpy: no I/O, no tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from flax import linen as nn

from symbolic.models import gan, lstm, transcriber, transformer, vae


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the engine needs to know about one model family."""

    name: str  # `train --model NAME`, the preset section and config.json's model_name
    config_class: type  # frozen dataclass of hyper-parameters
    module_class: type[nn.Module]
    module: ModuleType  # holds init_decode_state / decode_step when `incremental`
    objective: str  # a key of `symbolic.training.losses.OBJECTIVES`: "lm", "elbo", ...
    incremental: bool  # decodes token by token (the sampler and beam search need this)
    # (config, seq_len) -> jax.ShapeDtypeStruct of one model input for init; None: [1, seq_len]
    # int32 tokens (the transcriber reads [1, T, F] float32 features instead)
    example_input: Callable | None = None
    # The module takes a `remat` attribute (gradient checkpointing, `train.remat`): the same
    # parameters and math, activations recomputed in the backward pass instead of stored.
    remat: bool = False


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "transformer",
        transformer.TransformerConfig,
        transformer.TransformerLM,
        transformer,
        "lm",
        incremental=True,
        remat=True,
    ),
    ModelSpec("lstm", lstm.LSTMConfig, lstm.LSTMLM, lstm, "lm", incremental=True),
    ModelSpec("vae", vae.VAEConfig, vae.MusicVAE, vae, "elbo", incremental=False),
    ModelSpec(
        "transcriber",
        transcriber.TranscriberConfig,
        transcriber.Transcriber,
        transcriber,
        "transcription",
        incremental=False,
        example_input=transcriber.example_input,
    ),
    # Two networks trained against each other: its steps are `symbolic.training.gan_steps`.
    ModelSpec("gan", gan.GANConfig, gan.MuseGAN, gan, "gan", incremental=False),
)
_BY_NAME = {spec.name: spec for spec in SPECS}


def names() -> list[str]:
    """The registered model names, sorted (the choices of `train --model`)."""
    return sorted(_BY_NAME)


def spec(name: str) -> ModelSpec:
    """The spec of model `name`; a one-line error names the known models."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown model {name!r}; choose from {names()}")
    return _BY_NAME[name]


def decoder(name: str) -> ModuleType:
    """The module whose `init_decode_state` / `decode_step` sample model `name` token by token."""
    found = spec(name)
    if not found.incremental:
        raise ValueError(
            f"model {name!r} does not decode token by token (try `symbolic vae sample`)"
        )
    return found.module


def build(name: str, config, *, remat: bool = False) -> nn.Module:
    """The Flax module for model `name` configured by `config` (an instance of its config_class).

    `remat` checkpoints each block (`train.remat`: less memory, one more forward pass in the
    backward pass); only families whose spec says `remat` support it, the others raise."""
    if not remat:
        return spec(name).module_class(config)
    check_remat(name)
    return spec(name).module_class(config, remat=True)


def check_remat(name: str) -> None:
    """A one-line error unless model `name` supports gradient checkpointing (`train.remat`)."""
    if not spec(name).remat:
        supported = sorted(s.name for s in SPECS if s.remat)
        raise ValueError(f"train.remat: model {name!r} does not support it; only {supported} do")


def objective(name: str) -> str:
    """Model `name`'s training objective: a key of `symbolic.training.losses.OBJECTIVES`."""
    return spec(name).objective
