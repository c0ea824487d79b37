"""Generation end to end from a run directory holding a tiny randomly-initialised model.

The run directory is written the way the trainer writes it (config.json, meta.json, tokenizer.json,
an Orbax `best` checkpoint), so `generate` runs its real loading path.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import mido
import music21
import numpy as np
import pytest

from symbolic import models, tokenization
from symbolic.generation import engine, generate, grammar, refill, sampling
from symbolic.generation.processors import GrammarArrays, Masks
from symbolic.generation.run import load_lm_run
from symbolic.generation.settings import DEFAULT_MAX_TOKENS, Sampling
from symbolic.models.transformer import TransformerConfig, TransformerLM
from symbolic.training import checkpoint
from tests.helpers import note_ons, write_run_dir, write_test_midi

PROMPT_PITCHES = (60, 62, 64, 65, 67, 69, 71, 72)
PLAIN = dict(temperature=1.0, top_k=0, top_p=1.0)  # sample from the model's own distribution


@pytest.fixture(scope="module", params=["transformer", "lstm"])
def run_dir(request, tmp_path_factory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("runs") / request.param, request.param)


@pytest.fixture(scope="module")
def prompt_midi(tmp_path_factory) -> Path:
    """Two bars of quarter notes (C D E F | G A B C) at 100 bpm in 4/4."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    track.append(mido.Message("program_change", program=0))
    for pitch in PROMPT_PITCHES:
        track.append(mido.Message("note_on", note=pitch, velocity=80))
        track.append(mido.Message("note_off", note=pitch, time=480))
    path = tmp_path_factory.mktemp("prompt") / "prompt.mid"
    mid.save(path)
    return path


def assert_playable(path: Path) -> None:
    """Opens in mido and music21, has a tempo, a time signature and at least one note."""
    types = {msg.type for track in mido.MidiFile(path).tracks for msg in track}
    assert {"set_tempo", "time_signature", "note_on"} <= types, types
    score = music21.converter.parse(str(path))
    assert len(score.flatten().notes) >= 1


def test_generate_writes_playable_midi(run_dir, tmp_path, capsys):
    paths = generate.generate(
        run_dir, tmp_path, num=3, max_tokens=96, temperature=1.0, top_k=0, top_p=0.95, seed=0
    )
    assert [p.name for p in paths] == ["sample_000.mid", "sample_001.mid", "sample_002.mid"]
    for path in paths:
        assert_playable(path)
    report = json.loads((tmp_path / generate.REPORT_FILE).read_text())
    assert report["stats"]["tokens_per_s"] > 0 and min(report["notes"]) >= 1
    assert "tokens/s" in capsys.readouterr().out


def test_same_seed_same_music(run_dir, tmp_path):
    kwargs = dict(num=2, max_tokens=48, temperature=1.0, top_k=20, top_p=1.0)
    a = generate.generate(run_dir, tmp_path / "a", seed=5, **kwargs)
    b = generate.generate(run_dir, tmp_path / "b", seed=5, **kwargs)
    c = generate.generate(run_dir, tmp_path / "c", seed=6, **kwargs)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_continuation_keeps_the_prompt(run_dir, prompt_midi, tmp_path):
    paths = generate.generate(
        run_dir, tmp_path, num=2, max_tokens=40, seed=1, prompt_midi=prompt_midi, **PLAIN
    )
    prompt = note_ons(prompt_midi)
    report = json.loads((tmp_path / generate.REPORT_FILE).read_text())
    for path, length in zip(paths, report["lengths"], strict=True):
        assert_playable(path)
        # Same pitches at the same musical times (the output may use another tick resolution).
        scale = mido.MidiFile(path).ticks_per_beat / 480
        notes = [(round(t / scale), p) for t, p in note_ons(path)]
        assert set(prompt) <= set(notes)
        assert notes[0] == prompt[0]  # nothing was generated before the prompt
        assert length > report["stats"]["prompt_tokens"]  # and something after it


def test_render_writes_wavs(run_dir, tmp_path):
    from symbolic.output.render import RenderError, find_fluidsynth, find_soundfont, read_wav

    try:
        find_fluidsynth(), find_soundfont()
    except RenderError:
        pytest.skip("fluidsynth or a GM SoundFont missing")
    paths = generate.generate(
        run_dir, tmp_path, num=1, max_tokens=48, seed=0, render=True, sample_rate=22050, **PLAIN
    )
    assert [p.suffix for p in paths] == [".mid", ".wav"]
    _, rate = read_wav(paths[1])
    assert rate == 22050


@pytest.fixture(scope="module")
def transformer_dir(tmp_path_factory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("errors") / "run", "transformer")


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_tokenizer_hash_mismatch_is_a_clear_error(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", "transformer")
    meta = json.loads((run_dir / checkpoint.META_FILE).read_text())
    meta["tokenizer_hash"] = "0" * 64
    (run_dir / checkpoint.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trained with tokenizer 000000000000") as err:
        generate.generate(run_dir, tmp_path / "out", num=1, max_tokens=8)
    one_line_error(err)


def test_learned_positions_decode_past_their_table_by_re_prefilling():
    """Past a learned table's end the cache is refilled with the last max_len // 2 tokens from
    position 0: every step's logits equal a full forward pass over exactly that context."""
    config = TransformerConfig(
        vocab_size=32,
        d_model=16,
        num_layers=2,
        num_heads=2,
        d_ff=32,
        max_len=8,
        position="learned",
        dropout=0.0,
    )
    model = TransformerLM(config)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 30), 0, 32)
    params = model.init(jax.random.PRNGKey(0), tokens[:, :8])["params"]
    impl = models.decoder("transformer")
    state = refill.init_decode_state(impl, config, params, 2)
    step = jax.jit(functools.partial(refill.decode_step, impl, config, params))
    start = 0  # where the cache's context begins
    for n in range(tokens.shape[1]):
        if n - start == config.max_len:
            start = n - config.max_len // 2
        logits, state = step(state, tokens[:, n])
        expected = model.apply({"params": params}, tokens[:, start : n + 1])[:, -1]
        np.testing.assert_allclose(logits, expected, atol=1e-5, err_msg=f"step {n}")
    assert start > 0


def test_the_default_length_runs_until_eos_past_the_window(tmp_path):
    """No max_tokens: up to DEFAULT_MAX_TOKENS new tokens, each row ending at EOS or that cap;
    a learned-position run writes past its 128 positions (the old default of 512 failed)."""
    run = load_lm_run(write_run_dir(tmp_path / "run", "transformer", position="learned"))
    drawn = run.draw(Sampling(num=2, seed=0))
    assert drawn.settings.max_tokens == DEFAULT_MAX_TOKENS
    eos = run.meta.special_ids.eos
    for row, length in zip(drawn.tokens, drawn.lengths, strict=True):
        assert length == 1 + DEFAULT_MAX_TOKENS or row[length - 1] == eos
    assert int(drawn.lengths.max()) > 128  # an untrained model rarely ends early
    notes = [(i * 0.25, 0.25, 48 + i % 24, 80) for i in range(200)]
    prompt = write_test_midi(tmp_path / "long.mid", [{"program": 0, "notes": notes}])
    long = run.draw(Sampling(num=1, max_tokens=16, seed=0), primer=prompt)
    prompt_ids, _ = engine.prompt_ids(run, engine.run_grammar(run), prompt)
    assert len(prompt_ids) > 128  # longer than the table: prefilled through refills, kept whole
    np.testing.assert_array_equal(long.tokens[0, : len(prompt_ids)], prompt_ids)


def test_a_rope_run_writes_past_its_window_and_keeps_a_long_prompt_whole(transformer_dir, tmp_path):
    """The KV cache slides: 300 new tokens from a 128-token window, and a prompt longer than
    the window is prefilled through it and kept whole in the output."""
    run = load_lm_run(transformer_dir)
    drawn = run.draw(Sampling(num=2, max_tokens=300, seed=0))
    assert int(drawn.lengths.max()) > 128  # an untrained model rarely ends early
    notes = [(i * 0.25, 0.25, 48 + i % 24, 80) for i in range(200)]
    prompt = write_test_midi(tmp_path / "long.mid", [{"program": 0, "notes": notes}])
    long = run.draw(Sampling(num=1, max_tokens=16, seed=0), primer=prompt)
    prompt_ids, _ = engine.prompt_ids(run, engine.run_grammar(run), prompt)
    assert len(prompt_ids) > 128
    np.testing.assert_array_equal(long.tokens[0, : len(prompt_ids)], prompt_ids)


def test_prompt_the_grammar_rejects_names_the_file(transformer_dir, prompt_midi, monkeypatch):
    tokenizer = tokenization.build_preset("remi")
    pitch = tokenizer.vocab["Pitch_60"]  # a note with no bar, position or program before it
    monkeypatch.setattr(tokenization, "encode", lambda tok, path: [pitch])
    with pytest.raises(ValueError, match="grammar rejects") as err:
        generate.generate(
            transformer_dir, "/nonexistent/out", num=1, max_tokens=8, prompt_midi=prompt_midi
        )
    assert str(prompt_midi) in one_line_error(err)


def test_kv_cache_sized_to_the_request_samples_the_same(transformer_dir):
    run = load_lm_run(transformer_dir)
    automaton = grammar.build_grammar(run.tokenizer)
    bos = run.meta.special_ids.bos
    settings = dict(temperature=1.0, top_k=0, top_p=0.9)
    tokens, lengths, _ = engine.sample_tokens(
        run,
        [bos],
        automaton.start_state,
        automaton,
        Sampling(num=2, max_tokens=40, seed=3, **settings),
    )
    assert engine.decode_config(run.config, 41).max_len == 41 < run.config.model.max_len
    # The same draw through a full max_len cache.
    impl = models.decoder("transformer")
    step = functools.partial(impl.decode_step, run.config.model)
    full = jax.jit(functools.partial(sampling.sample, step, max_new_tokens=40, eos_id=2, pad_id=0))(
        run.params,
        impl.init_decode_state(run.config.model, run.params, 2),
        jnp.full((2, 1), bos, jnp.int32),
        rng=jax.random.PRNGKey(3),
        masks=Masks(
            grammar=GrammarArrays(
                jnp.asarray(automaton.allowed), jnp.asarray(automaton.transition)
            ),
            grammar_states=jnp.full((2,), automaton.start_state, jnp.int32),
        ),
        **settings,
    )
    np.testing.assert_array_equal(tokens, full.tokens)
    np.testing.assert_array_equal(lengths, full.lengths)
