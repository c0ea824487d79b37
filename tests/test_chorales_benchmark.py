"""The JSB Chorales benchmark's serialisation, evaluation windows and n-gram baselines (numpy
only, milliseconds), and a tiny frame model on the engine's loop (seconds). Skipped when the
shared JSB files are missing."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.chorales_nll import data, ngram
from benchmarks.chorales_nll.windows import eval_batches, train_batch

try:
    GRIDS = data.load_grids()
    SKIP = ""
except data.DataMissing as err:
    GRIDS, SKIP = None, str(err)

needs_data = pytest.mark.skipif(GRIDS is None, reason=SKIP)


@needs_data
@pytest.mark.parametrize("split", data.SPLITS)
def test_serialisation_round_trips_every_chorale(split):
    for grid in GRIDS[split]:
        tokens = data.encode(grid)
        assert len(tokens) == 4 * len(grid) + 2
        assert tokens[0] == data.BOS and tokens[-1] == data.EOS
        np.testing.assert_array_equal(data.decode(tokens), grid)


@needs_data
def test_every_voice_token_maps_to_its_step_and_voice():
    with np.load(data.data_dir() / data.GRID_FILE, allow_pickle=True, encoding="latin1") as npz:
        raw = np.asarray(npz["test"][0], np.float64)  # [steps, 4], NaN = silent
    tokens = data.encode(data.grid_from_float(raw))
    for i in range(1, len(tokens) - 1):
        step, voice = divmod(i - 1, data.NUM_VOICES)
        pitch = raw[step, voice]
        if np.isnan(pitch):
            expected = data.REST
        else:
            expected = int(pitch) - data.LOWEST_PITCH + data.PITCH_OFFSET
        assert tokens[i] == expected, (i, step, voice)


@needs_data
def test_silent_voices_become_the_rest_token():
    silent = [(g == data.SILENT) for g in GRIDS["train"]]
    assert sum(int(s.sum()) for s in silent) > 0, "the training split has silent voices"
    for grid, mask in zip(GRIDS["train"], silent, strict=True):
        body = data.encode(grid)[1:-1].reshape(-1, data.NUM_VOICES)
        assert (body[mask] == data.REST).all()
        assert (body[~mask] >= data.PITCH_OFFSET).all()


def test_rest_and_pitches_round_trip_on_a_hand_made_grid():
    grid = np.array([[72, 67, data.SILENT, 48], [data.SILENT] * 4], np.int16)
    tokens = data.encode(grid)
    assert list(tokens[5:9]) == [data.REST] * 4
    np.testing.assert_array_equal(data.decode(tokens), grid)
    with pytest.raises(ValueError):
        data.encode(np.array([[90, 60, 55, 48]], np.int16))


@needs_data
@pytest.mark.parametrize("seq_len,stride", [(64, 32), (256, 128), (2624, 2624)])
def test_eval_windows_score_every_voice_token_once(seq_len, stride):
    sequences = [data.encode(g) for g in GRIDS["valid"][:12]]
    scored = sum(float(b["mask"].sum()) for b in eval_batches(sequences, 8, seq_len, stride))
    assert scored == sum(4 * len(g) for g in GRIDS["valid"][:12])


def test_train_windows_start_at_step_boundaries():
    # Token value = index in its sequence, so a window's first input tells where it starts.
    sequences = [np.arange(n, dtype=np.int32) for n in (4 * 30 + 2, 4 * 100 + 2, 4 * 7 + 2)]
    batch = train_batch(sequences, 32, 64, seed=0, step=3)
    assert (batch["inputs"][:, 0] % data.NUM_VOICES == 0).all()
    real = batch["mask"] > 0
    np.testing.assert_array_equal(batch["targets"][real], (batch["inputs"] + 1)[real])


@needs_data
@pytest.mark.parametrize(
    "name,expected", [("unigram", 3.40), ("bigram", 0.99), ("bigram_above", 0.89)]
)
def test_ngram_baselines_reproduce_the_measured_test_figures(name, expected):
    assert ngram.baselines(GRIDS)[f"test_nll_{name}"] == pytest.approx(expected, abs=0.02)


def test_frame_nll_sums_count_bernoulli_nats_per_frame():
    from symbolic.training.losses import frame_nll_sums

    targets = np.zeros((1, 2, data.PIANO_KEYS), np.float32)
    targets[0, :, 5] = 1.0
    logits = np.where(targets > 0, 30.0, -30.0).astype(np.float32)
    logits[0, 1, 5] = 0.0  # frame 1: its sounding key at even odds: ln 2 nats, not right
    sums = frame_nll_sums(logits, targets, np.ones((1, 2), np.float32))
    assert float(sums["nll_sum"]) == pytest.approx(np.log(2.0), abs=1e-6)
    assert float(sums["correct_sum"]) == 1.0 and float(sums["token_count"]) == 2.0


@needs_data
def test_frame_model_trains_on_the_engine_loop():
    # jax: a tiny frame LSTM on 8 chorales a split, trained by the engine's TrainLoop.
    from benchmarks.chorales_nll import frames
    from symbolic.training.config import TrainConfig

    rolls = {split: chorales[:8] for split, chorales in data.load_frames().items()}
    train_cfg = TrainConfig(
        batch_size=4, steps=6, learning_rate=1e-2, warmup_steps=1, eval_every=3, patience=0
    )
    model_cfg = frames.FrameModelConfig(hidden_size=16, num_layers=1, dropout=0.0)
    results = frames.train_and_score(model_cfg, train_cfg, rolls, log=lambda line: None)
    assert results["steps"] == 6 and results["best_step"] in (3, 6)
    coin_flips = data.PIANO_KEYS * np.log(2.0)  # what the untrained model scores
    assert results["valid_nll"] < coin_flips and results["test_nll"] < coin_flips
    source = frames.FrameRolls(rolls, train_cfg)
    source.train_batch(0)
    with pytest.raises(ValueError, match="in order"):
        source.train_batch(5)
