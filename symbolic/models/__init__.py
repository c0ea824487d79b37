"""Model registry. Every model module exports the same small surface:

- a Flax module class: `Module(config)(tokens [B, T] int32, *, train) -> logits [B, T, V] float32`
- `init_decode_state(config, params, batch_size) -> state` (a KV cache, or LSTM carries)
- `decode_step(config, params, state, tokens [B] int32) -> (logits [B, V] float32, state)`

and is registered with the name of its training objective in `symbolic.train.losses.OBJECTIVES`
("lm": next-token cross-entropy; "elbo": the VAE's reconstruction + beta * KL). The VAE decodes
whole segments from a latent instead (`vae.sample`).

Models import only jax, flax and numpy: no I/O, no tokenizer.
"""

from __future__ import annotations

from types import ModuleType

from flax import linen as nn

from symbolic.models import lstm, transformer, vae

_REGISTRY: dict[str, tuple[ModuleType, type[nn.Module], str]] = {
    "transformer": (transformer, transformer.TransformerLM, "lm"),
    "lstm": (lstm, lstm.LSTMLM, "lm"),
    "vae": (vae, vae.MusicVAE, "elbo"),
}


def get(name: str) -> ModuleType:
    """The module implementing model `name` (for init_decode_state / decode_step)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(_REGISTRY)}")
    return _REGISTRY[name][0]


def build(name: str, config) -> nn.Module:
    """The Flax module for model `name` configured by `config`."""
    get(name)
    return _REGISTRY[name][1](config)


def objective(name: str) -> str:
    """The name of model `name`'s training objective (a key of `symbolic.train.losses.OBJECTIVES`)."""
    get(name)
    return _REGISTRY[name][2]


def names() -> list[str]:
    return sorted(_REGISTRY)
