"""Typed run configuration: model hyper-parameters, training schedule, presets and overrides.

A run is described by one `RunConfig`. Presets are JSON files in `symbolic/configs/` holding partial
overrides per section: "train" for `TrainConfig`, and one section per model family named as in the
registry (`symbolic.models`). A preset may name a `"base"` preset: the base is resolved first
(recursively) and the preset's keys override it one by one within each section. Keys beginning with
`_` (such as `"_doc"`) are notes. `--set section.key=value` applies further overrides. The resolved
config is written as `config.json` inside every run directory, so a run needs nothing else to be
rebuilt.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symbolic import models
from symbolic.data import fim
from symbolic.models import checks
from symbolic.models.transformer import TransformerConfig
from symbolic.paths import read_json

PRESET_DIR = Path(__file__).parents[1] / "configs"
BASE_KEY = "base"


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
    # How a FIM middle's length is drawn (`symbolic.data.fim.SPAN_DRAWS`).
    fim_span: str = "stop"
    # Gradient checkpointing: each Transformer block's activations are recomputed in the
    # backward pass instead of stored (less memory for long sequences, about a third more
    # compute). Parameters and results are unchanged; other model families reject it.
    remat: bool = False

    def __post_init__(self) -> None:
        counts = ("batch_size", "seq_len", "steps", "eval_every", "checkpoint_every", "log_every")
        checks.at_least(self, 1, *counts)
        # 0 is meaningful here: no warmup, all validation windows, no early stopping.
        checks.at_least(self, 0, "warmup_steps", "eval_max_windows", "patience")
        checks.positive(self, "learning_rate", "grad_clip")  # a clip of 0 zeroes every update
        checks.in_range(self, "min_lr_ratio", 0.0, 1.0)
        checks.in_range(self, "weight_decay", 0.0, math.inf, high_open=True)
        checks.in_range(self, "beta2", 0.0, 1.0, high_open=True)
        checks.in_range(self, "fim_rate", 0.0, 1.0)
        checks.one_of(self, "fim_span", fim.SPAN_DRAWS)
        checks.in_range(self, "seed", 0, checks.MAX_SEED)  # jax takes a C long: no OverflowError


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the data directory."""

    model_name: str = "transformer"
    preset: str = "demo"
    model: Any = field(default_factory=TransformerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        config_class = models.spec(self.model_name).config_class
        if not isinstance(self.model, config_class):
            raise ValueError(
                f"RunConfig.model must be a {config_class.__name__} for model "
                f"{self.model_name!r}, got {type(self.model).__name__}"
            )
        # Learned positions past max_len are clamped to the last one, silently.
        learned = isinstance(self.model, TransformerConfig) and self.model.position == "learned"
        if learned and self.train.seq_len > self.model.max_len:
            raise ValueError(
                f"train.seq_len ({self.train.seq_len}) must be <= model.max_len "
                f"({self.model.max_len}) with learned positions"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        return cls(
            model_name=d["model_name"],
            preset=d.get("preset", ""),
            model=models.spec(d["model_name"]).config_class(**d["model"]),
            train=TrainConfig(**d["train"]),
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """The config a run saved; an unknown model or key (a run from another version of the
        package), an empty or malformed file, a missing section, are one-line errors naming it."""
        data = read_json(path)
        try:
            return cls.from_dict(data)
        except KeyError as err:
            raise ValueError(f"{path}: no {err.args[0]!r} in this config") from err
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err


def available_presets(model_name: str | None = None) -> list[str]:
    """The named presets, sorted; with `model_name`, only those with a section for that model."""
    names = sorted(p.stem for p in PRESET_DIR.glob("*.json"))
    if model_name is None:
        return names
    return [name for name in names if model_name in preset_sections(name)]


def _notes_removed(mapping: dict) -> dict:
    return {key: value for key, value in mapping.items() if not key.startswith("_")}


def _section_classes() -> dict[str, type]:
    return {"train": TrainConfig, **{spec.name: spec.config_class for spec in models.SPECS}}


def _check_keys(where: str, config_class: type, keys) -> None:
    valid = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(keys) - valid)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(valid)}")


def _read_preset(path: Path) -> tuple[str | None, dict[str, dict]]:
    """(base preset name or None, sections) of one preset file, every section and key checked."""
    own = _notes_removed(read_json(path))
    base = own.pop(BASE_KEY, None)
    if base is not None and not isinstance(base, str):
        raise ValueError(f"{path}: {BASE_KEY!r} must name a preset, got {base!r}")
    classes = _section_classes()
    unknown = sorted(set(own) - set(classes))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; valid: {sorted(classes)}")
    sections = {}
    for section, values in own.items():
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be an object of key: value")
        sections[section] = _notes_removed(values)
        _check_keys(f"{path}: section {section!r}", classes[section], sections[section])
    return base, sections


def _preset_path(name: str, unknown: str = "unknown preset") -> Path:
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"{unknown} {name!r}; available: {available_presets()}")
    return path


def preset_sections(name: str) -> dict[str, dict[str, Any]]:
    """Preset `name`'s sections, its `base` chain resolved first and merged beneath them section
    by section, key by key: {"train": {...}, "transformer": {...}, ...}."""
    return _merged_sections(_preset_path(name), ())


def _merged_sections(path: Path, chain: tuple[Path, ...]) -> dict[str, dict[str, Any]]:
    """`chain` holds the presets that named this one as their base, to catch a cycle."""
    if path in chain:
        names = " -> ".join(p.stem for p in (*chain, path))
        raise ValueError(f"{path}: {BASE_KEY!r} presets form a cycle: {names}")
    base, own = _read_preset(path)
    merged = {}
    if base is not None:
        base_path = _preset_path(base, f"{path}: unknown base preset")
        merged = _merged_sections(base_path, (*chain, path))
    for section, values in own.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


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
    _check_keys(where, type(section), updates)
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
    spec = models.spec(model_name)
    sections = preset_sections(preset)
    if model_name not in sections:
        raise ValueError(
            f"{_preset_path(preset)}: preset {preset!r} has no {model_name!r} section; presets "
            f"with one: {available_presets(model_name)}"
        )
    config = RunConfig(
        model_name=model_name,
        preset=preset,
        model=dataclasses.replace(spec.config_class(), **sections[model_name]),
        train=dataclasses.replace(TrainConfig(), **sections.get("train", {})),
    )
    parsed = parse_overrides(list(overrides), config)
    train_updates = {k: v for k, v in train_updates.items() if v is not None}
    return dataclasses.replace(
        config,
        model=_apply(config.model, parsed["model"], "--set"),
        train=_apply(config.train, {**parsed["train"], **train_updates}, "--set"),
    )
