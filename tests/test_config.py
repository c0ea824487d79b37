"""Run configs: presets resolve exactly as before `base` inheritance, inherit per section, and
reject typos; the model registry is the one list of model families."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from symbolic import models
from symbolic.training import config as config_lib
from symbolic.training import gan_steps
from symbolic.training.losses import OBJECTIVES

# Every preset x model section resolved by the code at commit 9d2be06, before presets had `base`;
# transcriber/transcriber since with the 5,500-step schedule of eb7f255.
# gan/gan and tiny/gan since with the generator's smooth, given_frames and harmony options, and
# gan/gan's 10,000-step schedule (on idle cores a step takes 0.16 s, not the 0.9 s once measured).
# gan/gan since with binarize=ste (the critic sees the hard roll sampling gives).
RESOLVED = json.loads((Path(__file__).parent / "data" / "resolved_configs.json").read_text())


@pytest.mark.parametrize("key", sorted(RESOLVED))
def test_presets_resolve_as_before_inheritance(key):
    preset, model_name = key.split("/")
    assert config_lib.resolve(model_name, preset).to_dict() == RESOLVED[key]


def test_every_preset_model_pair_is_covered():
    pairs = {
        f"{preset}/{name}"
        for name in models.names()
        for preset in config_lib.available_presets(name)
    }
    assert pairs == set(RESOLVED)


def test_infill_is_demo_plus_fim_rate():
    demo = config_lib.resolve("transformer", "demo")
    infill = config_lib.resolve("transformer", "infill")
    assert infill == dataclasses.replace(
        demo, preset="infill", train=dataclasses.replace(demo.train, fim_rate=0.5)
    )


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    """Write presets {name: sections} into a fresh preset folder; returns the writer."""
    monkeypatch.setattr(config_lib, "PRESET_DIR", tmp_path)

    def write(**presets: dict) -> Path:
        for name, sections in presets.items():
            (tmp_path / f"{name}.json").write_text(json.dumps(sections))
        return tmp_path

    return write


def test_base_is_resolved_recursively_and_merged_per_key(preset_dir):
    preset_dir(
        root={"transformer": {"d_model": 64, "num_layers": 2}, "train": {"steps": 5, "seed": 3}},
        middle={"base": "root", "transformer": {"num_layers": 3}},
        leaf={"_doc": "notes are allowed", "base": "middle", "train": {"_why": "ok", "steps": 7}},
    )
    config = config_lib.resolve("transformer", "leaf")
    assert (config.model.d_model, config.model.num_layers) == (64, 3)
    assert (config.train.steps, config.train.seed) == (7, 3)
    assert config.preset == "leaf"
    # A section that only the base has is inherited whole; the base itself is unchanged.
    assert config_lib.resolve("transformer", "root").model.num_layers == 2


def test_base_cycle_is_an_error(preset_dir):
    preset_dir(a={"base": "b"}, b={"base": "a", "transformer": {}})
    with pytest.raises(ValueError, match=r"cycle: a -> b -> a"):
        config_lib.resolve("transformer", "a")


def test_missing_base_names_the_file(preset_dir):
    folder = preset_dir(child={"base": "nowhere", "transformer": {}})
    with pytest.raises(
        ValueError, match=rf"{folder / 'child.json'}: unknown base preset 'nowhere'"
    ):
        config_lib.resolve("transformer", "child")


def test_unknown_section_is_an_error_naming_the_file(preset_dir):
    folder = preset_dir(typo={"transformer": {}, "trian": {"steps": 3}})
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['trian'\]") as err:
        config_lib.resolve("transformer", "typo")
    assert str(folder / "typo.json") in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_is_an_error_naming_the_file_and_section(preset_dir):
    # The lstm section is checked too, though a Transformer is asked for.
    folder = preset_dir(typo={"transformer": {}, "lstm": {"hidden": 3}})
    with pytest.raises(ValueError, match=r"section 'lstm': unknown key\(s\) \['hidden'\]") as err:
        config_lib.resolve("transformer", "typo")
    assert str(folder / "typo.json") in str(err.value)


def test_unknown_key_in_a_base_names_the_base_file(preset_dir):
    folder = preset_dir(parent={"train": {"stpes": 3}}, child={"base": "parent", "lstm": {}})
    with pytest.raises(ValueError, match=rf"{folder / 'parent.json'}: section 'train'"):
        config_lib.resolve("lstm", "child")


def test_preset_without_the_model_section_names_those_that_have_one():
    with pytest.raises(ValueError, match=r"no 'vae' section") as err:
        config_lib.resolve("vae", "demo")
    assert "['tiny', 'vae_melody_16bar', 'vae_melody_2bar']" in str(err.value)


def test_unknown_model_and_preset_are_errors():
    with pytest.raises(ValueError, match="unknown model 'theremin'"):
        config_lib.resolve("theremin", "demo")
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        config_lib.resolve("transformer", "nope")


def test_saved_config_round_trips_and_rejects_an_unknown_model(tmp_path):
    config = config_lib.resolve("lstm", "demo", ["model.hidden_size=64"], steps=9)
    path = tmp_path / "config.json"
    config.save(path)
    assert config_lib.RunConfig.load(path) == config
    path.write_text(json.dumps({**config.to_dict(), "model_name": "theremin"}))
    with pytest.raises(ValueError, match=rf"{path}: unknown model 'theremin'"):
        config_lib.RunConfig.load(path)


# --- the model registry --------------------------------------------------------------------


def test_names_are_the_specs():
    assert models.names() == sorted(spec.name for spec in models.SPECS)
    assert len(set(models.names())) == len(models.SPECS)


@pytest.mark.parametrize("spec", models.SPECS, ids=lambda spec: spec.name)
def test_every_spec_builds_from_its_config_class(spec):
    config = config_lib.resolve(spec.name, "tiny").model
    assert isinstance(config, spec.config_class)
    assert isinstance(models.build(spec.name, config), spec.module_class)
    assert models.objective(spec.name) in {*OBJECTIVES, gan_steps.OBJECTIVE}
    assert models.spec(spec.name) is spec
    assert config_lib.RunConfig.from_dict(
        config_lib.resolve(spec.name, "tiny").to_dict()
    ).model == (config)


@pytest.mark.parametrize("spec", models.SPECS, ids=lambda spec: spec.name)
def test_decoder_is_given_only_for_incremental_models(spec):
    if spec.incremental:
        assert callable(models.decoder(spec.name).decode_step)
        assert callable(models.decoder(spec.name).init_decode_state)
    else:
        assert not hasattr(spec.module, "decode_step")
        with pytest.raises(ValueError, match=f"model '{spec.name}' does not decode token by token"):
            models.decoder(spec.name)
