"""Only the instruments the data has: prepare records the train split's GM programs, generation
plays only those (or the ones asked for), and the MIDI writer never lets two programs share a
channel."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mido
import numpy as np
import pytest
from symusic import Note, Score, Track

from symbolic.data import manifest as mf
from symbolic.data.meta import load_meta
from symbolic.data.prepare import prepare
from symbolic.generation import constraints
from symbolic.generation.run import load_lm_run
from symbolic.generation.settings import Controls
from symbolic.output.midi import DRUM_CHANNEL, save_daw_midi
from symbolic.training import checkpoint
from tests.helpers import pop909_folder, write_run_dir


def _program_tokens(run, tokens, lengths) -> set[int]:
    inverse = {i: tok for tok, i in run.tokenizer.vocab.items()}
    return {
        int(inverse[int(i)][8:])
        for row, n in zip(tokens, lengths, strict=True)
        for i in row[:n]
        if inverse.get(int(i), "").startswith("Program_")
    }


def test_prepare_records_the_programs_its_train_split_plays(chorale_data_dir, tmp_path):
    from symbolic import tokenization

    tokenizer = tokenization.load_tokenizer(chorale_data_dir / "tokenizer.json")
    train_ids = set(np.unique(np.load(chorale_data_dir / "train.npy")).tolist())
    used = {
        int(tok.removeprefix("Program_"))
        for tok, i in tokenizer.vocab.items()
        if tok.startswith("Program_") and i in train_ids
    }
    assert load_meta(chorale_data_dir).programs == tuple(sorted(used))
    assert {40, 41, 42, 43} <= used  # the four voices of every chorale

    # POP909: three piano tracks, which the stream keeps apart on the first three pianos
    mf.write_folder_manifest(pop909_folder(tmp_path / "pop", 3), tmp_path / "pop.json")
    out = tmp_path / "data"
    meta = prepare(tmp_path / "pop.json", "remi", out, progress=False, workers=1)
    assert meta.programs == load_meta(out).programs == (0, 1, 2)


@pytest.fixture(scope="module")
def one_program_run(tmp_path_factory) -> Path:
    """A tiny random run whose meta.json says its data played program 0 only, as prepare
    writes it for POP909."""
    run_dir = write_run_dir(tmp_path_factory.mktemp("runs") / "piano", "transformer")
    path = run_dir / checkpoint.META_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "programs": [0]}))
    return run_dir


def test_a_one_program_run_generates_only_that_program(one_program_run):
    from symbolic.generation import engine, grammar
    from symbolic.generation.settings import Sampling

    run = load_lm_run(one_program_run)
    automaton = grammar.build_grammar(run.tokenizer)

    def programs(controls: Controls) -> set[int]:
        tokens, lengths, _ = engine.sample_tokens(
            run,
            [run.meta.special_ids.bos],
            automaton.start_state,
            automaton,
            Sampling(num=16, max_tokens=96, seed=0),
            controls=controls,
        )
        return _program_tokens(run, tokens, lengths)

    assert programs(Controls()) == {0}
    primer = [run.meta.special_ids.bos, *_flute_bar(run)]  # a primer on another instrument
    state = grammar.state_after(automaton, primer[1:])
    tokens, lengths, _ = engine.sample_tokens(
        run, primer, state, automaton, Sampling(num=16, max_tokens=96, seed=0)
    )
    assert _program_tokens(run, tokens, lengths) <= {0, 73}  # the primer's program goes on
    assert len(programs(Controls(programs="all"))) > 2  # the untrained model invents instruments
    assert programs(Controls(programs="0,33")) <= {0, 33}


def _flute_bar(run) -> list[int]:
    """One bar of a flute (program 73) note, as REMI tokens."""
    vocab = run.tokenizer.vocab
    names = ["Bar_None", "TimeSig_4/4", "Position_0", "Program_73", "Pitch_72"]
    velocity = next(t for t in vocab if t.startswith("Velocity_"))
    duration = next(t for t in vocab if t.startswith("Duration_"))
    return [vocab[t] for t in names] + [vocab[velocity], vocab[duration]]


@pytest.mark.parametrize(
    ("text", "message"),
    [("0,200", "0..127"), ("piano", "expected GM programs"), ("0,,1", "expected GM programs")],
)
def test_programs_are_parsed_once_with_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        Controls(programs=text).spec()
    assert constraints.parse_programs("all") is None
    assert constraints.parse_programs("0, 33,drums") == frozenset({0, 33, -1})


def _score(programs: list[int]) -> Score:
    score = Score(480)
    for i, program in enumerate(programs):
        track = Track(program=program, is_drum=False, name=f"t{i}")
        track.notes.append(Note(i * 120, 480, 40 + i, 80))
        score.tracks.append(track)
    drums = Track(program=0, is_drum=True, name="Drums")
    drums.notes.append(Note(0, 120, 36, 100))
    score.tracks.append(drums)
    return score


def _channel_programs(path: Path) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for track in mido.MidiFile(path).tracks:
        program = next((m.program for m in track if m.type == "program_change"), None)
        for msg in track:
            if msg.type == "note_on":
                found.setdefault(msg.channel, set()).add(program)
    return found


def test_twenty_tracks_never_put_two_programs_on_one_channel(tmp_path):
    programs = [p % 12 * 8 for p in range(20)]  # 20 tracks, 12 programs: more tracks than channels
    path = save_daw_midi(_score(programs), tmp_path / "band.mid")
    channels = _channel_programs(path)
    assert all(len(found) == 1 for found in channels.values())
    assert set().union(*channels.values()) == set(programs) | {0}
    drum_track = [t for t in mido.MidiFile(path).tracks if t.name == "Drums"][0]
    assert {m.channel for m in drum_track if hasattr(m, "channel")} == {DRUM_CHANNEL}
    melodic = {c for c in channels if c != DRUM_CHANNEL}
    assert len(melodic) == 12


def test_more_than_fifteen_programs_warn(tmp_path):
    with pytest.warns(UserWarning, match="20 melodic programs"):
        save_daw_midi(_score(list(range(20))), tmp_path / "many.mid")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_daw_midi(_score(list(range(15))), tmp_path / "fifteen.mid")
    assert all(len(found) == 1 for found in _channel_programs(path).values())
