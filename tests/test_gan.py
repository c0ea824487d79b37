"""The GAN family on real chorales (and POP909 when ../shared/data has it): piano-roll phrases
that round-trip to MIDI, the WGAN-GP step on 4 devices against 1, a killed run resumed, and
`symbolic gan sample / interpolate / accompany`. Metrics against pypianoroll are in
test_gan_metrics.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import mido
import numpy as np
import pytest
from symusic import Score

from symbolic.data import phrases as ph
from symbolic.data.manifest import load_manifest, source_root
from symbolic.data.phrase_sets import grid_of, load_phrases, prepare_phrases
from symbolic.data.prepare import default_cache_dir, load_work
from tests.helpers import pop909_songs, write_chorale_manifest

VOICES = ("soprano", "alto", "tenor", "bass")


@pytest.fixture(scope="module")
def phrases_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gan_phrases")
    manifest = write_chorale_manifest(root / "manifest.json", train=6, valid=2, test=1)
    prepare_phrases(
        manifest, root / "data", tracks=VOICES, augment_transpose=(-1, 1), progress=False
    )
    return root / "data"


@pytest.fixture(scope="module")
def tiny_run(phrases_dir, tmp_path_factory) -> Path:
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    run_dir = tmp_path_factory.mktemp("gan_run") / "run"
    config = config_lib.resolve("gan", "tiny", ["train.checkpoint_every=6"], steps=6)
    trainer.train(config, phrases_dir, run_dir, progress=False)
    return run_dir


def _grid_notes(score: Score, track: int, bars: ph.Bars, grid: ph.Grid, first_bar: int):
    """The track's notes on the grid, clipped to the phrase that starts at `first_bar`."""
    notes = score.tracks[track].notes.numpy()
    start = int(bars.bar_beats[first_bar] - bars.bar_beats[0]) * grid.steps_per_beat
    on = np.round((bars.beat_positions(notes["time"]) - bars.bar_beats[0]) * grid.steps_per_beat)
    end_t = notes["time"] + notes["duration"]
    off = np.round((bars.beat_positions(end_t) - bars.bar_beats[0]) * grid.steps_per_beat)
    out = set()
    for a, b, p in zip(
        on.astype(int) - start, off.astype(int) - start, notes["pitch"], strict=True
    ):
        if b > 0 and a < grid.steps:
            out.add((max(a, 0), min(b, grid.steps), int(p) - grid.low))
    return out


def test_phrases_keep_every_note_on_the_grid_and_round_trip_to_midi(phrases_dir, tmp_path):
    from symbolic.output.midi import save_daw_midi

    meta_path = phrases_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["kind"] == "pianoroll_phrases" and meta["meter"] == "4/4"
    assert meta["tracks"] == list(VOICES)
    data, grid = load_phrases(phrases_dir, "train"), grid_of(_meta(phrases_dir))
    assert data["pianoroll"].shape[1:] == (4, 4 * 48, 84) and data["pianoroll"].dtype == bool
    manifest = load_manifest(Path(meta["manifest"]))
    work_id = meta["works"]["train"][0]
    work = next(w for w in manifest.works if w.id == work_id)
    score = load_work(work, source_root(manifest), default_cache_dir())
    bars = ph.work_bars(score, source_root(manifest) / work.path, 4)
    ids = ph.match_tracks(score, VOICES)
    checked = 0
    for row in np.flatnonzero((data["work"] == 0) & (data["transpose"] == 0)):
        roll, onsets = data["pianoroll"][row], data["onsets"][row]
        for t, index in enumerate(ids):  # every source note, on the grid
            want = _grid_notes(score, index, bars, grid, int(data["bar"][row]))
            assert set(ph.roll_notes(roll[t], onsets[t])) == want
        path = save_daw_midi(
            ph.phrase_score(roll, grid, VOICES, (40, 41, 42, 43), onsets), tmp_path / f"{row}.mid"
        )
        back = Score(str(path))
        tpq, step = back.ticks_per_quarter, back.ticks_per_quarter // grid.steps_per_beat
        assert [t.name for t in back.tracks] == list(VOICES)
        for t, track in enumerate(back.tracks):
            n = track.notes.numpy()
            assert (n["time"] % step == 0).all() and (n["duration"] % step == 0).all()
            got = {
                (a // step, (a + d) // step, p - grid.low)
                for a, d, p in zip(n["time"], n["duration"], n["pitch"], strict=True)
            }
            assert got == set(ph.roll_notes(roll[t], onsets[t])), f"track {t}, tpq {tpq}"
        checked += 1
    assert checked >= 2


def _meta(data_dir):
    from symbolic.data.meta import load_meta

    return load_meta(data_dir)


def test_pickups_shift_the_first_downbeat_and_transposition_is_along_pitch(phrases_dir):
    data = load_phrases(phrases_dir, "train")
    # chorales start on a downbeat after their pickup: every voice starts a note at step 0
    first = np.flatnonzero(data["bar"] == 0)
    assert len(first) and data["onsets"][first][:, :, 0].any(-1).all()
    base = np.flatnonzero(data["transpose"] == 0)[0]
    up = np.flatnonzero((data["transpose"] == 1) & (data["work"] == data["work"][base]))
    up = up[data["bar"][up] == data["bar"][base]][0]
    np.testing.assert_array_equal(np.roll(data["pianoroll"][base], 1, -1), data["pianoroll"][up])
    valid = load_phrases(phrases_dir, "valid")
    assert (valid["transpose"] == 0).all()


def test_pop909_takes_4_4_bars_from_the_beat_file(tmp_path):
    from symbolic.data.manifest import write_folder_manifest

    song = pop909_songs(1)[0]
    folder = tmp_path / "pop"
    (folder / song.parent.name).mkdir(parents=True)
    for name in (song.name, ph.BEATS_FILE):
        (folder / song.parent.name / name).symlink_to(song.parent / name)
    manifest = write_folder_manifest(folder, tmp_path / "m.json", name="pop", seed=0)
    manifest_data = json.loads(Path(manifest).read_text())
    for work in manifest_data["works"]:
        work["split"] = "train"
    Path(manifest).write_text(json.dumps(manifest_data))
    meta = prepare_phrases(
        manifest, tmp_path / "data", tracks=("melody", "BRIDGE", "2"), progress=False
    )
    assert meta.meter == "4/4" and meta.counts["train"].segments > 10
    data = load_phrases(tmp_path / "data", "train")
    beats = np.loadtxt(song.parent / ph.BEATS_FILE)
    assert data["bar"].max() < int(beats[:, 2].sum())  # phrases lie within the song's bars
    # a downbeat is where notes start most often: step 0 of a bar beats the bar's 2nd 16th
    on = data["onsets"].any(axis=(1, 3)).reshape(len(data["bar"]), 4, 48)
    assert on[:, :, 0].mean() > on[:, :, 3].mean()


def test_each_tracks_private_layers_shape_only_that_track():
    """A track's private layers (t{track}_*) move that track's output and no other: rows of the
    bar generator are (phrase, track, bar), and they once picked a bar where a track was meant."""
    import jax.numpy as jnp

    from symbolic.models.gan import GANConfig, MuseGAN, latent_shapes

    config = GANConfig(tracks=3, bars=2, steps_per_bar=48, pitches=24, latent_dim=8, smooth=3)
    model = MuseGAN(config)
    z = {
        k: jax.random.normal(jax.random.PRNGKey(i), s)
        for i, (k, s) in enumerate(latent_shapes(config, 2).items())
    }
    params = model.init(jax.random.PRNGKey(0), z)["params"]
    before = model.apply({"params": params}, z, method=MuseGAN.generate)
    for track in range(config.tracks):
        layers = {k for k in params["generator"] if k.startswith(f"t{track}_")}
        assert layers == {f"t{track}_up2", f"t{track}_up3", f"t{track}_pitch"}
        moved = dict(params)
        moved["generator"] = {
            k: jax.tree.map(lambda w: w + 0.5, v) if k in layers else v
            for k, v in params["generator"].items()
        }
        after = model.apply({"params": moved}, z, method=MuseGAN.generate)
        changed = jnp.abs(after - before).max(axis=(0, 2, 3)) > 1e-6
        assert changed.tolist() == [t == track for t in range(config.tracks)]


def test_straight_through_binarisation_is_hard_forward_and_identity_backward():
    """binarize=ste (the `gan` preset): the critic sees 0/1 cells, the generator still gets the
    gradient of its probabilities."""
    import jax.numpy as jnp

    from symbolic.models.gan import binarize_ste

    probs = jnp.array([0.1, 0.49, 0.51, 0.9])
    assert binarize_ste(probs).tolist() == [0.0, 0.0, 1.0, 1.0]
    weights = jnp.array([1.0, 2.0, 3.0, 4.0])
    grad = jax.grad(lambda p: jnp.sum(binarize_ste(p) * weights))(probs)
    np.testing.assert_allclose(grad, weights)


def test_four_devices_train_like_one(phrases_dir):
    from symbolic.training import config as config_lib
    from symbolic.training import parallel, trainer
    from symbolic.training.sources import load_data

    assert len(jax.devices()) == 4
    config = trainer.with_vocab_size(config_lib.resolve("gan", "tiny", steps=2), _meta(phrases_dir))
    data = load_data(phrases_dir, config, _meta(phrases_dir))
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
        compiled = trainer.compile_steps(config, devices)
        state = compiled.init()
        for step in range(2):
            state, metrics = compiled.train(
                state, parallel.shard_batch(data.train_batch(step), compiled.mesh)
            )
            jax.block_until_ready(state)  # one step in flight: XLA:CPU's all-reduce can hang
        results.append(jax.device_get((state.params, metrics["log"])))
    (params_one, log_one), (params_four, log_four) = results
    for key in ("d_loss", "g_loss", "w_dist", "gp"):
        np.testing.assert_allclose(log_four[key], log_one[key], rtol=1e-4, err_msg=key)
    # Adam turns a near-zero gradient into a full-size step of its sign, so a sum taken in
    # another order can flip a rare element by ~lr: the rest must agree to the float
    a, b = (
        np.concatenate([x.ravel() for x in jax.tree.leaves(p)]) for p in (params_one, params_four)
    )
    assert np.mean(np.abs(a - b) > 1e-5) < 1e-3


def _train_cmd(data_dir: Path, run_dir: Path) -> list[str]:
    sets = ["train.steps=16", "train.checkpoint_every=4", "train.log_every=2"]
    return [
        sys.executable,
        "-m",
        "symbolic.cli",
        "train",
        "--model",
        "gan",
        "--data",
        str(data_dir),
        "--workdir",
        str(run_dir),
        "--preset",
        "tiny",
        *sum((["--set", s] for s in sets), []),
    ]


def _losses(run_dir: Path) -> dict[int, tuple[float, float]]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("split") == "train":
            out[r["step"]] = (r["d_loss"], r["g_loss"])
    return out


def test_a_killed_run_resumes_with_the_same_losses(phrases_dir, tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(_train_cmd(phrases_dir, reference), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_train_cmd(phrases_dir, killed), env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    latest = killed / "checkpoints" / "latest"
    while time.time() < deadline and proc.poll() is None:
        if latest.is_dir() and any(p.name.isdigit() for p in latest.iterdir()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert max(_losses(killed), default=0) < 16, "the run finished before it could be killed"
    subprocess.run(_train_cmd(phrases_dir, killed), check=True, env=env, capture_output=True)
    log = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in log if r.get("event") == "resume"]
    want, got = _losses(reference), _losses(killed)
    assert sorted(got) == sorted(want) == list(range(2, 17, 2))
    np.testing.assert_allclose([got[s] for s in want], [want[s] for s in want], rtol=1e-4)


def test_gan_sample_writes_one_named_track_per_gan_track(tiny_run, tmp_path):
    from symbolic.cli import main

    args = ["--run", str(tiny_run), "--out", str(tmp_path), "--num", "3", "--candidates", "2"]
    assert main(["gan", "sample", *args]) == 0
    files = sorted(tmp_path.glob("sample_*.mid"))
    assert len(files) == 3
    for path in files:
        midi = mido.MidiFile(path)
        names = [m.name for t in midi.tracks[1:] for m in t if m.type == "track_name"]
        assert names == list(VOICES)  # every GAN track, written even when it is empty
        assert any(m.type == "time_signature" for m in midi.tracks[0])


def test_load_run_interpolates_and_accompanies_keeping_the_given_track(tiny_run, tmp_path):
    import symbolic
    from symbolic.gan import GANRun

    run = symbolic.load_run(tiny_run)
    assert isinstance(run, GANRun)
    a, b = run.sample_rolls(4, seed=1), run.sample_rolls(4, seed=1)
    np.testing.assert_array_equal(a, b)  # a seed draws the same phrases
    walk = run.interpolate(5, seed=0, walk="shared")
    assert walk.shape == (5, 4, 192, 84)
    chorale = tmp_path / "bwv66.6.mid"
    from music21 import corpus

    corpus.parse("bach/bwv66.6").write("midi", fp=str(chorale))
    given, index = run.given_phrases(chorale, "soprano")
    score = run.accompany(chorale, "soprano", seed=0, candidates=2)  # the critic's pick
    assert [t.name for t in score.tracks] == list(VOICES)
    soprano = np.concatenate(list(given))  # the given track, exactly, phrase after phrase
    got = np.zeros_like(soprano)
    step = score.ticks_per_quarter // 12
    for note in score.tracks[index].notes:
        got[note.time // step : (note.time + note.duration) // step, note.pitch - 24] = True
    np.testing.assert_array_equal(got, soprano)


def test_best_of_keeps_each_phrases_highest_scored_draw_and_the_given_track(tiny_run):
    from symbolic.gan import load_gan

    run = load_gan(tiny_run)
    plain = run.generate(run.latents(5, seed=2))
    np.testing.assert_array_equal(run.best_of(5, seed=2, candidates=1), plain)
    draws = run.generate(run.latents(5 * 3, seed=2)).reshape(5, 3, *run.roll_shape)
    scores = run.critic(draws.reshape(15, *run.roll_shape)).reshape(5, 3)
    picked = run.best_of(5, seed=2, candidates=3)
    for phrase in range(5):
        np.testing.assert_array_equal(picked[phrase], draws[phrase, scores[phrase].argmax()])
    assert not np.array_equal(picked, draws[:, 0])  # the critic did not just keep the first
    given = run.generate(run.latents(5, seed=9))[:, 1]
    around = run.best_of(5, seed=2, candidates=3, given=given, track=1)
    np.testing.assert_array_equal(around[:, 1], given)
    with pytest.raises(ValueError, match="--candidates 0"):
        run.best_of(5, candidates=0)
