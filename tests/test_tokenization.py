"""Tokenizer presets and the score conversion behind them, on real chorales."""

from __future__ import annotations

import json
from collections import Counter

import mido
import pytest
from symusic import Score

from symbolic import tokenization
from symbolic.data import convert
from symbolic.data.convert import load_score
from tests.helpers import DATA_TEST_CHORALES, assert_round_trip, assert_same_notes, notes_of

PRESETS = tuple(tokenization.PRESET_CONFIGS)


@pytest.fixture(scope="module")
def tokenizers():
    return {name: tokenization.load_tokenizer(name) for name in PRESETS}


def cross_voice_unisons(score) -> int:
    """Number of (onset, pitch) pairs struck by two or more tracks at once."""
    owners: dict[tuple[int, int], set[int]] = {}
    for i, track in enumerate(score.tracks):
        for note in track.notes:
            owners.setdefault((note.time, note.pitch), set()).add(i)
    return sum(len(tracks) > 1 for tracks in owners.values())


# --- presets -----------------------------------------------------------------------------


def test_presets_load_with_moderate_vocab_and_fixed_specials(tokenizers):
    for name, tokenizer in tokenizers.items():
        assert 300 < tokenizer.vocab_size < 700, name
        assert tokenization.special_ids(tokenizer) == {"pad": 0, "bos": 1, "eos": 2, "mask": 3}
        assert tokenizer.config.use_programs and tokenizer.one_token_stream
        assert set(tokenizer.config.programs) == set(range(-1, 128))  # every GM program + drums


def test_committed_presets_match_their_recipe(tokenizers):
    # The JSON files are the source of truth for users; PRESET_CONFIGS is how they were made.
    for name, tokenizer in tokenizers.items():
        rebuilt = tokenization.build_preset(name)
        assert tokenization.tokenizer_hash(rebuilt) == tokenization.tokenizer_hash(tokenizer)


def test_tokenizer_hash_is_stable_and_sensitive(tmp_path, tokenizers):
    hashes = {name: tokenization.tokenizer_hash(tok) for name, tok in tokenizers.items()}
    assert len(set(hashes.values())) == len(PRESETS)
    tokenizers["remi"].save(tmp_path / "copy.json")
    assert (
        tokenization.tokenizer_hash(tokenization.load_tokenizer(tmp_path / "copy.json"))
        == (hashes["remi"])
    )
    params = json.loads((tmp_path / "copy.json").read_text())
    params["config"]["num_velocities"] = 8
    (tmp_path / "other.json").write_text(json.dumps(params))
    changed = tokenization.load_tokenizer(tmp_path / "other.json")
    assert tokenization.tokenizer_hash(changed) != hashes["remi"]


def test_load_tokenizer_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="'nope'"):
        tokenization.load_tokenizer("nope")
    bogus = tmp_path / "tok.json"
    bogus.write_text('{"tokenization": "NotATokenizer", "config": {}}')
    with pytest.raises(ValueError, match="NotATokenizer"):
        tokenization.load_tokenizer(bogus)
    bogus.write_text("not json")
    with pytest.raises(ValueError, match="not a MidiTok tokenizer"):
        tokenization.load_tokenizer(bogus)


# --- conversion --------------------------------------------------------------------------


def test_assign_programs_distinct_and_voice_aware():
    assert convert.assign_programs(["Soprano", "Alto", "Tenor", "Bass"]) == [40, 41, 42, 43]
    assert convert.assign_programs([None, None, None, None]) == [40, 41, 42, 43]
    horn = convert.assign_programs(["Horn 2", "Soprano", "Alto", "Tenor", "Bass"])
    assert horn[1:] == [40, 41, 42, 43] and horn[0] not in horn[1:]
    doubled = convert.assign_programs(["Soprano 1", "Soprano 2", "Alto\rViola", "Bass Continuo"])
    assert doubled[0] == 40 and doubled[2] == 41 and doubled[3] == 43
    many = convert.assign_programs([f"Part {i}" for i in range(40)] + ["Tenor"])
    assert len(set(many)) == len(many) and many[-1] == 42


def test_conversion_keeps_every_music21_note_in_its_part(bach_corpus_paths, converted_chorales):
    from music21 import converter

    for name, score in converted_chorales.items():
        m21 = converter.parse(str(bach_corpus_paths[name]))
        programs = convert.assign_programs([p.partName for p in m21.parts])
        expanded = m21.expandRepeats()
        want = sorted(
            (program, round(float(n.offset), 6), p.midi)
            for part, program in zip(expanded.parts, programs, strict=True)
            for n in part.stripTies(matchByPitch=True).flatten().notes
            if not n.duration.isGrace
            for p in n.pitches
        )
        got = sorted((prog, round(onset, 6), pitch) for prog, onset, pitch, _ in notes_of(score))
        assert got == want, name
        assert len({t.program for t in score.tracks}) == len(score.tracks) == len(m21.parts), name


def test_conversion_is_deterministic(bach_corpus_paths):
    path = bach_corpus_paths["bwv66.6.mxl"]
    first, _ = convert.music21_to_midi_bytes(convert.parse_music21(path))
    second, _ = convert.music21_to_midi_bytes(convert.parse_music21(path))
    assert first == second


def test_malformed_repeats_are_stripped_not_dropped(bach_corpus_paths):
    from music21 import repeat
    from music21.midi import translate

    path = bach_corpus_paths["bwv277.krn"]
    with pytest.raises(repeat.ExpanderException):  # what plain music21 does
        translate.music21ObjectToMidiFile(convert.parse_music21(path))
    data, stripped = convert.music21_to_midi_bytes(convert.parse_music21(path))
    score = Score.from_midi(data)
    assert stripped
    assert [t.program for t in score.tracks if t.notes] == [40, 41, 42, 43]
    assert score.note_num() > 200


def test_analyses_are_not_scores(bach_corpus_paths):
    rntxt = next(p for n, p in bach_corpus_paths.items() if n.endswith(".rntxt"))
    with pytest.raises(ValueError, match="roman-numeral"):
        convert.load_score(rntxt)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_TEST_CHORALES, ids=str)
@pytest.mark.parametrize("preset", PRESETS)
def test_chorale_round_trips_every_note(preset, name, tokenizers, converted_chorales):
    assert_round_trip(tokenizers[preset], converted_chorales[name], f"{preset} {name}")


@pytest.mark.parametrize("preset", PRESETS)
def test_unisons_between_voices_survive(preset, tokenizers, converted_chorales):
    score = converted_chorales["bwv66.6.mxl"]
    unisons = cross_voice_unisons(score)
    assert unisons > 0
    decoded = tokenization.decode(
        tokenizers[preset], tokenization.encode(tokenizers[preset], score)
    )
    assert cross_voice_unisons(decoded) == unisons
    assert len(decoded.tracks) == len(score.tracks) == 4


def test_voices_that_share_a_program_keep_their_own_tracks(tokenizers, converted_chorales):
    # music21's own MIDI gives every part program 0: MidiTok alone merges the voices into one
    # track and loses their unisons; the stream programs (`symbolic.tracks`) keep them.
    score = converted_chorales["bwv66.6.mxl"].copy()
    for track in score.tracks:
        track.program = 0
    tokenizer = tokenizers["remi"]
    merged = tokenizer.decode(tokenizer.encode(score).ids)
    assert len(merged.tracks) == 1 and cross_voice_unisons(merged) == 0
    decoded = tokenization.decode(tokenizer, tokenization.encode(tokenizer, score))
    assert len(decoded.tracks) == 4
    assert cross_voice_unisons(decoded) == cross_voice_unisons(score) > 0


def test_half_note_meter_keeps_sixteenths(tmp_path, midi_writer, tokenizers, converted_chorales):
    assert {
        (ts.numerator, ts.denominator) for ts in converted_chorales["bwv123.6.mxl"].time_signatures
    } == {(3, 2)}
    notes = [(i * 0.25, 0.25, 60 + i % 7, 80) for i in range(48)]  # running 16ths
    path = midi_writer(
        tmp_path / "three_two.mid", [{"program": 40, "notes": notes}], time_sigs=((0, 3, 2),)
    )
    score = Score(str(path))
    tokenizer = tokenizers["remi"]
    decoded = tokenization.decode(tokenizer, tokenization.encode(tokenizer, score))
    assert {(ts.numerator, ts.denominator) for ts in decoded.time_signatures} == {(6, 4)}
    assert_same_notes(score, decoded, "3/2 as 6/4", tokenizer.config.beat_res)
    # Without the rewrite the unsupported 3/2 is dropped and the bars are read as 4/4.
    raw = tokenizer.decode(tokenizer.encode(score).ids)
    assert {(ts.numerator, ts.denominator) for ts in raw.time_signatures} == {(4, 4)}


@pytest.mark.parametrize("preset", PRESETS)
def test_midi_file_with_drums_and_meter_changes_round_trips(
    preset, tmp_path, midi_writer, tokenizers
):
    tracks = [
        {"program": 0, "notes": [(i * 0.5, 0.5, 60 + i % 12, 80) for i in range(24)]},
        {"program": 33, "notes": [(i * 1.0, 1.0, 36 + i % 5, 90) for i in range(12)]},
        {
            "program": 0,
            "drum": True,
            "notes": [(i * 1.0, 0.25, 36 + 2 * (i % 3), 100) for i in range(12)],
        },
    ]
    path = midi_writer(tmp_path / "song.mid", tracks, time_sigs=((0, 4, 4), (4, 3, 4), (7, 6, 8)))
    reference = Score(str(path))
    decoded = assert_round_trip(tokenizers[preset], load_score(path), preset, reference)
    assert any(t.is_drum for t in decoded.tracks), preset


def test_decode_ignores_special_tokens(tokenizers, converted_chorales):
    tokenizer = tokenizers["remi"]
    special = tokenization.special_ids(tokenizer)
    ids = tokenization.encode(tokenizer, converted_chorales["bwv67.4.xml"])
    padded = [special["bos"], *ids, special["eos"], special["pad"], special["pad"]]
    assert notes_of(tokenization.decode(tokenizer, padded)) == notes_of(
        tokenization.decode(tokenizer, ids)
    )
    assert tokenization.decode(tokenizer, [special["bos"], special["eos"]]).note_num() == 0


def test_save_midi_adds_tempo_and_meter_and_opens_everywhere(tmp_path, tokenizers):
    from music21 import converter
    from symusic import Note, Track

    score = Score(96)
    track = Track(program=40)
    track.notes.extend([Note(i * 96, 96, 60 + i, 80) for i in range(8)])
    score.tracks.append(track)
    assert len(score.tempos) == 0 and len(score.time_signatures) == 0
    path = tokenization.save_midi(score, tmp_path / "out" / "x.mid")

    midi = mido.MidiFile(path)
    assert midi.type == 1
    kinds = Counter(msg.type for t in midi.tracks for msg in t)
    assert kinds["set_tempo"] >= 1 and kinds["time_signature"] >= 1 and kinds["note_on"] >= 8
    parsed = converter.parse(str(path))
    assert len(parsed.flatten().notes) == 8
    assert parsed.recurse().getElementsByClass("TimeSignature").first().ratioString == "4/4"
