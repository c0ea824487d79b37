"""Hard constraints, repetition penalty and beam search, on a tiny random-init model with the real
REMI tokenizer: every constraint must hold on 100 sampled sequences, and every stream decodes."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from symbolic import tokenization
from symbolic.generation import constraints, engine, grammar, processors
from symbolic.generation.run import LMRun, load_lm_run
from symbolic.generation.settings import Controls, Sampling
from symbolic.music import keys
from symbolic.output import midi as midi_io
from tests.helpers import write_run_dir

NUM = 100
PLAIN = dict(temperature=1.0, top_k=0, top_p=1.0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("runs") / "t", "transformer")


@pytest.fixture(scope="module")
def run(run_dir) -> LMRun:
    return load_lm_run(run_dir)


def draw(run, controls: Controls, num=NUM, max_tokens=96, seed=0, **settings):
    """Tokens [num, L] and lengths [num] sampled from BOS under `controls`."""
    automaton = grammar.build_grammar(run.tokenizer)
    bos = run.meta.special_ids.bos
    tokens, lengths, _ = engine.sample_tokens(
        run,
        [bos],
        automaton.start_state,
        automaton,
        Sampling(num=num, max_tokens=max_tokens, seed=seed, **(settings or PLAIN)),
        controls=controls,
    )
    return tokens, lengths


def token_rows(run, tokens, lengths) -> list[list[tuple[str, str]]]:
    """Each row as (type, value) pairs, specials dropped."""
    inverse = {i: tok for tok, i in run.tokenizer.vocab.items()}
    rows = []
    for row, n in zip(tokens, lengths, strict=True):
        pairs = [tuple(inverse[int(i)].split("_", 1)) for i in row[:n]]
        rows.append([p for p in pairs if p[0] not in tokenization.SPECIAL_TOKENS])
    return rows


def onset_counts(row: list[tuple[str, str]]) -> list[int]:
    """Notes per onset: Pitch/PitchDrum tokens between two Position/Bar tokens."""
    counts = [0]
    for kind, _ in row:
        if kind in ("Position", "Bar"):
            counts.append(0)
        elif kind in ("Pitch", "PitchDrum"):
            counts[-1] += 1
    return counts


def test_key_range_monophony_and_grid_hold_on_100_samples(run):
    controls = Controls(key="D minor", pitch_range="60-84", monophonic=True, grid="8th")
    tokens, lengths = draw(run, controls)
    scale = keys.parse_key("D minor").pitch_classes()
    for ids, row in zip(tokens, token_rows(run, tokens, lengths), strict=True):
        pitches = [int(v) for k, v in row if k == "Pitch"]
        assert all(p % 12 in scale and 60 <= p <= 84 for p in pitches), pitches
        assert max(onset_counts(row)) <= 1
        score = tokenization.decode(run.tokenizer, ids)  # every stream decodes
        tpq = score.ticks_per_quarter
        onsets = [int(t) for track in score.tracks for t in track.notes.numpy()["time"]]
        assert all(t % (tpq // 2) == 0 for t in onsets), (onsets, tpq)  # 8th-note grid
        assert len(onsets) == len(set(onsets))  # one note per onset, across tracks
        melodic = [n.pitch for tr in score.tracks if not tr.is_drum for n in tr.notes]
        assert all(p % 12 in scale and 60 <= p <= 84 for p in melodic)


def test_polyphony_and_bars_hold_and_the_bar_limit_ends_with_eos(run):
    controls = Controls(max_polyphony=2, bars=2, repetition_penalty=1.5)
    tokens, lengths = draw(run, controls, max_tokens=120)
    eos = run.meta.special_ids.eos
    for ids, n, row in zip(tokens, lengths, token_rows(run, tokens, lengths), strict=True):
        assert max(onset_counts(row)) <= 2
        assert sum(kind == "Bar" for kind, _ in row) <= 2
        assert ids[n - 1] == eos or n == tokens.shape[1]
        tokenization.decode(run.tokenizer, ids[:n])


def test_beam_width_one_is_greedy_decoding(run):
    controls = Controls(key="D minor", monophonic=True)
    greedy, greedy_len = draw(
        run, controls, num=1, max_tokens=48, temperature=0.0, top_k=0, top_p=1
    )
    beam1, beam1_len = draw(
        run, Controls(key="D minor", monophonic=True, beam=1), num=1, max_tokens=48
    )
    np.testing.assert_array_equal(beam1, greedy)
    np.testing.assert_array_equal(beam1_len, greedy_len)


def test_impossible_constraints_are_a_clear_error(run):
    with pytest.raises(ValueError, match="no pitch"):
        constraints.build(run.tokenizer, constraints.Spec(pitch_range=(0, 20)))
    with pytest.raises(ValueError, match="key"):
        keys.parse_key("H dorian")
    with pytest.raises(ValueError, match="grid"):
        constraints.build(run.tokenizer, constraints.Spec(grid="5th"))


def test_keys_parse_to_scales_and_signatures():
    d_minor = keys.parse_key("D minor")
    assert d_minor.pitch_classes() == {2, 4, 5, 7, 9, 10, 0} and d_minor.sharps() == -1
    assert keys.parse_key("F# major").sharps() == 6
    assert keys.parse_key("Bb").sharps() == -2
    assert constraints.parse_pitch_range("60-84") == (60, 84)


# --- processors on fake logits --------------------------------------------------------------------


def ctx(tokens, state=0) -> processors.StepContext:
    tokens = jnp.asarray(tokens, jnp.int32)
    batch = tokens.shape[0]
    zeros = jnp.zeros(batch, jnp.int32)
    return processors.StepContext(tokens, jnp.asarray(tokens.shape[1] - 1), zeros, zeros + state)


def test_repetition_penalty_only_hits_seen_tokens_in_the_set():
    logits = jnp.array([[2.0, 2.0, -1.0, 2.0]])
    ids = jnp.array([True, True, True, False])
    out = processors.repetition_penalty(2.0, ids)(logits, ctx([[0, 2, 3]]))
    np.testing.assert_allclose(out, [[1.0, 2.0, -2.0, 2.0]])


def test_constraint_mask_merges_into_eos_and_never_leaves_a_row_empty():
    eos = 0
    allowed = jnp.array([[True, True, False], [False, False, False]])
    merge = jnp.array([[False, False, True], [False, False, False]])
    tables = processors.ConstraintArrays(allowed, jnp.zeros((2, 3), jnp.int32), merge)
    process = processors.constraint_mask(tables, eos)
    logits = jnp.log(jnp.array([[0.2, 0.5, 0.3]]))
    merged = process(logits, ctx([[1]], state=0))
    np.testing.assert_allclose(jnp.exp(merged), [[0.5, 0.5, 0.0]], atol=1e-6)
    np.testing.assert_allclose(process(logits, ctx([[1]], state=1)), logits)  # fallback


def test_state_after_a_prompt_follows_but_does_not_check_the_constraints(run):
    vocab = run.tokenizer.vocab
    tables = constraints.build(run.tokenizer, constraints.Spec(max_polyphony=1, bars=1))
    prompt = [vocab["Bar_None"], vocab["TimeSig_4/4"], vocab["Position_0"], vocab["Program_0"]]
    prompt += [vocab["Pitch_60"], vocab["Velocity_63"], vocab["Duration_1.0.12"]]
    state = tables.state_after(prompt)
    assert not tables.allowed[state, vocab["Pitch_62"]]  # a second note at this onset
    assert tables.allowed[state, vocab["Bar_None"]]  # the bar limit counts new bars only
    assert Path(constraints.__file__).read_text().count("import jax") == 0


def test_cli_generate_writes_daw_ready_midi_and_pictures(run_dir, tmp_path):
    """Every output reads back in mido, music21 and symusic, with the DAW meta events."""
    import mido
    import music21
    from symusic import Score

    from symbolic import cli

    argv = ["generate", str(run_dir), "--out", str(tmp_path), "--num", "2"]
    argv += ["--max-tokens", "64", "--key", "D minor", "--bars", "2", "--plot", "--seed", "1"]
    assert cli.main(argv) == 0
    for midi_path in sorted(tmp_path.glob("*.mid")):
        midi = mido.MidiFile(midi_path)
        assert midi.type == 1 and midi.ticks_per_beat == Score(str(midi_path)).ticks_per_quarter
        assert midi.ticks_per_beat == midi_io.DAW_TICKS_PER_QUARTER
        conductor = {m.type: m for m in midi.tracks[0]}
        assert conductor["key_signature"].key == "Dm"
        assert {"set_tempo", "time_signature", "track_name"} <= set(conductor)
        for track in midi.tracks[1:]:
            kinds = {m.type for m in track}
            assert {"track_name", "program_change"} <= kinds
        music21.converter.parse(str(midi_path))  # reads back
        assert midi_path.with_suffix(".png").stat().st_size > 1000


def test_wider_beams_find_the_likelier_sequence_greedy_misses():
    """Bigram table: after BOS, 3 (p .6) leads to a flat spread; 4 (p .4) surely to EOS."""
    import jax

    from symbolic.generation.beam import beam_search

    bos, eos, pad, vocab = 1, 2, 0, 8
    table = np.full((vocab, vocab), -1e9, np.float32)
    table[bos, 3], table[bos, 4] = np.log(0.6), np.log(0.4)
    table[3, 5:8] = np.log(1 / 3)
    table[4, eos] = 0.0
    table[5:8, eos] = 0.0

    def step(params, state, tokens):
        return params[tokens], state

    out = jax.jit(
        lambda p: beam_search(
            step,
            p,
            jnp.zeros((2,), jnp.int32),
            jnp.array([[bos]], jnp.int32),
            beam_width=2,
            max_new_tokens=4,
            eos_id=eos,
            pad_id=pad,
        )
    )(jnp.asarray(table))
    assert np.asarray(out.tokens)[0, 0, :3].tolist() == [bos, 4, eos]
    assert np.asarray(out.lengths)[0, 0] == 3 and out.scores[0, 0] > out.scores[0, 1]


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(key="H dorian"), "key"),
        (dict(pitch_range="84-60"), "pitch range"),
        (dict(grid="5th"), "grid"),
        (dict(max_polyphony=0), "polyphony"),
        (dict(bars=0), "bars"),
        (dict(beam=-1), "beam"),
        (dict(repetition_penalty=0.0), "repetition_penalty"),
    ],
)
def test_controls_are_one_line_errors_where_they_are_built(bad, message):
    with pytest.raises(ValueError, match=message) as err:
        Controls(**bad)
    assert "\n" not in str(err.value)
