"""Objective metrics on hand-made note sets with known answers, Yang & Lerch's OA/KL, real against
random music, and the music_metrics benchmark's samplers and results file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from symusic import Score

from symbolic.music import metrics
from symbolic.music.metrics import Notes

TPQ = 480
C_MAJOR = (60, 62, 64, 65, 67, 69, 71)


def notes(triples, time_signatures=((0, 4, 4),)) -> Notes:
    """(start_q, duration_q, pitch) triples, in quarter notes, -> Notes at 480 ticks/quarter."""
    start = np.array([round(s * TPQ) for s, _, _ in triples], np.int64)
    end = start + np.array([round(d * TPQ) for _, d, _ in triples], np.int64)
    pitch = np.array([p for _, _, p in triples], np.int64)
    return Notes(start, end, pitch, TPQ, tuple(time_signatures))


def test_c_major_scale():
    scale = notes([(i, 1, p) for i, p in enumerate(C_MAJOR)])
    assert metrics.pitch_class_entropy(scale) == pytest.approx(math.log2(7))
    assert metrics.scale_consistency(scale) == 1.0
    assert metrics.pitch_range(scale) == 11
    assert metrics.n_pitch_classes_used(scale) == 7
    assert metrics.polyphony(scale) == 1.0
    assert metrics.note_density(scale) == pytest.approx(1.0)
    assert metrics.empty_beat_rate(scale) == 0.0


def test_chromatic_notes_are_less_scale_consistent():
    chromatic = notes([(i, 1, 60 + i) for i in range(12)])
    assert metrics.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert metrics.scale_consistency(chromatic) == pytest.approx(7 / 12)


def test_polyphony_of_a_held_chord_and_of_overlaps():
    assert metrics.polyphony(notes([(0, 4, 60), (0, 4, 64), (0, 4, 67)])) == pytest.approx(3.0)
    # Two pitches overlapping for one of three quarters: 4 pitch-quarters over 3 quarters.
    assert metrics.polyphony(notes([(0, 2, 60), (1, 2, 64)])) == pytest.approx(4 / 3)
    # A unison of two voices counts once, as in a piano roll; silence does not count.
    assert metrics.polyphony(notes([(0, 1, 60), (0, 1, 60), (3, 1, 62)])) == pytest.approx(1.0)


def test_groove_consistency():
    # Staccato 8th notes over four 4/4 bars: every bar has the same onsets.
    eighths = notes([(i / 2, 0.25, 60) for i in range(32)])
    assert metrics.groove_consistency(eighths) == 1.0
    # Steady quarters in 3/4: bars follow the time signature.
    waltz = notes([(i, 0.5, 60) for i in range(12)], time_signatures=[(0, 3, 4)])
    assert metrics.groove_consistency(waltz) == 1.0
    # Bar 2 adds two 16th onsets (Hamming distance 2 of 16 to each neighbour).
    varied = notes([(i, 0.25, 60) for i in range(12)] + [(4.25, 0.25, 62), (5.75, 0.25, 62)])
    assert metrics.groove_consistency(varied) == pytest.approx(1 - 2 / 16)
    # As in MusPy, a piece ending on a bar line gets the bar starting there: one onset differs.
    held = notes([(0, 4, 60), (0, 4, 64)])
    assert metrics.groove_consistency(held) == pytest.approx(1 - 1 / 16)


def test_empty_beat_rate():
    # Quarter notes on beats 0, 2 and 4: beats 1 and 3 are silent.
    assert metrics.empty_beat_rate(notes([(0, 1, 60), (2, 1, 62), (4, 1, 64)])) == 0.4
    # A half-beat note fills its beat; a whole-note rest after it leaves four beats empty.
    assert metrics.empty_beat_rate(notes([(0, 0.5, 60), (5, 1, 60)])) == pytest.approx(4 / 6)


def test_undefined_metrics_are_nan():
    empty = notes([])
    assert all(
        math.isnan(fn(empty))
        for name, fn in metrics.METRICS.items()
        if name != "n_pitch_classes_used"
    )
    assert math.isnan(metrics.groove_consistency(notes([(0, 1, 60)])))  # a single bar


def test_notes_from_score_ignores_drums_and_reads_time_signatures(tmp_path, midi_writer):
    path = midi_writer(
        tmp_path / "piece.mid",
        [
            {"program": 40, "notes": [(0, 1, 67, 80), (1, 1, 69, 80)]},
            {"program": 43, "notes": [(0, 2, 43, 80)]},
            {"program": 0, "drum": True, "notes": [(0, 0.5, 36, 100)]},
        ],
        time_sigs=((0, 3, 4),),
    )
    piece = metrics.notes_from_score(Score(str(path)))
    assert sorted(piece.pitch.tolist()) == [43, 67, 69]
    assert piece.time_signatures == ((0, 3, 4),)
    assert metrics.note_density(piece) == pytest.approx(1.5)
    assert metrics.polyphony(piece) == pytest.approx(2.0)


def test_overlap_and_kl_separate_same_from_far_apart():
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, 60)
    same_oa, same_kl = metrics.overlap_and_kl(reference, reference)
    assert same_oa > 0.9 and same_kl < 0.05
    near_oa, near_kl = metrics.overlap_and_kl(reference, rng.normal(0.0, 1.0, 60))
    assert near_oa > 0.8 and near_kl < 0.2
    far_oa, far_kl = metrics.overlap_and_kl(reference, reference + 50.0)
    assert far_oa < 0.01 and far_kl > 10
    assert metrics.overlap_and_kl(np.ones(5), np.ones(7)) == (1.0, 0.0)
    with pytest.raises(ValueError, match="two values"):
        metrics.overlap_and_kl(np.array([1.0, np.nan]), reference)


def test_metrics_separate_a_real_chorale_from_random_notes(converted_chorales):
    from benchmarks.music_metrics.sources import random_note_pieces

    chorale = metrics.notes_from_score(converted_chorales["bwv66.6.mxl"])
    random = random_note_pieces([chorale], num=8, seed=0)
    real_values = metrics.compute_metrics([chorale])
    random_values = metrics.compute_metrics(random)
    assert real_values["pitch_class_entropy"][0] < 3.2
    assert real_values["scale_consistency"][0] > 0.85
    assert 3.5 < real_values["polyphony"][0] < 4.1
    assert (random_values["pitch_class_entropy"] > real_values["pitch_class_entropy"][0]).all()
    assert (random_values["scale_consistency"] < real_values["scale_consistency"][0]).all()
    assert (random_values["groove_consistency"] < real_values["groove_consistency"][0]).all()


def test_band_puts_real_like_sets_inside_and_far_sets_outside():
    from benchmarks.music_metrics import compare

    rng = np.random.default_rng(0)
    real = {name: rng.normal(0.0, 1.0, 30) for name in metrics.METRICS}
    like_real = {name: rng.normal(0.0, 1.0, 30) for name in metrics.METRICS}
    far = {name: v + 20.0 for name, v in like_real.items()}
    halves = compare.half_splits(30, splits=3, seed=0)
    band = compare.reference_band(real, halves)
    assert all(band[f"{n}_oa_low"] <= band[f"{n}_oa_high"] for n in metrics.METRICS)
    assert compare.against_real(real, like_real, halves, band)["metrics_in_band"] >= 6
    far_result = compare.against_real(real, far, halves, band)
    assert far_result["metrics_in_band"] == 0
    assert all(far_result[f"{n}_oa"] < 0.01 for n in metrics.METRICS)


def test_bigram_log_probs_are_normalised_counts():
    from benchmarks.music_metrics.sources import bigram_log_probs

    table = np.exp(bigram_log_probs(np.array([1, 2, 1, 2, 3]), 4, alpha=1e-9))
    assert np.allclose(table.sum(axis=1), 1.0)
    assert table[1, 2] == pytest.approx(1.0)
    assert table[2, 1] == pytest.approx(0.5) and table[2, 3] == pytest.approx(0.5)


def test_ngram_pieces_decode_to_notes(chorale_data_dir):
    from benchmarks.music_metrics.sources import ngram_pieces

    pieces = ngram_pieces(chorale_data_dir, num=3, max_tokens=96, seed=0)
    assert len(pieces) == 3
    assert all(p.pitch.size > 0 for p in pieces)


def test_write_results_takes_one_level_of_objects(tmp_path):
    from benchmarks.common import write_results

    json_path, _ = write_results(tmp_path, {"device": "cpu", "real": {"polyphony": 3.9}}, "# t")
    assert json.loads(json_path.read_text())["real"] == {"polyphony": 3.9}
    with pytest.raises(TypeError, match="real"):
        write_results(tmp_path, {"real": {"polyphony": {"mean": 3.9}}}, "# t")
