"""MusicVAE: melody segments, the model and its ELBO, training through the engine, and the tools
(encode, interpolate, attributes, similarity) on a tiny VAE overfitted to real chorale melodies."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbolic.data import segments as seg
from symbolic.data.meta import SegmentsMeta
from symbolic.models import vae
from symbolic.training import config as config_lib
from symbolic.training import trainer
from symbolic.training.losses import elbo_sums
from symbolic.vae import load_vae
from symbolic.vae.attributes import apply_attributes, attribute_values, compute_attributes
from symbolic.vae.evaluation import evaluate_run
from symbolic.vae.files import write_midis
from symbolic.vae.latent import interpolate_latents
from symbolic.vae.run import decode_latents, encode_segments, scores
from symbolic.vae.similarity import encode_files, similar_command
from tests.helpers import midi_notes, notes_of

# 4/4 chorales whose soprano gives the tiny VAE a few dozen real 2-bar melodies.
VAE_CHORALES = ("bwv66.6.mxl", "bwv286.mxl", "bwv255.mxl")


def test_melody_events_round_trip(tmp_path, midi_writer):
    notes = [(0, 1, 60, 80), (1, 0.5, 62, 80), (2, 1.5, 64, 80), (8, 1, 67, 80)]
    # a lower voice in the same track, sounding with the melody: the skyline keeps the top
    notes += [(0, 1, 48, 80)]
    path = midi_writer(tmp_path / "m.mid", [{"program": 40, "notes": notes}])
    from symbolic.data.convert import load_score

    events = seg.melody_events(load_score(path))
    assert events[0] == seg.FIRST_PITCH + 60 and events[4] == seg.FIRST_PITCH + 62
    assert events[6] == seg.NOTE_OFF and events[8] == seg.FIRST_PITCH + 64
    assert seg.melody_events(seg.events_to_score(events)).tolist() == events.tolist()
    segments, bars = seg.cut_segments(events, 16, 2)
    # bars 0-1 and 1-2 hold notes; the melody is 3 bars long, so two windows
    assert segments.shape == (2, 32) and bars.tolist() == [0, 1]


def test_rest_only_segments_are_dropped():
    events = np.zeros(16 * 6, np.int32)
    events[0], events[4] = seg.FIRST_PITCH + 60, seg.NOTE_OFF
    events[16 * 5] = seg.FIRST_PITCH + 62
    segments, bars = seg.cut_segments(events, 16, 2)
    assert bars.tolist() == [0, 4]  # windows over bars 1-4 alone are silent; none runs past the end


def test_transposed_copies_keep_rhythm_and_drop_out_of_range():
    events = np.zeros((2, 32), np.int32)
    events[0, [0, 8]] = seg.FIRST_PITCH + np.array([60, 64])
    events[1, [0, 4, 12]] = [seg.FIRST_PITCH + 124, seg.NOTE_OFF, seg.FIRST_PITCH + 70]
    segments, bars = seg.transposed_copies(events, np.array([3, 7], np.int32), (0, -2, 5))
    # the -2 copy keeps both rows; +5 would push pitch 124 past 127, so only row 0 is copied
    assert len(segments) == 5 and bars.tolist() == [3, 7, 3, 7, 3]
    assert ((segments >= seg.FIRST_PITCH) == (events[[0, 1, 0, 1, 0]] >= seg.FIRST_PITCH)).all()
    assert (segments == seg.NOTE_OFF).sum() == 2  # note-offs and rests are never moved
    assert segments[2, 8] == seg.FIRST_PITCH + 62 and segments[4, 0] == seg.FIRST_PITCH + 65
    assert segments[3, 0] == seg.FIRST_PITCH + 122


@pytest.fixture(scope="session")
def vae_segments_dir(tmp_path_factory, bach_corpus_paths):
    """Soprano 2-bar segments of three real chorales (train = valid = test: an overfit set)."""
    from symbolic.data.convert import load_score

    items = []
    for name in VAE_CHORALES:
        segments, bars = seg.score_segments(load_score(bach_corpus_paths[name]), bars=2)
        items.append((name, segments, bars))
    out = tmp_path_factory.mktemp("vae") / "segments"
    meta = SegmentsMeta(
        vocab_size=seg.VOCAB_SIZE, bars=2, melody_program=seg.SOPRANO_PROGRAM, steps_per_bar=16
    )
    seg.write_segments_dir(out, {"train": items, "valid": items[:1], "test": items[:1]}, meta)
    return out


def test_soprano_segments_from_a_chorale(vae_segments_dir):
    data = seg.load_segments(vae_segments_dir, "train")
    segments = data["segments"]
    assert segments.ndim == 2 and segments.shape[1] == 32 and len(segments) >= 20
    assert ((segments >= seg.FIRST_PITCH).any(axis=1)).all()
    pitches = segments[segments >= seg.FIRST_PITCH] - seg.FIRST_PITCH
    assert pitches.min() >= 60 and pitches.max() <= 81  # a soprano's range, not the bass's


def _tiny(**updates) -> config_lib.VAEConfig:
    cfg = config_lib.resolve("vae", "tiny").model
    return config_lib.dataclasses.replace(cfg, vocab_size=130, seq_len=32, **updates)


@pytest.mark.parametrize("conductor_bars", [0, 2], ids=["flat", "hierarchical"])
def test_encode_then_decode_shapes(conductor_bars):
    cfg = _tiny(conductor_bars=conductor_bars)
    model = vae.MusicVAE(cfg)
    tokens = jnp.zeros((3, 32), jnp.int32).at[:, 0].set(62)
    params = model.init(jax.random.PRNGKey(0), tokens)["params"]
    logits, mu, logvar = model.apply({"params": params}, tokens)
    assert logits.shape == (3, 32, 130) and mu.shape == logvar.shape == (3, cfg.latent_dim)
    events = vae.sample(cfg, params, mu, jax.random.PRNGKey(1), temperature=1.0)
    assert events.shape == (3, 32) and events.dtype == jnp.int32


def test_kl_is_zero_when_the_posterior_is_the_prior():
    mu = logvar = jnp.zeros((4, 8))
    np.testing.assert_allclose(vae.kl_divergence(mu, logvar), 0.0, atol=1e-7)
    logits, targets = jnp.zeros((4, 32, 130)), jnp.zeros((4, 32), jnp.int32)
    sums = elbo_sums(logits, targets, jnp.ones((4, 32)), mu, logvar, free_bits=0.0)
    assert float(sums["kl_sum"]) == 0.0 and float(sums["segment_count"]) == 4.0
    shifted = elbo_sums(logits, targets, jnp.ones((4, 32)), mu + 1.0, logvar, free_bits=1.0)
    assert float(shifted["kl_sum"]) == pytest.approx(16.0)  # 0.5 * 8 dims * 1^2 per row
    assert float(shifted["kl_penalty_sum"]) == pytest.approx(12.0)  # free bits: 1 nat per row


@pytest.fixture(scope="session")
def tiny_vae_run(tmp_path_factory, vae_segments_dir):
    """A tiny VAE trained by the engine (`trainer.train`) until it reproduces its segments."""
    cfg = config_lib.resolve(
        "vae",
        "tiny",
        [
            "model.latent_dim=16",
            "model.decoder_hidden=96",
            "model.encoder_hidden=64",
            "model.kl_beta=0.001",  # weak KL pressure: the latent must carry every segment
            "train.batch_size=16",
            "train.steps=400",
            "train.learning_rate=0.01",
            "train.warmup_steps=10",
            "train.weight_decay=0.0",
            "train.eval_every=400",
            "train.checkpoint_every=400",
            "train.log_every=50",
        ],
    )
    run_dir = tmp_path_factory.mktemp("vae") / "run"
    summary = trainer.train(cfg, vae_segments_dir, run_dir, progress=False)
    return run_dir, summary


def test_tiny_vae_overfits_its_segments(tiny_vae_run, vae_segments_dir):
    run_dir, summary = tiny_vae_run
    assert summary["model"] == "vae" and summary["steps"] == 400
    metrics = evaluate_run(run_dir, "train", vae_segments_dir)
    assert metrics["recon_acc_teacher_forced"] > 0.93, metrics
    assert metrics["recon_acc_sampled"] > 0.9, metrics
    assert metrics["active_dims"] >= 1 and metrics["kl_per_segment"] > 0


def test_interpolation_ends_reproduce_their_inputs(tiny_vae_run, vae_segments_dir, tmp_path):
    run = load_vae(tiny_vae_run[0])
    segments = seg.load_segments(vae_segments_dir, "train")["segments"]
    a, b = segments[0], segments[-1]
    mu = encode_segments(run, np.stack([a, b]))
    path = interpolate_latents(mu[0], mu[1], 5)
    decoded = decode_latents(run, path)
    assert decoded.shape == (5, 32)
    # the ends are the inputs' own reconstructions (slerp hits them exactly) ...
    np.testing.assert_array_equal(decoded[[0, -1]], decode_latents(run, mu))
    # ... and those reproduce the inputs as well as the tiny model reconstructs anything
    assert (decoded[0] == a).mean() > 0.8 and (decoded[-1] == b).mean() > 0.8
    files = write_midis(decoded, tmp_path, "interp")
    assert len(files) == 5 and all(f.stat().st_size > 0 for f in files)
    # each file, in path order, reads back as the melody of its row
    assert [f.name for f in files] == [f"interp_{i:03d}.mid" for i in range(5)]
    for file, row in zip(files, decoded, strict=True):
        assert midi_notes(file) == notes_of(seg.events_to_score(row)) != [], file.name


def _notes(score) -> list[tuple[int, int, int]]:
    """(time, duration, pitch) of every note of a Score, to compare decoded melodies."""
    return [(n.time, n.duration, n.pitch) for track in score.tracks for n in track.notes]


def test_vae_run_encodes_files_and_segments_and_decodes_scores(
    tiny_vae_run, vae_segments_dir, bach_corpus_paths, tmp_path
):
    """`VAERun.encode` of a file is the means of its segments; `decode` gives one Score per
    latent, the same melodies as `decode_latents`, at a temperature too (seeded)."""
    from symbolic.data.convert import load_score
    from symbolic.vae.run import file_segments

    run = load_vae(tiny_vae_run[0])
    segments = seg.load_segments(vae_segments_dir, "train")["segments"][:3]
    np.testing.assert_array_equal(run.encode(segments), encode_segments(run, segments))
    midi = tmp_path / "chorale.mid"
    load_score(bach_corpus_paths[VAE_CHORALES[0]]).dump_midi(str(midi))
    z = run.encode(midi)
    file_segs = file_segments(run, midi)[0]
    assert z.shape == (len(file_segs), 16) and z.dtype == np.float32
    np.testing.assert_array_equal(z, encode_segments(run, file_segs))
    decoded = run.decode(z[:2])
    assert [_notes(s) for s in decoded] == [_notes(s) for s in scores(decode_latents(run, z[:2]))]
    assert all(_notes(s) for s in decoded)
    # greedy decoding of a file's own latents gives back (nearly) its melody
    assert (decode_latents(run, z[:1])[0] == file_segs[0]).mean() > 0.8
    hot = [_notes(s) for s in run.decode(z[:2], temperature=1.0, seed=3)]
    assert hot == [_notes(s) for s in run.decode(z[:2], temperature=1.0, seed=3)]


def test_vae_run_samples_and_interpolates_scores(tiny_vae_run, bach_corpus_paths, tmp_path):
    """`sample` decodes seeded prior draws, as `vae sample` does; `interpolate` runs between two
    files' (or two latents') segments, ends included, by slerp or lerp."""
    from symbolic.data.convert import load_score
    from symbolic.vae.commands import sample_command

    run = load_vae(tiny_vae_run[0])
    sampled = run.sample(3, seed=1)
    assert len(sampled) == 3 and [_notes(s) for s in sampled] == [
        _notes(s) for s in run.decode(run.prior(3, seed=1), seed=1)
    ]
    written = sample_command(run, 3, tmp_path / "samples", seed=1)
    assert [_notes(load_score(p)) for p in written] == [_notes(s) for s in sampled]
    assert run.prior(3, seed=2).shape == (3, 16) and not np.allclose(run.prior(3, 2), run.prior(3))
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    load_score(bach_corpus_paths[VAE_CHORALES[0]]).dump_midi(str(a))
    load_score(bach_corpus_paths[VAE_CHORALES[1]]).dump_midi(str(b))
    path = run.interpolate(a, b, steps=4)
    za, zb = run.encode(a)[0], run.encode(b)[0]
    assert len(path) == 4
    assert _notes(path[0]) == _notes(run.decode(za[None])[0])
    assert _notes(path[-1]) == _notes(run.decode(zb[None])[0])
    assert [_notes(s) for s in run.interpolate(za, zb, 4)] == [_notes(s) for s in path]
    lerp = run.interpolate(za, zb, 3, method="lerp")
    expected = decode_latents(run, interpolate_latents(za, zb, 3, "lerp"))
    assert [_notes(s) for s in lerp] == [_notes(s) for s in scores(expected)]
    with pytest.raises(ValueError, match="slerp or lerp"):
        run.interpolate(za, zb, 3, method="cubic")


def test_attribute_arithmetic_moves_the_attribute(tiny_vae_run, vae_segments_dir):
    run = load_vae(tiny_vae_run[0])
    vectors = compute_attributes(run, vae_segments_dir)
    segments = seg.load_segments(vae_segments_dir, "train")["segments"]
    mu = encode_segments(run, segments)
    # Adding the vector must decode a higher attribute than subtracting it, at one and at two
    # vectors. Not compared with the unmoved decode: this tiny VAE memorises its segments, so
    # far-off latents decode unevenly (on an AMD EPYC, minus one mean-pitch vector raised the
    # mean pitch by 0.3 while plus one raised it by 1.1).
    for name in ("density", "mean_pitch"):
        for amount in (1.0, 2.0):
            up = apply_attributes(mu, vectors, {name: amount})
            down = apply_attributes(mu, vectors, {name: -amount})
            high = attribute_values(decode_latents(run, up))[name]
            low = attribute_values(decode_latents(run, down))[name]
            assert np.nanmean(high) > np.nanmean(low), (name, amount)


def test_similarity_search_finds_a_transposed_copy(
    tiny_vae_run, bach_corpus_paths, tmp_path, midi_writer
):
    from symbolic.data.convert import load_score

    run = load_vae(tiny_vae_run[0])
    files = []
    for name in VAE_CHORALES:
        path = tmp_path / f"{name}.mid"
        load_score(bach_corpus_paths[name]).dump_midi(str(path))
        files.append(path)
    encode_files(run, files, tmp_path / "index.npz")
    copy = load_score(files[1])
    for track in copy.tracks:
        track.shift_pitch(2, inplace=True)
    copy.dump_midi(str(tmp_path / "query.mid"))
    ranked = similar_command(tmp_path / "query.mid", tmp_path / "index.npz", k=3)
    assert ranked[0][0] == str(files[1]), ranked
    # slightly altered as well: every fifth soprano note a semitone higher
    soprano = next(t for t in copy.tracks if t.program == seg.SOPRANO_PROGRAM)
    for note in list(soprano.notes)[::5]:
        note.pitch += 1
    copy.dump_midi(str(tmp_path / "altered.mid"))
    ranked = similar_command(tmp_path / "altered.mid", tmp_path / "index.npz", k=3)
    assert ranked[0][0] == str(files[1]), ranked
    assert ranked[0][1] < 0.999  # not an exact copy any more, yet still the nearest


def test_every_vae_command_renders_beside_its_midi(
    tiny_vae_run, bach_corpus_paths, tmp_path, monkeypatch
):
    """`--render` on each `symbolic vae` command and on `similar` writes one WAV per MIDI file the
    command writes or lists (FluidSynth itself is tested in test_render; faked here)."""
    from symbolic import cli
    from symbolic.data.convert import load_score
    from symbolic.output import render

    def fake_render(midi_path, wav_path, **_):
        assert Path(midi_path).is_file()
        Path(wav_path).write_bytes(b"RIFF")
        return Path(wav_path)

    monkeypatch.setattr(render, "render", fake_render)

    run = str(tiny_vae_run[0])
    midi = tmp_path / "chorale.mid"
    load_score(bach_corpus_paths[VAE_CHORALES[0]]).dump_midi(str(midi))
    commands = {
        "sample": ["vae", "sample", "--run", run, "--num", "2", "--out", "{out}"],
        "interpolate": ["vae", "interpolate", str(midi), str(midi), "--run", run, "--steps", "3"]
        + ["--out", "{out}"],
        "vary": ["vae", "vary", str(midi), "--run", run, "--num", "2", "--out", "{out}"],
        "attribute": ["vae", "attribute", "--run", run, "--name", "density", "--out", "{out}"],
        "eval": ["vae", "eval", run, "--split", "train", "--out", "{out}"],
    }
    for name, argv in commands.items():
        out = tmp_path / name
        assert cli.main([a.replace("{out}", str(out)) for a in argv] + ["--render"]) == 0
        mids, wavs = sorted(out.glob("*.mid")), sorted(out.glob("*.wav"))
        assert mids and [w.stem for w in wavs] == [m.stem for m in mids], name
    index = tmp_path / "index.npz"
    assert (
        cli.main(["vae", "encode", str(midi), "--run", run, "--out", str(index), "--render"]) == 0
    )
    assert midi.with_suffix(".wav").is_file() and index.is_file()
    midi.with_suffix(".wav").unlink()
    assert cli.main(["similar", str(midi), "--index", str(index), "-k", "1", "--render"]) == 0
    assert midi.with_suffix(".wav").is_file()
