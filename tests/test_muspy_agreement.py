"""Our metrics against MusPy's own functions on the same files (real chorales written to MIDI):
the five piece-level metrics that share MusPy's definition agree to float precision, and
groove consistency agrees once MusPy reads the piece on our 16th-note grid."""

from __future__ import annotations

import math

import pytest

from symbolic.music import metrics
from tests.helpers import DATA_TEST_CHORALES

muspy = pytest.importorskip("muspy", reason="muspy is in the dev extra")
SAME_DEFINITION = (
    "pitch_range",
    "n_pitch_classes_used",
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
)


@pytest.fixture(scope="module")
def chorale_files(converted_chorales, tmp_path_factory):
    folder = tmp_path_factory.mktemp("muspy")
    paths = {}
    for name in DATA_TEST_CHORALES:
        paths[name] = folder / f"{name}.mid"
        converted_chorales[name].dump_midi(str(paths[name]))
    return paths


@pytest.mark.parametrize("name", DATA_TEST_CHORALES)
def test_five_metrics_equal_muspys(name, chorale_files):
    from symusic import Score

    ours = metrics.notes_from_score(Score(str(chorale_files[name])))
    music = muspy.read_midi(chorale_files[name])
    for metric in SAME_DEFINITION:
        expected = getattr(muspy, metric)(music)
        assert metrics.METRICS[metric](ours) == pytest.approx(expected, rel=1e-9), metric


def test_groove_consistency_is_muspys_on_a_16th_grid(chorale_files):
    from symusic import Score

    path = chorale_files["bwv66.6.mxl"]  # 4/4 throughout: MusPy needs one meter
    ours = metrics.groove_consistency(metrics.notes_from_score(Score(str(path))))
    music = muspy.read_midi(path)
    native = muspy.groove_consistency(music, measure_resolution=4 * music.resolution)
    music.adjust_resolution(metrics.GROOVE_STEPS_PER_QUARTER)
    on_grid = muspy.groove_consistency(
        music, measure_resolution=4 * metrics.GROOVE_STEPS_PER_QUARTER
    )
    assert ours == pytest.approx(on_grid, abs=1e-9)
    # At the file's own resolution every tick is a grid step, so fewer onsets line up.
    assert not math.isclose(native, ours, abs_tol=1e-3)
