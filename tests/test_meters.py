"""Meters and long notes through the presets: written meters come back (n/2 and n/1 as the n/4
of the same bar), long notes whole, and a meter outside the presets is listed by prepare."""

from __future__ import annotations

import json

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from symbolic import tokenization
from symbolic.data import manifest as mf
from symbolic.data import prepare as prep
from symbolic.data.meta import load_meta
from symbolic.generation import grammar
from tests.helpers import assert_round_trip

PRESETS = tuple(tokenization.PRESET_CONFIGS)
TPQ = 480
# The meters real music uses, as written; n/2 and n/1 come back as the n/4 of the same bar.
METERS = (
    *((n, 4) for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)),
    *((n, 8) for n in (2, 3, 4, 5, 6, 7, 8, 9, 12)),
    *((n, 2) for n in (1, 2, 3, 4, 6)),
    (3, 1),
)


@pytest.fixture(scope="module")
def tokenizers():
    return {name: tokenization.load_tokenizer(name) for name in PRESETS}


@pytest.fixture(scope="module")
def grammars(tokenizers):
    return {name: grammar.build_grammar(tok) for name, tok in tokenizers.items()}


def bar_quarters(numerator: int, denominator: int) -> float:
    return 4 * numerator / denominator


def metered_score(numerator: int, denominator: int, bars: int = 3) -> Score:
    """A score in one meter, written with symusic: per bar a downbeat note, a run of 16ths after
    it, and a note held to the bar's end."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, 100.0))
    score.time_signatures.append(TimeSignature(0, numerator, denominator))
    track = Track(program=0)
    bar = bar_quarters(numerator, denominator)
    for b in range(bars):
        start = b * bar
        track.notes.append(Note(round(start * TPQ), TPQ // 4, 72, 90))
        sixteenths = min(int(bar * 4) - 2, 6)
        for i in range(1, sixteenths + 1):
            track.notes.append(Note(round((start + i / 4) * TPQ), TPQ // 4, 60 + i, 70))
        held = start + (sixteenths + 1) / 4
        track.notes.append(Note(round(held * TPQ), round((start + bar - held) * TPQ), 48, 70))
    score.tracks.append(track)
    return score


def decoded_meters(score: Score) -> list[tuple[float, int, int]]:
    """(start in quarters, numerator, denominator) of each time signature."""
    tpq = score.ticks_per_quarter
    return [(ts.time / tpq, ts.numerator, ts.denominator) for ts in score.time_signatures]


@pytest.mark.parametrize("meter", METERS, ids=lambda m: f"{m[0]}-{m[1]}")
@pytest.mark.parametrize("preset", PRESETS)
def test_each_meter_survives_encode_and_decode(preset, meter, tokenizers, grammars):
    tokenizer = tokenizers[preset]
    score = metered_score(*meter)
    decoded = assert_round_trip(tokenizer, score, f"{preset} {meter}")
    written = tokenization.tokenized_meter(*meter)
    assert {m[1:] for m in decoded_meters(decoded)} == {written}, f"{preset} {meter}"
    assert bar_quarters(*written) == bar_quarters(*meter)
    ids = tokenization.encode(tokenizer, score)
    state = grammar.state_after(grammars[preset], ids)  # the automaton accepts the stream
    assert grammars[preset].allowed[state, grammars[preset].eos_id]
    if preset == "remi":  # one Bar per written bar: the bars are the written ones
        assert ids.count(tokenizer.vocab["Bar_None"]) == 3, meter


def test_nine_eight_file_keeps_its_bars(tmp_path, tokenizers):
    path = tmp_path / "jig.mid"
    metered_score(9, 8, bars=4).dump_midi(str(path))
    score = Score(str(path))
    for preset, tokenizer in tokenizers.items():
        ids = tokenization.encode(tokenizer, score)
        assert tokenizer.vocab["TimeSig_9/8"] in ids, preset
        decoded = tokenization.decode(tokenizer, ids)
        assert decoded_meters(decoded) == [(0.0, 9, 8)], preset
        downbeats = sorted(n.time / decoded.ticks_per_quarter for n in decoded.tracks[0].notes)
        assert [t for t in downbeats if t % 4.5 == 0][:4] == [0.0, 4.5, 9.0, 13.5], preset


@pytest.mark.parametrize(("meter", "quarters"), [((6, 8), 11.0), ((4, 4), 23.0), ((3, 4), 13.0)])
def test_long_notes_come_back_whole(meter, quarters, tokenizers):
    score = metered_score(*meter, bars=1)
    score.tracks[0].notes.append(Note(0, round(quarters * TPQ), 40, 80))
    for preset, tokenizer in tokenizers.items():
        decoded = tokenization.decode(tokenizer, tokenization.encode(tokenizer, score))
        longest = max(n.duration for t in decoded.tracks for n in t.notes)
        assert longest / decoded.ticks_per_quarter == quarters, (preset, meter)


def test_longest_duration_is_24_beats(tokenizers):
    for preset, tokenizer in tokenizers.items():
        assert tokenizer.durations[-1] == (24, 0, 1), preset
    score = metered_score(4, 4, bars=1)
    score.tracks[0].notes.append(Note(0, 30 * TPQ, 40, 80))
    remi = tokenizers["remi"]
    decoded = tokenization.decode(remi, tokenization.encode(remi, score))
    assert max(n.duration for n in decoded.tracks[0].notes) == 24 * decoded.ticks_per_quarter
    # MIDI-Like: a NoteOn never closed lasts the longest duration, as a closed one can.
    midilike = tokenizers["midilike"]
    ids = tokenization.encode(midilike, score)
    ids.remove(midilike.vocab["NoteOff_40"])
    decoded = tokenization.decode(midilike, ids)
    held = [n for n in decoded.tracks[0].notes if n.pitch == 40]
    assert [n.duration / decoded.ticks_per_quarter for n in held] == [24.0]


def test_meters_outside_the_presets_are_listed_by_prepare(tmp_path, capsys):
    folder = tmp_path / "tunes"
    folder.mkdir()
    metered_score(9, 8).dump_midi(str(folder / "jig.mid"))
    metered_score(11, 8, bars=5).dump_midi(str(folder / "balkan.mid"))
    odd = metered_score(4, 4, bars=2)  # then 13/16 from bar 3
    odd.time_signatures.append(TimeSignature(8 * TPQ, 13, 16))
    odd.tracks[0].notes.extend(Note(round((8 + i / 4) * TPQ), TPQ // 4, 60, 80) for i in range(26))
    odd.dump_midi(str(folder / "odd.mid"))
    manifest = mf.write_folder_manifest(folder, tmp_path / "tunes.json")
    ids = {w.path: w.id for w in mf.load_manifest(manifest).works}
    out = tmp_path / "data"
    meta = prep.prepare(manifest, "remi", out, workers=1, progress=False, cache_dir=False)

    want = {"11/8": {ids["balkan.mid"]: 5}, "13/16": {ids["odd.mid"]: 2}}
    assert meta.unsupported_meters == want
    assert json.loads((out / "meta.json").read_text())["unsupported_meters"] == want
    assert load_meta(out).unsupported_meters == want
    flagged = {item.file: item.reason for item in meta.flagged}
    assert "jig.mid" not in flagged
    assert "11/8 (5 bars)" in flagged["balkan.mid"]
    assert "13/16 (2 bars)" in capsys.readouterr().err


def test_no_unsupported_meter_leaves_the_field_out(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    for meter in ((9, 8), (7, 8), (3, 2)):
        metered_score(*meter).dump_midi(str(folder / f"{meter[0]}_{meter[1]}.mid"))
    manifest = mf.write_folder_manifest(folder, tmp_path / "tunes.json")
    out = tmp_path / "data"
    meta = prep.prepare(manifest, "remi", out, workers=1, progress=False, cache_dir=False)
    assert meta.unsupported_meters is None and meta.flagged is None
    assert "unsupported_meters" not in json.loads((out / "meta.json").read_text())
