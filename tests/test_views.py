"""Task views (`prepare --view`) on real chorales and on a drum corpus written with mido:
what each view keeps, the chords music21 finds, the token layout and its grammar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symusic import Score

from symbolic import tokenization
from symbolic.data import views
from symbolic.data.prepare import prepare
from symbolic.generation import grammar
from symbolic.music import chords
from tests.helpers import write_chorale_manifest

REMI = tokenization.load_tokenizer("remi")


def track_notes(track) -> list[tuple[int, int, int]]:
    return [(n.time, n.duration, n.pitch) for n in track.notes]


@pytest.mark.parametrize("name", ["bwv66.6.mxl", "bwv248.23-2.mxl"])
def test_melody_view_keeps_exactly_the_soprano(converted_chorales, name):
    """bwv248.23-2 has a flute above the soprano: the chorale's melody is still the soprano."""
    score = converted_chorales[name]
    soprano = next(t for t in score.tracks if t.name.startswith("Soprano"))
    melody = views.melody_score(score)
    assert len(melody.tracks) == 1
    assert track_notes(melody.tracks[0]) == track_notes(soprano)
    ids = views.encode(REMI, views.View("melody"), melody, None)
    decoded = tokenization.decode(REMI, ids)
    assert len(decoded.tracks) == 1
    assert [n.pitch for n in decoded.tracks[0].notes] == [n.pitch for n in soprano.notes]
    onsets = [n.time / decoded.ticks_per_quarter for n in decoded.tracks[0].notes]
    assert onsets == [n.time / score.ticks_per_quarter for n in soprano.notes]


def test_named_track_and_skyline(midi_writer, tmp_path):
    chords_then_line = [(0, 2, 60, 80), (0, 2, 64, 80), (0, 1, 67, 80), (1, 1, 65, 80)]
    path = midi_writer(
        tmp_path / "two.mid",
        [
            {"program": 0, "notes": chords_then_line},  # piano, polyphonic
            {"program": 73, "notes": [(0, 4, 50, 80)]},  # a low flute
        ],
    )
    score = Score(str(path))
    piano = views.melody_score(score, "acoustic grand piano").tracks[0]
    tpq = score.ticks_per_quarter
    # The highest note per onset (G4, then F4), each cut where the next onset starts.
    assert track_notes(piano) == [(0, tpq, 67), (tpq, tpq, 65)]
    assert views.melody_track(score).program == 0  # top voice: the highest mean pitch
    assert views.melody_track(score, "Flute").program == 73
    with pytest.raises(views.NoContent, match="no track named 'oboe'.*flute"):
        views.melody_score(score, "oboe")


def test_chords_view_of_bwv66_6_agrees_with_music21_on_known_beats(
    converted_chorales, bach_corpus_paths
):
    """The first two bars (beats 0-7 of the MIDI timeline, the pickup included) against
    music21's own chordify of the notated score: same root and triad quality per beat."""
    from music21 import converter

    harmony = views.harmony(REMI, converted_chorales["bwv66.6.mxl"], "beat")
    labels = [label for bar in harmony.labels[:2] for label in bar]
    assert [chords.symbol(v) for v in labels] == ["A", "F#m", "E", "A", "E", "A", "E", "A"]
    chordified = converter.parse(bach_corpus_paths["bwv66.6.mxl"]).chordify().flatten()
    for beat, value in enumerate(labels):
        reference = chordified.getElementAtOrBefore(beat, classList=["Chord"])
        root, quality = chords.root_and_quality(value)
        assert reference.root().pitchClass == root
        assert reference.quality == {"maj": "major", "min": "minor"}[quality]
    per_bar = views.harmony(REMI, converted_chorales["bwv66.6.mxl"], "bar")
    assert [len(bar) for bar in per_bar.labels] == [1] * len(harmony.labels)
    assert chords.symbol(per_bar.labels[0][0]) == "A"


def test_chord_symbols_parse_voice_and_recognise():
    for value in range(chords.NUM_LABELS):
        assert chords.recognise(chords.pitches(value)) == value
        assert chords.parse_symbol(chords.symbol(value)) == value
    same = ["Bb", "B-", "A#maj", "Bbmaj"]
    assert len({chords.parse_symbol(s) for s in same}) == 1
    assert chords.symbol(chords.parse_symbol("F#ø")) == "F#m7b5"
    assert chords.symbol(chords.parse_symbol("C/E")) == "C"
    assert chords.parse_progression("C:2 G:2 Am | F") == [
        (chords.parse_symbol("C"), 2),
        (chords.parse_symbol("G"), 2),
        (chords.parse_symbol("Am"), None),
        (chords.parse_symbol("F"), None),
    ]
    with pytest.raises(ValueError, match="unknown quality 'add9'"):
        chords.parse_symbol("Cadd9")
    harmony = views.harmony_from_progression("C:2 G:2 Am F", (4, 4), "beat")
    assert [[chords.symbol(v) for v in bar] for bar in harmony.labels] == [
        ["C", "C", "G", "G"],
        ["Am"] * 4,
        ["F"] * 4,
    ]
    with pytest.raises(ValueError, match="--chord-rate beat"):
        views.harmony_from_progression("C:2 G:2", (4, 4), "bar")
    with pytest.raises(ValueError, match="not a whole number"):
        views.harmony_from_progression("C:3", (4, 4), "beat")


def test_drums_view_keeps_the_gm_drum_map_and_skips_files_without_drums(drum_corpus, tmp_path):
    meta = prepare(
        drum_corpus["manifest"],
        "remi",
        tmp_path / "drums",
        view=views.View("drums"),
        workers=1,
        progress=False,
        cache_dir=None,
    )
    assert meta.view.to_json() == {"name": "drums"} and meta.vocab_size == len(REMI.vocab)
    assert meta.to_json()["skipped"] == [
        {"file": "no_drums.mid", "reason": "no drum track (GM channel 10)"}
    ]
    tokens = np.load(tmp_path / "drums" / "train.npy")
    offsets = np.load(tmp_path / "drums" / "train_offsets.npy")
    first = tokenization.decode(REMI, tokens[offsets[0] : offsets[1]])
    assert [t.is_drum for t in first.tracks] == [True]  # the piano is gone
    pitches = {
        n.pitch
        for seq in np.split(tokens, offsets[1:-1])
        for t in tokenization.decode(REMI, seq).tracks
        for n in t.notes
    }
    assert pitches == {36, 38, 42}  # the out-of-map 30 and 90 are dropped
    with pytest.raises(ValueError, match="drums are never transposed"):
        prepare(
            drum_corpus["manifest"],
            "remi",
            tmp_path / "x",
            augment_transpose=(-2, 2),
            view=views.View("drums"),
            progress=False,
        )


@pytest.fixture(scope="module")
def chorale_manifest(tmp_path_factory) -> Path:
    """Four chorales (train 2, valid 1, test 1) of the repository's manifest."""
    return write_chorale_manifest(tmp_path_factory.mktemp("views") / "manifest.json", 2, 1, 1)


@pytest.mark.parametrize("name", ["chords", "melody_over_chords", "chords_for_melody"])
def test_chord_views_are_laid_out_per_bar_and_accepted_by_the_grammar(
    chorale_manifest, tmp_path, name
):
    view = views.View(name, chord_rate="beat")
    out, cache = tmp_path / name, tmp_path / "cache"
    meta = prepare(
        chorale_manifest, "remi", out, view=view, workers=1, progress=False, cache_dir=cache
    )
    assert meta.view.name == name and meta.view.chord_rate == "beat"
    assert meta.vocab_size == len(REMI.vocab) + chords.NUM_LABELS
    assert meta.extra_tokens["Chord_C:maj"] == len(REMI.vocab) + chords.label(0, "maj")
    automaton = grammar.build_grammar(REMI, views.chord_slots(REMI, view))
    tokens = np.load(tmp_path / name / "train.npy")
    offsets = np.load(tmp_path / name / "train_offsets.npy")
    for start, stop in zip(offsets[:-1], offsets[1:], strict=True):
        body = tokens[start + 1 : stop - 1]  # without BOS and EOS
        state = grammar.state_after(automaton, body)
        assert automaton.allowed[state, automaton.eos_id]
        score = views.decode(REMI, meta, body)
        chord_tracks = [t for t in score.tracks if t.name == chords.CHORD_TRACK_NAME]
        assert len(chord_tracks) == 1
        assert len(score.tracks) == (1 if name == "chords" else 2)
        bars = views.bars(REMI, body)
        first_bar_chords = [int(t) - len(REMI.vocab) for t in bars[0] if t >= len(REMI.vocab)]
        assert len(first_bar_chords) == 4  # a chord per beat of 4/4
        first_onsets = {e[0] for e in chords.label_events(chord_tracks[0])}
        assert 0 in first_onsets


def test_chords_are_extracted_once_per_work_and_rate(chorale_manifest, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    options = dict(view=views.View("chords"), workers=1, progress=False, cache_dir=cache)
    prepare(chorale_manifest, "remi", tmp_path / "a", **options)
    assert len(list(cache.glob("*-chords-beat-*.json"))) == 4

    def chordify_again(*args):
        raise AssertionError("music21 ran again")

    monkeypatch.setattr("symbolic.data.chords.extract", chordify_again)
    prepare(chorale_manifest, "remi", tmp_path / "b", **options)
    for split in ("train", "valid", "test"):
        a, b = (np.load(tmp_path / d / f"{split}.npy") for d in "ab")
        assert np.array_equal(a, b)


def test_chords_after_notes_need_every_slot_before_the_next_bar():
    view = views.View("chords_for_melody")
    automaton = grammar.build_grammar(REMI, views.chord_slots(REMI, view))
    vocab, first = REMI.vocab, len(REMI.vocab)
    bar = [vocab["Bar_None"], vocab["TimeSig_3/4"], vocab["Position_0"], vocab["Program_0"]]
    bar += [vocab["Pitch_60"], vocab["Velocity_63"], vocab["Duration_1.0.12"]]
    c_major = first + chords.label(0, "maj")
    state = grammar.state_after(automaton, [*bar, c_major, c_major])
    assert not automaton.allowed[state, vocab["Bar_None"]]  # a 3/4 bar takes 3 chords
    assert not automaton.allowed[state, automaton.eos_id]
    state = grammar.state_after(automaton, [*bar, c_major, c_major, c_major])
    assert automaton.allowed[state, vocab["Bar_None"]] and automaton.allowed[state, 2]
    assert not automaton.allowed[state, vocab["Position_12"]]  # no notes after the chords
    with pytest.raises(ValueError, match="not allowed"):
        grammar.state_after(automaton, [*bar, c_major, vocab["Position_12"]])


@pytest.mark.parametrize("name", [v for v in views.VIEWS if v != "full"])
def test_every_view_has_a_training_preset(name):
    from symbolic.training import config as config_lib

    doc = json.loads((config_lib.PRESET_DIR / f"{name}.json").read_text())["_doc"]
    assert f"--view {name}" in doc
    for model in ("transformer", "lstm"):
        config = config_lib.resolve(model, name)
        assert config.train.seq_len <= getattr(config.model, "max_len", config.train.seq_len)


def test_melody_views_record_each_works_melody_track_in_meta(tmp_path):
    """POP909 (MELODY, BRIDGE and PIANO, all piano): meta.json names the track the melody
    finder chose for every work, as the file writes it, and why."""
    from symbolic.data import manifest as mf
    from symbolic.data.meta import load_meta
    from tests.helpers import pop909_folder

    mf.write_folder_manifest(
        pop909_folder(tmp_path / "pop", 4), tmp_path / "pop.json", group_by="top"
    )
    out = tmp_path / "melody"
    prepare(
        tmp_path / "pop.json", "remi", out, view=views.View("melody"), progress=False, workers=1
    )
    meta = load_meta(out)
    assert set(meta.melody_track) == {w.id for w in mf.load_manifest(tmp_path / "pop.json").works}
    assert set(meta.melody_track.values()) == {"MELODY"}
    assert set(meta.melody_track_reason.values()) == {"its name says melody"}
    full = tmp_path / "full"
    prepare(tmp_path / "pop.json", "remi", full, progress=False, workers=1)
    assert load_meta(full).melody_track is None  # only melody views choose a melody
