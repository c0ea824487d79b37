"""The token automaton: never too strict for real data, never lets a walk go undecodable."""

from __future__ import annotations

from itertools import pairwise

import miditok
import numpy as np
import pytest

from symbolic import tokenization
from symbolic.data.convert import load_score
from symbolic.generation import grammar

PRESETS = tuple(tokenization.PRESET_CONFIGS)
NOTE_END_TYPES = {
    "remi": {"Duration"},
    "tsd": {"Duration"},
    "midilike": {"Velocity", "NoteOff", "DrumOff"},
}


@pytest.fixture(scope="module")
def built():
    """``{preset: (tokenizer, grammar)}``."""
    out = {}
    for name in PRESETS:
        tokenizer = tokenization.load_tokenizer(name)
        out[name] = (tokenizer, grammar.build_grammar(tokenizer))
    return out


def random_walk(g: grammar.Grammar, seed: int, steps: int = 500) -> tuple[list[int], list[int]]:
    """Uniform walk over allowed tokens: ``(ids before EOS, states visited)``."""
    rng = np.random.default_rng(seed)
    state, ids, states = g.start_state, [], [g.start_state]
    for _ in range(steps):
        token = int(rng.choice(np.flatnonzero(g.allowed[state])))
        if token == g.eos_id:
            break
        ids.append(token)
        state = int(g.transition[state, token])
        states.append(state)
    return ids, states


def type_errors(tokenizer, ids: list[int]) -> int:
    """Successions MidiTok's own token-type graph forbids."""
    types = tokenization.token_types(tokenizer)
    graph = tokenizer.tokens_types_graph
    return sum(types[b] not in graph[types[a]] for a, b in pairwise(ids))


@pytest.mark.parametrize("preset", PRESETS)
def test_tables_are_well_formed(preset, built):
    tokenizer, g = built[preset]
    num_states, vocab = g.allowed.shape
    assert vocab == tokenizer.vocab_size and g.transition.shape == (num_states, vocab)
    assert g.allowed.dtype == np.bool_ and g.transition.dtype == np.int32
    assert g.transition.min() >= 0 and g.transition.max() < num_states
    assert g.allowed.any(axis=1).all(), "a state with no allowed token"
    special = tokenization.special_ids(tokenizer)
    assert not g.allowed[:, [special["pad"], special["bos"], special["mask"]]].any()
    assert g.eos_id == special["eos"] and not g.allowed[g.start_state, g.eos_id]
    # Disallowed tokens keep the state, so an unmasked lookup stays in range.
    rows = np.arange(num_states)[:, None]
    assert (g.transition[~g.allowed] == np.broadcast_to(rows, g.allowed.shape)[~g.allowed]).all()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_real_chorale_is_accepted(preset, built, converted_chorales, bach_corpus_paths):
    tokenizer, g = built[preset]
    scores = dict(converted_chorales)
    scores["bwv1.6"] = tokenization.encode(tokenizer, load_score(bach_corpus_paths["bwv1.6.mxl"]))
    for name, score in scores.items():
        ids = score if isinstance(score, list) else tokenization.encode(tokenizer, score)
        state = grammar.state_after(g, ids)
        assert g.allowed[state, g.eos_id], f"{name}: EOS not allowed at the end"
        end = grammar.state_after(g, [*ids, g.eos_id])
        assert np.flatnonzero(g.allowed[end]).tolist() == [g.eos_id]


@pytest.mark.parametrize("preset", PRESETS)
def test_user_midi_with_drums_and_meter_changes_is_accepted(preset, built, tmp_path, midi_writer):
    tokenizer, g = built[preset]
    tracks = [
        {"program": 0, "notes": [(i * 0.5, 0.75, 60 + i % 12, 70) for i in range(40)]},
        {
            "program": 0,
            "drum": True,
            "notes": [(i * 0.5, 0.1, 36 + i % 10, 100) for i in range(40)],
        },
    ]
    path = midi_writer(
        tmp_path / "x.mid", tracks, bpm=90, time_sigs=((0, 4, 4), (4, 3, 4), (7, 12, 8))
    )
    ids = tokenization.encode(tokenizer, load_score(path))
    state = grammar.state_after(g, ids)  # raises at the first token the automaton refuses
    assert g.allowed[state, g.eos_id], "EOS not allowed after the last note"
    assert type_errors(tokenizer, ids) == 0
    # the stream really holds what the test is about: every note, drums and all three meters
    assert tokenization.count_notes(tokenizer, ids) == 80
    types = tokenization.token_types(tokenizer)
    assert {"PitchDrum", "DrumOn"} & {types[i] for i in ids}
    meters = {tokenizer[i] for i in ids if types[i] == "TimeSig"}
    assert meters == {"TimeSig_4/4", "TimeSig_3/4", "TimeSig_12/8"}


@pytest.mark.parametrize("preset", PRESETS)
def test_random_walks_decode_to_notes(preset, built):
    tokenizer, g = built[preset]
    types = tokenization.token_types(tokenizer)
    ratios = []
    for seed in range(40):
        ids, states = random_walk(g, seed)
        score = tokenization.decode(tokenizer, ids)
        assert score.note_num() > 0, f"seed {seed}: no notes"
        assert type_errors(tokenizer, ids) == 0, f"seed {seed}"
        for token, state in zip(ids, states[1:], strict=True):
            # EOS only right after a complete note.
            if g.allowed[state, g.eos_id]:
                assert types[token] in NOTE_END_TYPES[preset], (
                    f"seed {seed}: EOS after {types[token]}"
                )
        ratios.append(tokenizer.tokens_errors(ids))
    if preset == "midilike":
        # Left: NoteOff without a sounding NoteOn and NoteOns never closed, which only a
        # set of sounding notes (not a finite automaton of this size) could prevent.
        assert max(ratios) < 0.6
    else:
        assert max(ratios) == 0.0  # MidiTok finds no error at all


def test_remi_positions_only_move_forward_inside_the_bar(built):
    tokenizer, g = built["remi"]
    v = tokenizer.vocab
    bar = [v["Bar_None"], v["TimeSig_3/4"]]
    note = [v["Program_40"], v["Pitch_60"], v["Velocity_63"], v["Duration_1.0.12"]]
    grammar.state_after(g, [*bar, v["Position_5"], *note, v["Position_35"], *note])
    with pytest.raises(ValueError, match="index 7"):  # backwards
        grammar.state_after(g, [*bar, v["Position_5"], *note, v["Position_3"], *note])
    with pytest.raises(ValueError, match="index 7"):  # same position again
        grammar.state_after(g, [*bar, v["Position_5"], *note, v["Position_5"]])
    with pytest.raises(ValueError, match="index 2"):  # 3/4 has 36 positions
        grammar.state_after(g, [*bar, v["Position_36"]])
    # A new bar resets the position.
    grammar.state_after(g, [*bar, v["Position_5"], *note, *bar, v["Position_0"], *note])


def test_state_after_rejects_broken_streams(built):
    tokenizer, g = built["remi"]
    v = tokenizer.vocab
    with pytest.raises(ValueError, match="not allowed"):
        grammar.state_after(g, [v["Pitch_60"]])  # a pitch before any bar/position
    bar_pos = [v["Bar_None"], v["TimeSig_4/4"], v["Position_0"]]
    with pytest.raises(ValueError, match="not allowed"):
        grammar.state_after(g, [*bar_pos, v["Pitch_60"]])  # no Program
    with pytest.raises(ValueError, match="not allowed"):
        grammar.state_after(g, [*bar_pos, v["Program_0"], v["Velocity_63"]])
    with pytest.raises(ValueError, match="not allowed"):
        grammar.state_after(g, [*bar_pos, v["Program_-1"], v["Pitch_60"]])  # drums take PitchDrum
    with pytest.raises(ValueError, match="outside"):
        grammar.state_after(g, [tokenizer.vocab_size])


def test_unsupported_tokenizers_are_refused():
    config = miditok.TokenizerConfig(use_programs=True, use_rests=True)
    with pytest.raises(ValueError, match="use_rests"):
        grammar.build_grammar(miditok.REMI(config))
    with pytest.raises(ValueError, match="no grammar for Octuple"):
        grammar.build_grammar(miditok.Octuple(miditok.TokenizerConfig(use_programs=True)))
