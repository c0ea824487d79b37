"""music_metrics' overlap area against mgeval's formulation, the VAE's and GAN's real
excerpts, the per-reference evaluation and the tuning report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbolic.music import metrics
from tests.helpers import write_chorale_manifest

VOICES = ("soprano", "alto", "tenor", "bass")


def mgeval_overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Yang & Lerch's `mgeval` overlap area, with scipy: the area under min(KDE_a, KDE_b) of
    Gaussian KDEs with Scott's bandwidth (integrated here over the whole line, not only over
    the data's range as mgeval's `integrate.quad` bounds do, which cuts the tails)."""
    from scipy import stats

    kde_a, kde_b = stats.gaussian_kde(a), stats.gaussian_kde(b)
    width = 6 * max(kde_a.factor * a.std(ddof=1), kde_b.factor * b.std(ddof=1))
    grid = np.linspace(min(a.min(), b.min()) - width, max(a.max(), b.max()) + width, 20001)
    return float(np.trapezoid(np.minimum(kde_a(grid), kde_b(grid)), grid))


def test_overlap_area_is_mgeval_formulation_on_a_real_chorale(converted_chorales):
    pytest.importorskip("scipy")
    score = converted_chorales["bwv66.6.mxl"]
    soprano, alto, bass = (
        np.array([n.pitch for n in score.tracks[i].notes], float) for i in (0, 1, 3)
    )
    for other in (alto, bass, soprano + 0.5):
        ours, _ = metrics.overlap_and_kl(soprano, other)
        intra = metrics.intra_set_distances(soprano)
        inter = metrics.inter_set_distances(soprano, other)
        assert ours == pytest.approx(mgeval_overlap_area(intra, inter), abs=0.01)
    assert metrics.overlap_and_kl(soprano, bass)[0] < metrics.overlap_and_kl(soprano, alto)[0]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("excerpts")
    return write_chorale_manifest(root / "manifest.json", train=4, valid=2, test=2)


@pytest.fixture(scope="module")
def phrases_dir(manifest) -> Path:
    from symbolic.data.phrase_sets import prepare_phrases

    out = manifest.parent / "phrases"
    prepare_phrases(manifest, out, tracks=VOICES, progress=False)
    return out


def test_real_segments_are_two_bar_melodies(manifest):
    from benchmarks.music_metrics.sources import real_segment_pieces
    from symbolic.data.segments import prepare_segments

    prepare_segments(manifest, manifest.parent / "segments")
    pieces = real_segment_pieces(manifest.parent / "segments", limit=10, seed=0)
    assert len(pieces) == 10
    values = metrics.compute_metrics(pieces)
    assert np.allclose(values["polyphony"], 1.0)  # one melody line
    assert all(p.last_end <= 2 * 4 * p.ticks_per_quarter for p in pieces)  # two 4/4 bars
    again = real_segment_pieces(manifest.parent / "segments", limit=10, seed=0)  # seeded
    assert np.array_equal(again[3].pitch, pieces[3].pitch)


def test_gan_samples_are_measured_against_real_satb_phrases(phrases_dir, tmp_path):
    from benchmarks.music_metrics import run, sources
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    real = sources.real_phrase_pieces(phrases_dir, limit=12, seed=0)
    assert len(real) == 12
    assert all(p.last_end <= 4 * 4 * p.ticks_per_quarter for p in real)  # four 4/4 bars
    assert 3.0 < np.nanmean(metrics.compute_metrics(real)["polyphony"]) <= 4.0  # SATB
    config = config_lib.resolve("gan", "tiny", ["train.checkpoint_every=4"], steps=4)
    trainer.train(config, phrases_dir, tmp_path / "gan", progress=False)
    gan = sources.gan_pieces(tmp_path / "gan", num=6, seed=0)
    assert len(gan) == 6
    out = run.evaluate({"real_satb_4bar": real, "gan": gan}, run.QUICK, seed=0)
    assert out["gan"]["reference"] == "real_satb_4bar"
    assert 0 <= out["gan"]["metrics_in_band"] <= len(metrics.METRICS)
    assert out["real_satb_4bar"]["pieces"] == 12 and "pitch_range_oa_low" in out["real_satb_4bar"]


def test_excerpts_are_never_compared_with_whole_chorales():
    from benchmarks.music_metrics import report, run

    assert run.reference_of("vae_prior") == "real_soprano_2bar"
    assert run.reference_of("gan") == "real_satb_4bar"
    assert run.reference_of("tuned") == "real"
    assert {"vae_prior", "gan", "tuned"} <= set(report.GENERATED_MODELS)
    assert not {"ngram", "random", "random_tokens"} & set(report.GENERATED_MODELS)


def test_tuning_table_marks_the_chosen_setting():
    from benchmarks.music_metrics import report

    tuned = {"temperature": 0.9, "top_p": 0.95, "valid_works": 45}
    for t, p, inside in ((0.9, 0.95, 3), (1.0, 1.0, 1)):
        tuned[f"t{t}_p{p}_in_band"], tuned[f"t{t}_p{p}_mean_oa"] = inside, inside / 10
    rows = report.tuning_table({"sampling_tuning": tuned}).splitlines()[2:]
    assert rows[0].startswith("| 0.9 | 0.95 | 3 / 8 | 0.300 | **chosen**")
    assert rows[1].startswith("| 1.0 | 1.0 | 1 / 8 | 0.100 |") and "chosen" not in rows[1]
