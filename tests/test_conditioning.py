"""Conditioning as model input, end to end: prepare a view, train a tiny model, generate.

* chords -> melody: a synthetic lead-sheet corpus written with mido (every melody note is a
  tone of its bar's chord) makes the condition learnable in a few hundred steps; melodies
  generated over "C G Am F" must use the chord tones on strong beats far more often than
  melodies sampled from the same model without the chords;
* melody -> chords (harmonisation), trained on real chorales: every bar gets its chords;
* drums under a tempo and a time signature: the output MIDI, read back with mido, has them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import mido
import numpy as np
import pytest
from symusic import Score

from symbolic import cli
from symbolic.data import views
from symbolic.data.manifest import write_folder_manifest
from symbolic.data.prepare import prepare
from symbolic.generation.conditioning import Condition
from symbolic.generation.generate import generate
from symbolic.generation.settings import Controls
from symbolic.music import chords
from tests.helpers import train_tiny, write_chorale_manifest, write_test_midi

PROGRESSION = "C G Am F"
LEAD_SHEET_CHORDS = ("C", "F", "G", "Am")  # I, IV, V, vi in C major
RHYTHMS = ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (2, 2))  # in beats: beats 1 and 3 always start
LEAD_SHEET_STEPS = 400


def write_lead_sheet(path: Path, rng: random.Random, bars: int = 8) -> None:
    """Block chords (a piano, one chord a bar) under a flute playing only their chord tones."""
    labels = [chords.parse_symbol(rng.choice(LEAD_SHEET_CHORDS))]
    while len(labels) < bars:
        others = [c for c in LEAD_SHEET_CHORDS if chords.parse_symbol(c) != labels[-1]]
        labels.append(chords.parse_symbol(rng.choice(others)))
    block, melody = [], []
    for bar, label in enumerate(labels):
        block += [(4 * bar, 4, pitch, 70) for pitch in chords.pitches(label)]
        classes = {p % 12 for p in chords.pitches(label)}
        tones = [p for p in range(60, 80) if p % 12 in classes]
        beat = 0
        for length in rng.choice(RHYTHMS):
            melody.append((4 * bar + beat, length, rng.choice(tones), 90))
            beat += length
    tracks = [{"program": 0, "notes": block}, {"program": 73, "notes": melody}]
    write_test_midi(path, tracks)


@pytest.fixture(scope="module")
def lead_sheet_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lead_sheets")
    rng = random.Random(0)
    for i in range(48):
        write_lead_sheet(root / "midi" / f"song_{i:02d}.mid", rng)
    manifest = write_folder_manifest(root / "midi", root / "manifest.json")
    view = views.View("melody_over_chords", chord_rate="bar")
    prepare(manifest, "remi", root / "data", view=view, workers=1, progress=False, cache_dir=None)
    # One wide attention layer with many heads, at a constant learning rate: which head
    # learns to read the bar's chord is a lottery, won within a few hundred steps with 16.
    settings = ("model.d_model=128", "model.num_heads=16", "model.d_ff=256", "model.num_layers=1")
    settings += ("train.seq_len=64", "train.learning_rate=5e-3", "train.min_lr_ratio=1.0")
    return train_tiny(root / "data", root / "run", LEAD_SHEET_STEPS, *settings)


def strong_beat_chord_tones(out_dir: Path, labels: list[int]) -> tuple[float, int]:
    """Share of melody notes on beats 1 and 3 of bar i that are tones of ``labels[i]``."""
    hits = total = 0
    for path in sorted(out_dir.glob("*.mid")):
        score = Score(str(path))
        for track in score.tracks:
            if track.name == chords.CHORD_TRACK_NAME:
                continue
            for note in track.notes:
                beat = note.time / score.ticks_per_quarter
                bar = int(beat // 4)
                if bar < len(labels) and beat % 4 in (0, 2):
                    total += 1
                    hits += note.pitch % 12 in {p % 12 for p in chords.pitches(labels[bar])}
    return hits / max(total, 1), total


def test_chord_conditioned_melodies_use_chord_tones_on_strong_beats(lead_sheet_run, tmp_path):
    labels = [chords.parse_symbol(s) for s in PROGRESSION.split()]
    argv = ["generate", str(lead_sheet_run), "--out", str(tmp_path / "cond"), "--num", "16"]
    assert cli.main([*argv, "--chords", PROGRESSION, "--max-tokens", "200", "--plot"]) == 0
    generate(lead_sheet_run, tmp_path / "free", num=16, max_tokens=200, controls=Controls(bars=4))
    conditioned, count = strong_beat_chord_tones(tmp_path / "cond", labels)
    baseline, _ = strong_beat_chord_tones(tmp_path / "free", labels)
    assert count >= 16 * 4  # at least the downbeats of 4 bars in 16 pieces
    assert conditioned >= 0.75 and conditioned >= baseline + 0.2, (conditioned, baseline)
    for path in sorted((tmp_path / "cond").glob("*.mid")):  # the condition is in the file
        score = Score(str(path))
        track = next(t for t in score.tracks if t.name == chords.CHORD_TRACK_NAME)
        events = chords.label_events(track)
        assert [label for _, label in events] == labels
        assert [tick / score.ticks_per_quarter for tick, _ in events] == [0, 4, 8, 12]
        assert max(n.time for t in score.tracks for n in t.notes) < 16 * score.ticks_per_quarter
        assert path.with_suffix(".png").stat().st_size > 10_000  # with the chord symbols
    report = json.loads((tmp_path / "cond" / "generation.json").read_text())
    assert report["condition"]["chords"] == PROGRESSION


@pytest.fixture(scope="module")
def harmoniser_run(tmp_path_factory) -> Path:
    """A tiny chords_for_melody model trained briefly on twelve real chorales."""
    root = tmp_path_factory.mktemp("harmoniser")
    manifest = write_chorale_manifest(root / "manifest.json")
    view = views.View("chords_for_melody", chord_rate="beat")
    prepare(manifest, "remi", root / "data", view=view, workers=1, progress=False, cache_dir=None)
    return train_tiny(root / "data", root / "run", 40)


def test_harmonisation_gives_chords_for_every_bar_of_the_melody(
    harmoniser_run, midi_writer, tmp_path
):
    """A 5-bar 3/4 melody (with a bar of rest): 3 chords a bar come back, the melody as is."""
    melody = [(0, 1, 67, 90), (1, 1, 69, 90), (2, 1, 71, 90), (3, 3, 72, 90)]
    melody += [(9, 1.5, 71, 90), (10.5, 0.5, 69, 90), (11, 1, 67, 90), (12, 3, 67, 90)]
    path = midi_writer(
        tmp_path / "tune.mid", [{"program": 73, "notes": melody}], time_sigs=((0, 3, 4),)
    )
    generate(
        harmoniser_run, tmp_path / "out", num=3, max_tokens=8, condition=Condition(melody=path)
    )
    for sample in sorted((tmp_path / "out").glob("*.mid")):
        score = Score(str(sample))
        tpq = score.ticks_per_quarter
        tune = next(t for t in score.tracks if t.name != chords.CHORD_TRACK_NAME)
        got = [(n.time / tpq, n.duration / tpq, n.pitch) for n in tune.notes]
        assert got == [(s, d, p) for s, d, p, _ in melody]
        track = next(t for t in score.tracks if t.name == chords.CHORD_TRACK_NAME)
        sounding = {int(n.time // (3 * tpq)) for n in track.notes}
        assert sounding == {0, 1, 2, 3, 4}  # every bar, the rest bar (2) included
        assert max(n.time + n.duration for n in track.notes) <= 15 * tpq
        assert {(ts.numerator, ts.denominator) for ts in score.time_signatures} == {(3, 4)}


@pytest.fixture(scope="module")
def drum_run(drum_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drum_run")
    view = views.View("drums")
    manifest = drum_corpus["manifest"]
    prepare(manifest, "remi", root / "data", view=view, workers=1, progress=False, cache_dir=None)
    return train_tiny(root / "data", root / "run", 30)


def test_drums_follow_the_requested_tempo_and_time_signature(drum_run, tmp_path):
    """Two bars of 3/4 at 96 bpm: the prompt's bar counts as the first of the two."""
    condition = Condition(tempo=96, time_signature="3/4")
    paths = generate(
        drum_run, tmp_path, num=4, max_tokens=120, condition=condition, controls=Controls(bars=2)
    )
    for path in paths:
        midi = mido.MidiFile(path)
        meta = [m for t in midi.tracks for m in t if m.is_meta]
        tempos = [m.tempo for m in meta if m.type == "set_tempo"]
        meters = [(m.numerator, m.denominator) for m in meta if m.type == "time_signature"]
        assert tempos == [mido.bpm2tempo(96)] and set(meters) == {(3, 4)}
        onsets = []
        for track in midi.tracks:
            ticks = np.cumsum([m.time for m in track])
            onsets += [
                (t, m)
                for t, m in zip(ticks, track, strict=True)
                if m.type == "note_on" and m.velocity
            ]
        assert onsets and {m.channel for _, m in onsets} == {9}
        assert all(35 <= m.note <= 81 for _, m in onsets)
        assert max(t for t, _ in onsets) < 2 * 3 * midi.ticks_per_beat


def test_a_condition_the_run_was_not_trained_for_is_a_one_line_error(drum_run, tmp_path, capsys):
    argv = ["generate", str(drum_run), "--out", str(tmp_path)]
    cases = [
        (
            ["--chords", "C G"],
            "trained on the 'drums' view; --chords needs a run prepared with "
            "--view melody_over_chords",
        ),
        (
            ["--melody", str(tmp_path / "x.mid")],
            "--melody needs a run prepared with --view chords_for_melody",
        ),
        (["--time-signature", "11/8"], "time signature '11/8': not in the tokenizer"),
        (["--tempo", "400"], "tempo 400: outside the tokenizer's range"),
    ]
    for extra, message in cases:
        assert cli.main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("symbolic: error: ") and message in err and "\n" not in err
