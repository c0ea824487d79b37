"""MuseGAN's metrics (`symbolic.music.pianoroll_metrics`) against pypianoroll's implementations
on the same small arrays, and against values worked out by hand where pypianoroll differs (its
empty-beat rate counts the non-empty beats; its qualified-note rate is right one pitch at a
time only; its chroma groups pitches ten by ten, see `_chroma_layout`)."""

from __future__ import annotations

import numpy as np
import pypianoroll.metrics as ppr

from symbolic.music import pianoroll_metrics as pm

LOW = 24  # pitch index 0 is MIDI 24 (a C), as `gan prepare --pitch-range 24-108`


def _full(roll: np.ndarray) -> np.ndarray:
    """[steps, 84] -> pypianoroll's [steps, 128] (MIDI pitch as the column)."""
    out = np.zeros((roll.shape[0], 128), bool)
    out[:, LOW : LOW + roll.shape[1]] = roll
    return out


def _chroma_layout(roll: np.ndarray) -> np.ndarray:
    """[steps, 84] -> [steps, 128] with MIDI pitch m at column 10 * (m % 12) + m // 12.

    pypianoroll 1.0.4's `_to_chroma` groups the columns ten by ten (`reshape(-1, 12, 10)`), so
    C4 and C5 count as two pitch classes and C4 and C#4 as one; in this layout its groups are
    the true pitch classes, and its UPC and tonal distance can be compared with ours."""
    out = np.zeros((roll.shape[0], 128), bool)
    midi = np.arange(roll.shape[1]) + LOW
    out[:, 10 * (midi % 12) + midi // 12] = roll
    return out


def _random_rolls(seed: int, n=3, tracks=2, bars=2, bar=8, p=84, density=0.05):
    rng = np.random.default_rng(seed)
    rolls = rng.random((n, tracks, bars * bar, p)) < density
    rolls[0, 1, :bar] = False  # an empty bar
    return rolls


def test_empty_bars_are_one_minus_pypianoroll_empty_beat_rate():
    rolls = _random_rolls(0, density=0.01)
    rolls[1, 0, 8:] = False
    eb = pm.empty_bars(rolls, 8)
    for t in range(2):
        track = np.concatenate(list(rolls[:, t]))  # the phrases one after another
        pypianoroll_rate = ppr.empty_beat_rate(_full(track), resolution=8)
        assert np.isclose(eb[t], 1 - pypianoroll_rate)  # MuseGAN's trap: it counts non-empty
    assert eb[1] > 1 / 6 - 1e-9  # the bar emptied above, of six


def test_qualified_notes_by_hand_and_like_pypianoroll_one_pitch_at_a_time():
    roll = np.zeros((1, 1, 16, 84), bool)
    roll[0, 0, 0:1, 3] = True  # 1 step: not qualified
    roll[0, 0, 4:6, 3] = True  # 2 steps: qualified at threshold 2
    roll[0, 0, 2:3, 10] = True  # 1 step
    roll[0, 0, 5:12, 10] = True  # 7 steps
    assert np.isclose(pm.qualified_notes(roll, 2)[0], 2 / 4)
    assert np.isclose(pm.qualified_notes(roll, 3)[0], 1 / 4)
    for pitch in (3, 10):
        # float: on bool input pypianoroll casts to uint8, whose diff wraps offsets to 255
        column = roll[0, 0, :, pitch : pitch + 1]
        assert np.isclose(
            pm.qualified_notes(column[None, None], 2)[0],
            ppr.qualified_note_rate(column.astype(float), 2),
        )
    # pypianoroll on the whole roll pairs onsets and offsets across pitches: not note lengths
    assert not np.isclose(ppr.qualified_note_rate(_full(roll[0, 0]).astype(float), 2), 2 / 4)


def test_polyphonicity_and_pitch_classes_match_pypianoroll():
    rolls = _random_rolls(1, density=0.06)
    pp = pm.polyphonicity(rolls, 2)
    upc = pm.used_pitch_classes(rolls, 8, LOW)
    for t in range(2):
        track = np.concatenate(list(rolls[:, t]))
        assert np.isclose(pp[t], ppr.polyphonic_rate(_full(track), 2))
        bars = track.reshape(-1, 8, 84)
        counts = [ppr.n_pitch_classes_used(_chroma_layout(b)) for b in bars if b.any()]
        assert np.isclose(upc[t], np.mean(counts))


def test_tonal_distance_by_hand_with_pypianoroll_tonal_matrix():
    # pypianoroll's own tonal_distance fails unless resolution == 12 (its matmul), and then
    # normalises each step, not each chunk; its Harte matrix is the one we use
    matrix = ppr._get_tonal_matrix(*pm.TONAL_RADII)
    np.testing.assert_allclose(pm.tonal_matrix(), matrix)
    major, minor = np.zeros(12), np.zeros(12)
    major[[0, 4, 7]], minor[[0, 3, 7]] = 1 / 3, 1 / 3
    rolls = np.zeros((1, 2, 16, 84), bool)
    rolls[0, 0, :, [36, 40, 43]] = True  # a C major triad (MIDI 60, 64, 67) in both bars
    rolls[0, 1, :8, [36, 39, 43]] = True  # C minor in bar 1, nothing in bar 2
    td = pm.tonal_distance(rolls, 8, LOW)[(0, 1)]
    assert np.isclose(td, np.linalg.norm(matrix @ major - matrix @ minor))  # bar 1 only
    rolls[0, 1, 8:, [36, 40, 43]] = True  # now bar 2 agrees: distance 0 there
    assert np.isclose(pm.tonal_distance(rolls, 8, LOW)[(0, 1)], td / 2)


def test_drum_patterns_match_pypianoroll_beat_by_beat():
    # pypianoroll's mask is one beat long: it only broadcasts over one beat of input
    rng = np.random.default_rng(3)
    roll = rng.random((2, 96, 84)) < 0.02
    beats = np.concatenate(list(roll)).reshape(-1, 12, 84)
    notes = np.array([b.sum() for b in beats])
    rates = [ppr.drum_in_pattern_rate(_full(b), resolution=12) if b.any() else 0 for b in beats]
    assert np.isclose(pm.drum_pattern_rate(roll, 12), np.dot(rates, notes) / notes.sum())


def test_diversity_sees_collapse():
    rolls = _random_rolls(4, n=20, density=0.05)
    collapsed = np.repeat(rolls[:1], 20, axis=0)
    assert pm.distinct_fraction(rolls) == 1.0 and pm.distinct_fraction(collapsed) == 0.0
    assert pm.pairwise_distance(collapsed) == 0.0 < pm.pairwise_distance(rolls)
    metrics = pm.phrase_metrics(rolls, 8, 12, LOW)
    assert set(metrics) == {"EB", "UPC", "QN", "PP", "TD", "DP"} and "0-1" in metrics["TD"]
