"""The transcriber end to end on real renders: targets line up with FluidSynth's audio, decoding
is exact on hand-made activations, a tiny model overfits one rendered chorale excerpt, and
`transcribe` writes MIDI that mido and music21 read, or one error line for a bad file."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest

from symbolic.audio import features as features_lib
from symbolic.audio import synth
from symbolic.audio.notes import decode_notes, frame_targets, midi_file_notes, sorted_notes
from symbolic.output.render import write_wav
from tests.helpers import synth_available, write_chorale_manifest

needs_synth = pytest.mark.skipif(
    not synth_available(), reason="fluidsynth or a GM SoundFont missing"
)
PARAMS = features_lib.FeatureParams()
FPS = PARAMS.frames_per_second  # 50 frames a second


def test_decoding_a_hand_made_activation_matrix_gives_exactly_its_notes():
    frames, keys = 100, 88
    onsets, held, velocity = (np.zeros((frames, keys)) for _ in range(3))
    # C4 (key 39) at frames 10..29, velocity 0.5; E4 (key 43) at 10..19 then again 20..39:
    # the second onset cuts the first although its frames stay on; A0 (key 0) runs to the end.
    onsets[10:12, 39] = 0.9  # a two-frame onset plateau is one note
    held[10:30, 39] = 0.8
    velocity[10, 39] = 0.5
    onsets[10, 43] = onsets[20, 43] = 0.7
    held[10:40, 43] = 0.9
    velocity[10, 43], velocity[20, 43] = 1.0, 0.25
    onsets[90, 0], held[90:, 0] = 0.6, 0.6
    onsets[50, 60] = 0.4  # below the onset threshold: no note
    held[50:60, 60] = 0.9  # frames without an onset: no note
    notes = decode_notes(onsets, held, velocity, FPS)
    expected = sorted_notes(
        [
            (10 / FPS, 30 / FPS, 60, 64),
            (10 / FPS, 20 / FPS, 64, 127),
            (20 / FPS, 40 / FPS, 64, 32),
            (90 / FPS, 100 / FPS, 21, 1),  # no velocity activation: the softest
        ]
    )
    np.testing.assert_allclose(notes, expected)


def test_targets_mark_onset_frame_offset_and_velocity():
    notes = sorted_notes([(0.5, 1.0, 60, 100), (0.5, 0.8, 64, 50), (1.2, 2.0, 60, 90)])
    targets = frame_targets(notes, 120, FPS)
    key = 60 - 21
    assert np.flatnonzero(targets["onsets"][:, key]).tolist() == [25, 60]
    assert np.flatnonzero(targets["frames"][:, key]).tolist() == [*range(25, 50), *range(60, 100)]
    assert np.flatnonzero(targets["offsets"][:, key]).tolist() == [50, 100]
    assert targets["velocities"][25, key] == 100 and targets["velocities"][60, key] == 90
    assert targets["velocities"][25, 64 - 21] == 50


@needs_synth
def test_a_rendered_note_sounds_from_its_target_onset_frame():
    """One known note (C4 at 0.5 s): its onset target is frame 25, and FluidSynth's audio starts
    there: the first audible sample lies in frame 25, and the log-mel frames whose 128 ms
    window ends before 0.5 s are silent while frame 25 sounds."""
    rng = np.random.default_rng(0)
    notes = sorted_notes([(0.5, 1.0, 60, 100)])
    variant = synth.Variant(program=0, reverb=False)
    audio = synth.render_notes(notes, variant, PARAMS.sample_rate, None, rng)
    targets = frame_targets(notes, features_lib.num_frames(audio.size, PARAMS), FPS)
    onset_frame = int(np.flatnonzero(targets["onsets"][:, 60 - 21])[0])
    assert onset_frame == 25
    first_sample = int(np.flatnonzero(np.abs(audio) > 1e-3)[0])
    assert round(first_sample / PARAMS.hop_length) == onset_frame
    mel = features_lib.FeatureParams(kind="log_mel")
    energy = features_lib.compute(audio, mel).max(axis=1)
    reach = mel.n_fft // 2 // mel.hop_length  # frames a window reaches ahead (3)
    silence = energy[0]
    assert np.all(energy[: onset_frame - reach - 1] <= silence + 1.0)
    assert energy[onset_frame] > silence + 10.0
    assert np.argmax(np.diff(energy)) + 1 in range(onset_frame - reach, onset_frame + 1)


@needs_synth
def test_cqt_features_put_a_rendered_note_on_its_own_bins():
    """The CQT has 3 bins a semitone from a third of a semitone below A0, so key k's centre is
    bin 3k + 1: a held flute note peaks there while it sounds, and the frames before it are
    silent; its octave below gets no comparable energy."""
    params = features_lib.FeatureParams(kind="cqt")
    rng = np.random.default_rng(0)
    pitch = 69  # A4, 440 Hz
    notes = sorted_notes([(0.5, 1.5, pitch, 100)])
    audio = synth.render_notes(notes, synth.Variant(program=73, reverb=False), 16000, None, rng)
    feats = features_lib.compute(audio, params)
    assert (
        feats.shape
        == (features_lib.num_frames(audio.size, params), params.num_bins)
        == (
            feats.shape[0],
            288,
        )
    )
    centre = 3 * (pitch - 21) + 1
    held = feats[35:70]  # 0.7 s .. 1.4 s
    assert np.all(np.abs(held.argmax(axis=1) - centre) <= 1)
    assert held[:, centre].mean() > held[:, centre - 36].mean() + 5.0
    assert feats[:15].max() < held[:, centre].mean() - 10.0
    with pytest.raises(ValueError, match="Nyquist"):
        features_lib.FeatureParams(kind="cqt", n_bins=300)


@pytest.fixture(scope="module")
def overfit_run(tmp_path_factory):
    """A tiny transcriber trained 300 steps on the first 5 s of one chorale rendered as piano."""
    if not synth_available():
        pytest.skip("fluidsynth or a GM SoundFont missing")
    from symbolic.audio.dataset import prepare_audio
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    root = tmp_path_factory.mktemp("transcriber")
    manifest = write_chorale_manifest(root / "one.json", train=1, valid=0, test=0)
    data = root / "data"
    prepare_audio(
        manifest, data, copies=1, programs=(0,), max_seconds=5.0, workers=1, progress=False
    )
    overrides = [
        "model.conv_channels=8",
        "model.hidden=64",
        "train.seq_len=64",
        "train.learning_rate=0.005",
        "train.warmup_steps=20",
        "train.log_every=100",
        "train.checkpoint_every=300",
    ]
    config = config_lib.resolve("transcriber", "tiny", overrides, steps=300)
    run = root / "run"
    trainer.train(config, data, run, progress=False)
    return run, data


@needs_synth
def test_tiny_model_overfits_one_rendered_chorale(overfit_run):
    from symbolic.audio.batches import load_audio_split
    from symbolic.transcription.evaluation import evaluate_split
    from symbolic.transcription.run import load_transcriber

    run_dir, data = overfit_run
    scores = evaluate_split(load_transcriber(run_dir, "latest"), load_audio_split(data, "train"))
    assert scores["pieces"] == 1
    assert scores["note_f1"] >= 0.95, scores
    assert scores["frame_f1"] >= 0.9, scores


@needs_synth
def test_transcribe_writes_midi_that_mido_and_music21_open(overfit_run, tmp_path, capsys):
    import librosa
    import music21

    from symbolic.cli import main

    run_dir, data = overfit_run
    wav = tmp_path / "excerpt.wav"
    feats = np.load(data / "train_features.npy")  # the data's own audio is not kept: re-render
    rng = np.random.default_rng(0)
    notes = sorted_notes(np.load(data / "train_notes.npy")[:, 1:])
    # rendered at the model's 16 kHz as it trained (an overfit model knows only that audio; a
    # FluidSynth render at 44.1 kHz differs in the bass), then written at 44.1 kHz in stereo
    audio = synth.render_notes(notes, synth.Variant(program=0), 16000, None, rng)
    audio = librosa.resample(audio, orig_sr=16000, target_sr=44100)
    write_wav(wav, np.stack([audio, audio * 0.5], axis=1), 44100)
    out = tmp_path / "out.mid"
    argv = ["transcribe", str(wav), "--run", str(run_dir), "--out", str(out), "--tempo", "90"]
    assert main([*argv, "--plot"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["notes"] > 0 and out.is_file() and out.with_suffix(".png").is_file()
    midi = mido.MidiFile(out)
    note_tracks = [t for t in midi.tracks if any(m.type == "note_on" for m in t)]
    assert len(note_tracks) == 1
    tempos = [m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(90)]
    velocities = {m.velocity for m in note_tracks[0] if m.type == "note_on" and m.velocity}
    assert len(velocities) > 1  # from the velocity head, not one constant
    parsed = music21.converter.parse(str(out))
    assert len(parsed.flatten().notes) > 0
    # the transcription is the chorale excerpt (times at tempo 90 read back as seconds)
    got = midi_file_notes(out)
    assert abs(len(got) - len(notes)) <= 0.2 * len(notes)
    assert feats.shape[1] == PARAMS.num_bins


@needs_synth
def test_eval_reports_mir_eval_scores(overfit_run, capsys):
    from symbolic.cli import main

    run_dir, data = overfit_run
    assert main(["eval", str(run_dir), "--data", str(data), "--split", "train"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in ("note_f1", "note_offset_f1", "frame_f1", "note_p", "note_r", "frame_p"):
        assert 0.0 <= record[key] <= 1.0
    assert record["note_f1"] > 0.5


@needs_synth
@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt garbage", b"hello\n"])
def test_corrupt_or_empty_audio_is_a_one_line_error(overfit_run, tmp_path, capsys, content):
    from symbolic.cli import main

    run_dir, _ = overfit_run
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    assert (
        main(["transcribe", str(bad), "--run", str(run_dir), "--out", str(tmp_path / "o.mid")]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err, err
    assert not (tmp_path / "o.mid").exists()


def test_audio_meta_round_trips_and_the_trainer_dispatches_on_it(tmp_path):
    from symbolic.data.meta import AudioMeta, read_meta, write_meta
    from symbolic.training import config as config_lib
    from symbolic.training.sources import check_data_kind

    meta = AudioMeta(16000, 320, PARAMS.num_bins, PARAMS.to_json(), programs={"train": [0, 19]})
    path = write_meta(meta, tmp_path / "meta.json")
    assert read_meta(path) == meta
    assert json.loads(path.read_text())["kind"] == "audio"
    check_data_kind(config_lib.resolve("transcriber", "tiny"), meta, tmp_path)
    with pytest.raises(ValueError, match="audio features"):
        check_data_kind(config_lib.resolve("transformer", "tiny"), meta, tmp_path)
    assert "transcriber" in config_lib.available_presets("transcriber")


@needs_synth
def test_audio_prepare_skips_a_bad_work_with_its_reason(tmp_path):
    from symbolic.audio.batches import load_audio_split
    from symbolic.audio.dataset import prepare_audio
    from symbolic.data.meta import load_meta

    manifest = write_chorale_manifest(tmp_path / "two.json", train=2, valid=0, test=0)
    data = json.loads(manifest.read_text())
    data["works"][1]["sha256"] = "0" * 64  # the file no longer matches: skipped, not fatal
    manifest.write_text(json.dumps(data))
    out = tmp_path / "data"
    meta = prepare_audio(manifest, out, copies=2, max_seconds=2.0, workers=1, progress=False)
    assert [s.file for s in meta.skipped] == [data["works"][1]["path"]]
    assert "sha256" in meta.skipped[0].reason
    assert load_meta(out) == meta and meta.counts["train"]["pieces"] == 2
    split = load_audio_split(out, "train")
    assert split.labels.shape == (split.features.shape[0], 4, 88)
    assert split.index[-1] == split.features.shape[0] == meta.counts["train"]["frames"]
    # each rendered copy's reference notes are the notes its labels mark
    assert split.labels[:, 0].sum() == len(split.notes)
    assert not list(tmp_path.glob(".data.tmp-*"))  # the temp folder is gone


@needs_synth
def test_each_manifest_can_have_its_own_programs(tmp_path, capsys):
    """--manifest-programs: the works of the named manifest are rendered with its programs (as
    POP909's songs as piano), the others with --programs; an unknown name is one error line."""
    from symbolic.audio.dataset import prepare_audio
    from symbolic.cli import main

    chorales = write_chorale_manifest(tmp_path / "chorales.json", train=2, valid=0, test=0)
    data = json.loads(chorales.read_text())
    piano = tmp_path / "piano.json"
    piano.write_text(json.dumps({**data, "name": "piano_set", "works": data["works"][1:]}))
    chorales.write_text(json.dumps({**data, "works": data["works"][:1]}))
    out = tmp_path / "data"
    meta = prepare_audio(
        [chorales, piano],
        out,
        copies=4,
        programs=(48, 52),
        manifest_programs={"piano_set": (0,)},
        max_seconds=1.0,
        workers=1,
        progress=False,
    )
    sources = json.loads((out / "train_sources.json").read_text())
    programs = {}
    for source in sources:
        programs.setdefault(source["work"], set()).add(source["variant"]["program"])
    first, second = (w["id"] for w in data["works"][:2])
    assert programs[second] == {0} and programs[first] <= {48, 52}
    assert meta.augment["manifest_programs"] == {"piano_set": [0]}
    args = ["audio", "prepare", str(chorales), str(piano), "--out", str(tmp_path / "x")]
    assert main([*args, "--manifest-programs", "piano_sets=0"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "piano_sets" in error and "piano_set" in error
    assert not (tmp_path / "x").exists()


@needs_synth
def test_transcribe_then_continue_with_a_language_model(overfit_run, tmp_path):
    from symbolic.transcription.run import load_transcriber
    from tests.helpers import write_run_dir

    run_dir, data = overfit_run
    notes = sorted_notes(np.load(data / "train_notes.npy")[:, 1:])
    audio = synth.render_notes(
        notes, synth.Variant(program=0), 16000, None, np.random.default_rng(1)
    )
    wav = tmp_path / "in.wav"
    write_wav(wav, audio[:, None], 16000)  # mono, at the model's own rate
    lm = write_run_dir(tmp_path / "lm", "transformer")  # an untrained LM: only the plumbing
    paths = load_transcriber(run_dir).continue_with(wav, lm, tmp_path / "out", num=1, max_tokens=32)
    assert [p.name for p in paths] == ["transcription.mid", "sample_000.mid"]
    first = midi_file_notes(paths[0])
    continued = midi_file_notes(paths[1])
    assert len(continued) >= len(first) * 0.9  # the continuation starts with the transcription
