"""Bad config, data and sampling values are one-line errors where their records are built, never a
silently wrong model or sample (issue 15, items 6 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symbolic.data.meta import SegmentsMeta, write_meta
from symbolic.generation.conditioning import Condition
from symbolic.generation.settings import Controls, Sampling
from symbolic.models.lstm import LSTMConfig
from symbolic.models.transformer import TransformerConfig
from symbolic.models.vae import VAEConfig
from symbolic.output import render as render_lib
from symbolic.training import config as config_lib
from symbolic.training import trainer
from symbolic.training.checkpoint import Checkpoints
from symbolic.training.config import RunConfig, TrainConfig


def _one_line_error(error_type, match: str, build) -> None:
    with pytest.raises(error_type, match=match) as err:
        build()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("model_name", "override", "match"),
    [
        (
            "transformer",
            "model.position=bogus",
            r"position must be one of \['rope', 'learned', 'relative'\]",
        ),
        ("transformer", "model.dtype=float7", "dtype must be one of"),
        ("transformer", "model.num_heads=3", r"num_heads \(3\) must divide d_model \(32\)"),
        ("transformer", "model.d_model=-32", "d_model must be >= 1"),
        ("transformer", "model.dropout=2", r"dropout must be in \[0.0, 1.0\)"),
        ("transformer", "model.dropout=nan", "dropout must be in"),
        ("transformer", "model.rope_base=inf", "rope_base must be finite"),
        ("lstm", "model.hidden_size=0", "hidden_size must be >= 1"),
        ("lstm", "model.dropout=1", "dropout must be in"),
        ("vae", "model.kl_beta=-1", "kl_beta must be in"),
        ("vae", "model.kl_anneal_rate=1.5", "kl_anneal_rate must be in"),
        ("vae", "model.dtype=int8", "dtype must be one of"),
        ("transformer", "train.steps=-5", "steps must be >= 1"),
        ("transformer", "train.learning_rate=nan", "learning_rate must be finite and > 0"),
        ("transformer", "train.learning_rate=inf", "learning_rate must be finite and > 0"),
        ("transformer", "train.learning_rate=0", "learning_rate must be finite and > 0"),
        ("transformer", "train.eval_every=0", "eval_every must be >= 1"),
        ("transformer", "train.log_every=0", "log_every must be >= 1"),
        ("transformer", "train.checkpoint_every=0", "checkpoint_every must be >= 1"),
        ("transformer", "train.patience=-1", "patience must be >= 0"),
        ("transformer", "train.grad_clip=0", "grad_clip must be finite and > 0"),
        ("transformer", "train.beta2=1", r"beta2 must be in \[0.0, 1.0\)"),
        ("transformer", "train.fim_rate=1.5", "fim_rate must be in"),
    ],
)
def test_bad_config_values_are_one_line_errors(model_name, override, match):
    _one_line_error(ValueError, match, lambda: config_lib.resolve(model_name, "tiny", [override]))


def test_head_dim_must_be_even_for_rope_but_not_for_learned_positions():
    _one_line_error(
        ValueError, "needs an even head dim", lambda: TransformerConfig(d_model=30, num_heads=2)
    )
    TransformerConfig(d_model=30, num_heads=2, position="learned")


def test_learned_positions_must_cover_the_training_window():
    _one_line_error(
        ValueError,
        r"train.seq_len \(512\) must be <= model.max_len \(256\)",
        lambda: config_lib.resolve(
            "transformer", "tiny", ["model.position=learned", "train.seq_len=512"]
        ),
    )
    # RoPE has no table to run off the end of: the same window trains.
    config_lib.resolve("transformer", "tiny", ["train.seq_len=512"])


def test_a_model_config_of_another_family_is_refused():
    with pytest.raises(ValueError, match="must be a LSTMConfig"):
        RunConfig(model_name="lstm", model=TransformerConfig())


def test_meaningful_zeros_stay_legal():
    tcfg = TrainConfig(patience=0, eval_max_windows=0, warmup_steps=0, fim_rate=0.0)
    assert (tcfg.patience, tcfg.eval_max_windows) == (0, 0)
    # vocab_size and seq_len 0 mean "filled in from the data" (trainer.with_vocab_size).
    assert TransformerConfig().vocab_size == LSTMConfig().vocab_size == 0
    assert (VAEConfig().vocab_size, VAEConfig().seq_len) == (0, 0)
    assert Sampling(temperature=0).temperature == 0  # greedy
    assert Controls(beam=0, repetition_penalty=1.0).beam == 0


def test_conductor_bars_must_divide_the_segment():
    _one_line_error(
        ValueError,
        r"conductor_bars \(16\) must divide seq_len \(40\)",
        lambda: VAEConfig(seq_len=40, conductor_bars=16),
    )
    VAEConfig(seq_len=256, conductor_bars=16)


def test_every_preset_and_resolved_config_still_validates():
    for preset in config_lib.available_presets():
        for section in config_lib.preset_sections(preset):
            if section != "train":
                config_lib.resolve(section, preset)
    resolved = json.loads((Path(__file__).parent / "data" / "resolved_configs.json").read_text())
    for config in resolved.values():
        RunConfig.from_dict(config)


def test_vae_on_token_data_is_refused_before_the_run_dir_is_written(chorale_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    _one_line_error(
        ValueError,
        "holds token streams; model 'vae' trains on segments",
        lambda: trainer.train(config_lib.resolve("vae", "tiny"), chorale_data_dir, run_dir),
    )
    assert not run_dir.exists()


def test_a_language_model_on_segments_is_refused(tmp_path):
    segments = tmp_path / "segments"
    segments.mkdir()
    write_meta(SegmentsMeta(vocab_size=130, bars=2, melody_program=40), segments / "meta.json")
    _one_line_error(
        ValueError,
        "holds VAE segments; model 'transformer' trains on token streams",
        lambda: trainer.train(config_lib.resolve("transformer", "tiny"), segments, tmp_path / "r"),
    )


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    chorale_data_dir, tmp_path
):
    # A finite but absurd learning rate: the first updates overflow the parameters.
    config = config_lib.resolve(
        "transformer",
        "tiny",
        ["train.learning_rate=1e30", "train.steps=8", "train.log_every=1"],
        checkpoint_every=1,
    )
    run_dir = tmp_path / "run"
    with pytest.raises(trainer.Diverged, match=r"^step (\d+): train (loss|grad_norm) is") as err:
        trainer.train(config, chorale_data_dir, run_dir, progress=False)
    assert "\n" not in str(err.value)
    bad_step = int(str(err.value).split()[1].rstrip(":"))
    checkpoints = Checkpoints(run_dir)
    try:
        assert checkpoints.latest.latest_step() == bad_step - 1
    finally:
        checkpoints.close()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"temperature": -1.0}, "temperature must be finite and >= 0"),
        ({"temperature": float("nan")}, "temperature must be finite and >= 0"),
        ({"temperature": float("inf")}, "temperature must be finite and >= 0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"top_p": -1.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": float("nan")}, r"top_p must be in \(0, 1\]"),
        ({"top_k": -3}, "top_k must be >= 0"),
    ],
)
def test_bad_sampling_values_are_one_line_errors(settings, match):
    _one_line_error(ValueError, match, lambda: Sampling(**settings))


@pytest.mark.parametrize(
    ("controls", "match"),
    [
        ({"repetition_penalty": 0.0}, "repetition_penalty must be finite and > 0"),
        ({"repetition_penalty": float("nan")}, "repetition_penalty must be finite and > 0"),
        ({"repetition_penalty": float("inf")}, "repetition_penalty must be finite and > 0"),
        ({"beam": -1}, "beam must be >= 0"),
    ],
)
def test_bad_control_values_are_one_line_errors(controls, match):
    _one_line_error(ValueError, match, lambda: Controls(**controls))


@pytest.mark.parametrize("tempo", [0.0, -120.0, float("nan"), float("inf")])
def test_a_tempo_that_is_no_tempo_is_an_error_not_ignored(tempo):
    _one_line_error(ValueError, "tempo must be a finite number of beats per minute > 0",
                    lambda: Condition(tempo=tempo))  # fmt: skip
    assert Condition(tempo=120.0).tempo == 120.0


def test_a_file_that_is_not_a_soundfont_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(render_lib.SOUNDFONT_ENV, raising=False)
    fake = tmp_path / "font.sf2"
    fake.write_bytes(b"MThd\x00\x00\x00\x06" + bytes(64))
    _one_line_error(
        render_lib.RenderError, f"{fake}: not a SoundFont", lambda: render_lib.find_soundfont(fake)
    )
    monkeypatch.setenv(render_lib.SOUNDFONT_ENV, str(fake))
    _one_line_error(render_lib.RenderError, "not a SoundFont", render_lib.find_soundfont)


def test_generate_help_says_temperature_zero_is_greedy(capsys):
    from symbolic.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    assert "0 is greedy" in " ".join(capsys.readouterr().out.split())


def test_every_model_refuses_every_other_kind_of_folder(tmp_path):
    """One table (`sources.DATA_KINDS`) says which folder each model trains on: each of the
    four kinds of meta.json is accepted by its models and a one-line error for the others."""
    from symbolic import models
    from symbolic.data.meta import AudioMeta, DataMeta, PhrasesMeta, SpecialIds
    from symbolic.training.sources import check_data_kind

    metas = {
        "tokens": DataMeta(64, SpecialIds(pad=0, bos=1, eos=2, mask=3), "0" * 64),
        "segments": SegmentsMeta(vocab_size=130, bars=2, melody_program=40),
        "audio": AudioMeta(16000, 320, 229, {}),
        "phrases": PhrasesMeta(("s", "a"), (40, 41), 4, 12, 4, 24, 108),
    }
    home = {"vae": "segments", "transcriber": "audio", "gan": "phrases"}
    for name in models.names():
        config = config_lib.resolve(name, "tiny")
        for kind, meta in metas.items():
            if kind == home.get(name, "tokens"):
                check_data_kind(config, meta, tmp_path)
                continue
            with pytest.raises(ValueError, match=rf"^{tmp_path}: holds .*; model {name!r}"):
                check_data_kind(config, meta, tmp_path)
