"""Typed run configuration: model hyper-parameters, training schedule, presets and overrides.

A run is described by one `RunConfig`. Presets are JSON files in `symbolic/configs/` holding partial
overrides per section; `--set section.key=value` applies further overrides. The resolved config is
written as `config.json` inside every run directory, so a run needs nothing else to be rebuilt.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symbolic.models.lstm import LSTMConfig
from symbolic.models.transformer import TransformerConfig
from symbolic.models.vae import VAEConfig

PRESET_DIR = Path(__file__).parents[1] / "configs"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, evaluation and checkpoint cadence."""

    batch_size: int = 32
    seq_len: int = 256
    steps: int = 2000
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    beta2: float = 0.99
    eval_every: int = 200
    eval_max_windows: int = 0  # 0 evaluates the whole valid split
    patience: int = 5  # evaluations without improvement before early stopping; 0 disables
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    # Fraction of training windows put in fill-in-the-middle order (`symbolic.data.fim`), so the
    # model can infill bars; 0 trains a plain LM. Validation NLL stays the plain LM NLL.
    fim_rate: float = 0.0


MODEL_CONFIGS: dict[str, type] = {
    "transformer": TransformerConfig,
    "lstm": LSTMConfig,
    "vae": VAEConfig,
}


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the data directory."""

    model_name: str = "transformer"
    preset: str = "demo"
    model: Any = field(default_factory=TransformerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        model_cls = MODEL_CONFIGS[d["model_name"]]
        return cls(
            model_name=d["model_name"],
            preset=d.get("preset", ""),
            model=model_cls(**d["model"]),
            train=TrainConfig(**d["train"]),
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def _coerce(text: str, current: Any, key: str) -> Any:
    """Parse an override string into the type of the field it replaces."""
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text}: expected a boolean")
    try:
        return type(current)(text)
    except ValueError as err:
        raise ValueError(f"--set {key}={text}: expected {type(current).__name__}") from err


def _apply(section: Any, updates: dict, where: str) -> Any:
    names = {f.name for f in dataclasses.fields(section)}
    unknown = sorted(set(updates) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    return dataclasses.replace(section, **updates)


def parse_overrides(pairs: list[str], config: RunConfig) -> dict[str, dict[str, Any]]:
    """`["model.d_model=128", "train.steps=10"]` -> {"model": {...}, "train": {...}}, typed."""
    out: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in out:
            raise ValueError(f"--set {pair}: expected model.KEY=VALUE or train.KEY=VALUE")
        target = getattr(config, section)
        if not hasattr(target, name):
            raise ValueError(f"--set {pair}: {section} has no key {name!r}")
        out[section][name] = _coerce(value, getattr(target, name), key)
    return out


def resolve(model_name: str, preset: str, overrides: list[str] = (), **train_updates) -> RunConfig:
    """Build the RunConfig for `model_name` from a named preset, then `--set` overrides."""
    if model_name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {model_name!r}; choose from {list(MODEL_CONFIGS)}")
    path = PRESET_DIR / f"{preset}.json"
    if not path.is_file():
        raise ValueError(f"unknown preset {preset!r}; available: {available_presets()}")
    sections = json.loads(path.read_text())
    model = _apply(
        MODEL_CONFIGS[model_name](), sections.get(model_name, {}), f"{path}:{model_name}"
    )
    train = _apply(TrainConfig(), sections.get("train", {}), f"{path}:train")
    config = RunConfig(model_name=model_name, preset=preset, model=model, train=train)
    parsed = parse_overrides(list(overrides), config)
    train_updates = {k: v for k, v in train_updates.items() if v is not None}
    return dataclasses.replace(
        config,
        model=_apply(config.model, parsed["model"], "--set"),
        train=_apply(config.train, {**parsed["train"], **train_updates}, "--set"),
    )
