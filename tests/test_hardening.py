"""Hardening (issue 15 items 4, 5, 7, 13, 15 and the small gaps of 10/11): bounded renders,
locked output folders, runs checked against their data's encoding, no leftovers, odd files
flagged, huge seeds, unreadable archives and damaged checkpoints.

Every data set here is written by the test (MIDI from `write_test_midi`, tokenized by the real
`prepare`), so nothing waits on music21; the one training test trains the tiny preset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symbolic import cli
from symbolic.data import manifest as mf
from symbolic.data.prepare import prepare
from symbolic.paths import FolderInUseError, folder_lock, lock_path, remove_stale_temps
from tests.helpers import REPO, synth_available, train_tiny, write_run_dir, write_test_midi

needs_synth = pytest.mark.skipif(not synth_available(), reason="fluidsynth or a GM font missing")


def _notes(seed: int, count: int = 24) -> list[tuple[float, float, int, int]]:
    rng = np.random.default_rng(seed)
    return [(i * 0.5, 0.5, int(rng.integers(55, 80)), 80) for i in range(count)]


def one_error(capsys, code: int, *names: object) -> str:
    """The one stderr line of a failed in-process command, which names each of `names`."""
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("symbolic: error: "), err
    for name in names:
        assert str(name) in err[0], err[0]
    return err[0]


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    """A manifest of ten short one-track songs, every one in train but two (valid, test)."""
    root = tmp_path_factory.mktemp("songs")
    for i in range(10):
        write_test_midi(root / "midi" / f"song{i}.mid", [{"program": 0, "notes": _notes(i)}])
    path = mf.write_folder_manifest(root / "midi", root / "songs.json")
    data = json.loads(path.read_text())
    for i, work in enumerate(data["works"]):
        work["split"] = {0: "valid", 1: "test"}.get(i, "train")
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def song_data(songs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("song_data") / "data"
    prepare(songs, "remi", out, workers=1, progress=False, cache_dir=None)
    return out


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory) -> Path:
    """An untrained tiny LSTM run: no window, so any prompt length reaches the MIDI writer."""
    return write_run_dir(tmp_path_factory.mktemp("runs") / "lstm", "lstm")


def far_note_midi(path: Path, ticks_per_quarter: int = 24) -> Path:
    """A valid MIDI file of one note at delta 0x0FFFFFFF (the largest a MIDI delta can be)."""
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_quarter)
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=60, velocity=80, time=0x0FFFFFFF))
    track.append(mido.Message("note_off", note=60, velocity=0, time=ticks_per_quarter))
    midi.tracks.append(track)
    midi.save(path)
    return path


# --- 4: render is bounded, streams, and leaves nothing behind --------------------------------


@needs_synth
def test_render_stops_at_the_last_note_off_plus_the_release(tmp_path):
    import mido

    from symbolic.output import render as render_lib

    song = write_test_midi(tmp_path / "song.mid", [{"program": 0, "notes": _notes(0, 8)}])
    midi = mido.MidiFile(song)  # 8 eighths at 120 bpm (2 s)... then a controller 20 min later
    late = mido.Message("control_change", control=7, value=100, time=480 * 2 * 1200)
    midi.tracks[1].insert(len(midi.tracks[1]) - 1, late)
    midi.save(tmp_path / "late.mid")
    started = time.monotonic()
    wav = render_lib.render(tmp_path / "late.mid", tmp_path / "late.wav", sample_rate=22050)
    audio, rate = render_lib.read_wav(wav)
    assert audio.shape[0] / rate == pytest.approx(2.0 + render_lib.RELEASE_S, abs=0.05)
    assert time.monotonic() - started < 60  # 20 minutes of audio would take longer, and 200 MB
    assert np.abs(audio).max() > 0.5  # and the notes are there, normalised


def test_render_refuses_an_absurd_file_naming_it(tmp_path, capsys):
    absurd = far_note_midi(tmp_path / "absurd.mid")
    code = cli.main(["render", str(absurd), str(tmp_path / "out.wav")])
    assert "past the render limit" in one_error(capsys, code, absurd)
    assert not (tmp_path / "out.wav").exists()
    code = cli.main(["render", str(absurd), str(tmp_path / "out.wav"), "--max-seconds", "0"])
    assert "max_seconds must be finite and > 0" in one_error(capsys, code)


@needs_synth
def test_render_streams_in_chunks_and_cleans_its_temp_files(tmp_path, monkeypatch):
    from symbolic.output import render as render_lib

    monkeypatch.setattr(render_lib.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    stale = tmp_path / "tmp" / f".symbolic-render.tmp-{dead_pid()}-x"  # of a killed render
    stale.mkdir()
    (stale / "out.raw").write_bytes(b"\0" * 1024)
    reads = []
    real_fromfile = np.fromfile
    monkeypatch.setattr(render_lib, "CHUNK_FRAMES", 4096)

    def fromfile(*args, count=-1, **kwargs):
        reads.append(count)
        return real_fromfile(*args, count=count, **kwargs)

    monkeypatch.setattr(render_lib.np, "fromfile", fromfile)
    song = write_test_midi(tmp_path / "song.mid", [{"program": 0, "notes": _notes(1, 8)}])
    audio, _ = render_lib.read_wav(render_lib.render(song, tmp_path / "a.wav", sample_rate=8000))
    assert len(reads) > 2 and 0 < max(reads) <= 4096 * render_lib.CHANNELS  # never it all
    assert np.abs(audio).max() == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # peak of the whole
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []  # stale one gone too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "song.mid", "tmp"]


@needs_synth
def test_a_full_disk_while_writing_the_wav_leaves_the_old_wav_and_no_temp(tmp_path, monkeypatch):
    from symbolic.output import render as render_lib

    song = write_test_midi(tmp_path / "song.mid", [{"program": 0, "notes": _notes(2, 8)}])
    wav = tmp_path / "song.wav"
    wav.write_bytes(b"the old render")

    def full_disk(path, *args):
        Path(path).write_bytes(b"RIFF half a wav")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(render_lib, "_write_wav_stream", full_disk)
    with pytest.raises(OSError, match="No space left"):
        render_lib.render(song, wav, sample_rate=8000)
    assert wav.read_bytes() == b"the old render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid", "song.wav"]


def test_a_prompt_far_out_is_one_line_not_an_overflow(lstm_run, tmp_path, capsys):
    absurd = far_note_midi(tmp_path / "absurd.mid")
    out = tmp_path / "out"
    code = cli.main(["generate", str(lstm_run), "--out", str(out), "--prompt", str(absurd)])
    assert "quarter notes in" in one_error(capsys, code, absurd)
    assert not out.exists()


# --- 5: one process at a time on a run directory or an output folder --------------------------


def test_a_locked_folder_refuses_a_second_holder_and_frees_on_exit(tmp_path):
    folder = tmp_path / "out"
    with folder_lock(folder):
        assert lock_path(folder).read_text().strip() == str(os.getpid())
        in_use = f"{folder}: is in use by PID {os.getpid()}"
        with pytest.raises(FolderInUseError, match=in_use), folder_lock(folder):
            pass
        code = f"from symbolic.paths import folder_lock\nwith folder_lock({str(folder)!r}): pass"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and f"is in use by PID {os.getpid()}" in other.stderr
    assert not lock_path(folder).exists()  # no file left beside the folder
    with folder_lock(folder):  # free again
        pass


def test_prepare_and_generate_on_a_folder_in_use_are_refused(songs, lstm_run, tmp_path, capsys):
    out = tmp_path / "out"
    with folder_lock(out):
        code = cli.main(["prepare", str(songs), "--out", str(out), "--no-progress"])
        assert f"is in use by PID {os.getpid()}" in one_error(capsys, code, out)
        code = cli.main(["generate", str(lstm_run), "--out", str(out), "--num", "1"])
        assert f"is in use by PID {os.getpid()}" in one_error(capsys, code, out)
    assert not out.exists()


def test_a_second_concurrent_train_on_one_workdir_is_refused(song_data, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "symbolic.cli", "train", "--model", "lstm", "--preset"]
    command += ["tiny", "--data", str(song_data), "--workdir", str(run), "--no-progress"]
    command += ["--steps", "100000"]  # runs until the test stops it
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    first = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").is_file() and first.poll() is None:
            assert time.monotonic() < deadline, "the first train never started"
            time.sleep(0.2)
        assert first.poll() is None, first.stderr.read()
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert lines[0] == (
            f"symbolic: error: {run}: is in use by PID {first.pid} (another symbolic command); "
            "wait for it to finish or use another folder"
        )
    finally:
        first.send_signal(signal.SIGTERM)  # SIGTERM runs the cleanup: the lock file goes
        first.wait(timeout=60)
    assert not lock_path(run).exists()


# --- 7: eval, resume and generation compare the whole encoding, not only the tokenizer ---------


def _as_melody_over_chords(meta_path: Path) -> dict:
    """Rewrite a REMI meta.json as the melody_over_chords view (121 chord ids after the vocab)."""
    meta = json.loads(meta_path.read_text())
    vocab = meta["vocab_size"]
    meta["view"] = {"name": "melody_over_chords", "track": None, "chord_rate": "beat"}
    meta["extra_tokens"] = {f"Chord_{i}": vocab + i for i in range(121)}
    meta["vocab_size"] = vocab + 121
    meta_path.write_text(json.dumps(meta))
    return meta


def test_eval_of_a_full_view_run_on_a_melody_over_chords_folder_is_one_line(
    tmp_path, song_data, capsys
):
    import shutil

    run = write_run_dir(tmp_path / "run", "transformer")
    data = tmp_path / "moc"
    shutil.copytree(song_data, data)
    _as_melody_over_chords(data / "meta.json")
    code = cli.main(["eval", str(run), "--data", str(data)])
    line = one_error(capsys, code, data)
    assert "view melody_over_chords (chord_rate=beat), not full" in line
    assert "vocabulary of" in line
    assert not (run / "metrics.jsonl").exists()  # no NaN record


def test_resume_on_data_of_another_view_is_refused(tmp_path, song_data):
    import shutil

    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    run = tmp_path / "run"
    config = config_lib.resolve("lstm", "tiny")
    trainer.prepare_run_dir(config, song_data, run)
    data = tmp_path / "moc"
    shutil.copytree(song_data, data)
    meta = json.loads((data / "meta.json").read_text())  # a melody view: the same vocabulary
    meta["view"] = {"name": "melody", "track": None}
    (data / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"other tokens .*\(view melody, not full\)"):
        trainer.prepare_run_dir(config, data, run)


def test_generate_from_a_run_whose_meta_disagrees_with_its_tokenizer_is_one_line(tmp_path, capsys):
    run = write_run_dir(tmp_path / "run", "lstm")
    _as_melody_over_chords(run / "meta.json")  # as if copied from a chord-view data folder
    song = write_test_midi(tmp_path / "p.mid", [{"program": 0, "notes": _notes(3, 4)}])
    out = tmp_path / "out"
    code = cli.main(["generate", str(run), "--out", str(out), "--prompt", str(song)])
    assert "does not match the run's tokenizer" in one_error(capsys, code, run / "meta.json")


# --- 13: no leftovers, and those of killed processes are removed by the next run ---------------


def test_prepare_removes_the_temp_folders_of_dead_prepares_only(songs, tmp_path, capsys):
    out = tmp_path / "data"
    stale = tmp_path / f".data.tmp-{dead_pid()}-abcd"  # a SIGKILLed prepare's partial arrays
    stale.mkdir()
    (stale / "train.raw").write_bytes(b"\0" * 64)
    alive = tmp_path / f".data.tmp-{os.getppid()}-efgh"  # a prepare still running
    alive.mkdir()
    prepare(songs, "remi", out, workers=1, progress=False, cache_dir=None)
    assert not stale.exists() and alive.is_dir()
    assert f"removed {stale}" in capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".data.tmp-" + alive.name.split(".tmp-")[1], "data"]


def test_a_terminated_prepare_leaves_no_temp_folder(tmp_path):
    folder = tmp_path / "midi"
    for i in range(40):
        write_test_midi(folder / f"s{i}.mid", [{"program": 0, "notes": _notes(i, 400)}])
    manifest = mf.write_folder_manifest(folder, tmp_path / "m.json")
    command = [sys.executable, "-m", "symbolic.cli", "prepare", str(manifest), "--out"]
    command += [str(tmp_path / "data"), "--workers", "1", "--no-progress", "--transpose", "-5..6"]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".data.tmp-*/train.raw")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "midi"], process.stderr.read()


def test_a_manifest_write_removes_the_temp_files_of_dead_writers(tmp_path):
    folder = tmp_path / "midi"
    write_test_midi(folder / "a.mid", [{"program": 0, "notes": _notes(4, 4)}])
    stale = tmp_path / f".m.json.tmp-{dead_pid()}"
    stale.write_text("{half a manifest")
    other = tmp_path / f".other.json.tmp-{dead_pid()}"  # another file's: not ours to touch
    other.write_text("{")
    mf.write_folder_manifest(folder, tmp_path / "m.json")
    assert not stale.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "other.json") == [other]


# --- 15: files kept, but odd, are flagged in meta.json and printed ----------------------------


def _raw_midi(path: Path, meta_events: list[bytes], tracks_in_header: int = 2) -> Path:
    """A format-1 MIDI file written byte by byte (mido refuses the odd values): a meta track
    with `meta_events` at time 0, and a track of 16 eighth notes."""
    import struct

    def track(events: bytes) -> bytes:
        body = events + b"\x00\xff\x2f\x00"
        return b"MTrk" + struct.pack(">I", len(body)) + body

    notes = b"".join(
        (b"\x00" if i == 0 else b"\x81\x70")
        + bytes([0x90, 60 + i % 12, 80])
        + b"\x81\x70"
        + bytes([0x80, 60 + i % 12, 0])
        for i in range(16)
    )
    header = b"MThd" + struct.pack(">IHHH", 6, 1, tracks_in_header, 480)
    path.write_bytes(header + track(b"".join(b"\x00" + e for e in meta_events)) + track(notes))
    return path


def test_odd_files_are_kept_flagged_and_warned_of(tmp_path, capsys):
    folder = tmp_path / "midi"
    folder.mkdir()
    tempo_120 = b"\xff\x51\x03\x07\xa1\x20"
    _raw_midi(folder / "tempo0.mid", [b"\xff\x51\x03\x00\x00\x00"])
    _raw_midi(folder / "meter00.mid", [tempo_120, b"\xff\x58\x04\x00\x00\x18\x08"])
    _raw_midi(folder / "meter255.mid", [tempo_120, b"\xff\x58\x04\xff\xff\x18\x08"])
    _raw_midi(folder / "tracks.mid", [tempo_120], tracks_in_header=65535)
    _raw_midi(folder / "good.mid", [tempo_120, b"\xff\x58\x04\x04\x02\x18\x08"])
    manifest = mf.write_folder_manifest(folder, tmp_path / "m.json")
    meta = prepare(manifest, "remi", tmp_path / "data", workers=1, progress=False, cache_dir=None)
    flagged = {item.file: item.reason for item in meta.flagged}
    assert flagged == {
        "tempo0.mid": "a tempo of 0 (infinite BPM), read as the tokenizer's fastest tempo",
        "meter00.mid": "time signature 0/1, read as 4/4",
        "meter255.mid": "time signature 255/0, read as 4/4",
        "tracks.mid": "its header declares 65,535 tracks, the file holds 2",
    }
    assert not meta.skipped  # kept, not skipped
    written = json.loads((tmp_path / "data" / "meta.json").read_text())["flagged"]
    assert {f["file"]: f["reason"] for f in written} == flagged
    err = capsys.readouterr().err
    for name, reason in flagged.items():
        assert f"symbolic: warning: {tmp_path / 'data'}: kept {name}: {reason}" in err


def test_a_work_of_over_a_quarter_of_the_train_tokens_is_flagged_and_can_be_cut(
    songs, tmp_path, capsys
):
    import shutil

    from symbolic import tokenization
    from symbolic.data.batches import load_split

    shutil.copytree(songs.parent / "midi", tmp_path / "midi")  # the manifest's folder
    data = json.loads(songs.read_text())
    long_song = tmp_path / "midi" / "long.mid"
    write_test_midi(long_song, [{"program": 0, "notes": _notes(99, 1600)}])  # 200 bars
    work = {"id": "long.mid", "path": "long.mid", "sha256": mf.file_sha256(long_song)}
    data["works"].append({**work, "split": "train"})
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(data))
    meta = prepare(manifest, "remi", tmp_path / "data", workers=1, progress=False, cache_dir=None)
    (item,) = meta.flagged
    assert item.file == "long.mid" and "of all train tokens" in item.reason
    assert "--max-tokens-per-work" in capsys.readouterr().err

    code = cli.main(
        ["prepare", str(manifest), "--out", str(tmp_path / "cut"), "--no-progress"]
        + ["--workers", "1", "--max-tokens-per-work", "500"]
    )
    assert code == 0
    cut = json.loads((tmp_path / "cut" / "meta.json").read_text())
    assert [f["file"] for f in cut["flagged"]] == ["long.mid"]
    assert cut["flagged"][0]["reason"].startswith("cut from ")
    whole, capped = load_split(tmp_path / "data", "train"), load_split(tmp_path / "cut", "train")
    lengths = np.diff(capped.offsets)
    assert lengths.max() <= 500 + 2 and np.diff(whole.offsets).max() > 500 + 2
    tokenizer = tokenization.load_tokenizer(tmp_path / "cut" / "tokenizer.json")
    longest = int(np.argmax(np.diff(whole.offsets)))
    kept = lengths[longest] - 2  # BOS and EOS
    original = whole.tokens[whole.offsets[longest] + 1 :]
    np.testing.assert_array_equal(
        capped.tokens[capped.offsets[longest] + 1 :][:kept], original[:kept]
    )
    assert original[kept] == tokenizer.vocab["Bar_None"]  # cut before a bar line
    assert (
        cli.main(
            ["prepare", str(manifest), "--out", str(tmp_path / "x"), "--max-tokens-per-work", "0"]
        )
        == 2
    )


# --- small gaps of items 10 and 11 -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "RUN", "--out", "OUT", "--seed", str(10**30)],
        ["generate", "RUN", "--out", "OUT", "--seed", "-1"],
        ["vae", "sample", "--run", "RUN", "--out", "OUT", "--temperature", "nan"],
        ["vae", "sample", "--run", "RUN", "--out", "OUT", "--temperature", "-1"],
        ["vae", "sample", "--run", "RUN", "--out", "OUT", "--seed", str(2**64)],
        ["vae", "vary", "IN.mid", "--run", "RUN", "--out", "OUT", "--seed", str(2**64)],
    ],
)
def test_huge_seeds_and_bad_vae_temperatures_are_one_line(argv, tmp_path, capsys):
    argv = [str(tmp_path / a) if a in ("RUN", "OUT", "IN.mid") else a for a in argv]
    line = one_error(capsys, cli.main(argv))
    assert "seed must be in" in line or "temperature must be finite and >= 0" in line
    assert not (tmp_path / "OUT").exists()


def test_a_huge_train_seed_is_a_config_error():
    from symbolic.training import config as config_lib

    with pytest.raises(ValueError, match=r"TrainConfig.seed must be in \[0, "):
        config_lib.resolve("lstm", "tiny", [f"train.seed={10**30}"])


def test_an_unreadable_segments_archive_names_the_file(tmp_path):
    from symbolic.data.segments import load_segments

    (tmp_path / "train.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=f"{tmp_path / 'train.npz'}: not a readable segments"):
        load_segments(tmp_path, "train")


def test_plot_of_a_damaged_midi_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff")
    code = cli.main(["plot", str(bad), str(tmp_path / "bad.png")])
    assert "not a valid MIDI file" in one_error(capsys, code, bad)
    assert not (tmp_path / "bad.png").exists()


def test_a_damaged_latest_checkpoint_falls_back_to_the_step_before(song_data, tmp_path, capsys):
    run = tmp_path / "run"
    train_tiny(song_data, run, 4, "train.checkpoint_every=2", "train.eval_every=2")
    latest = run / "checkpoints" / "latest"
    assert sorted(int(p.name) for p in latest.iterdir() if p.name.isdigit()) == [2, 4]
    for path in (latest / "4").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\0" * 8)  # a full disk or a bad sector
    capsys.readouterr()
    train_tiny(song_data, run, 6, "train.checkpoint_every=2", "train.eval_every=2")
    err = capsys.readouterr().err
    assert f"{latest}: step 4: " in err and "using step 2, the newest that reads" in err
    assert (run / "checkpoints" / "corrupt" / "latest-4").is_dir()
    assert json.loads((run / "summary.json").read_text())["steps"] == 6
    assert sorted(int(p.name) for p in latest.iterdir() if p.name.isdigit()) == [4, 6]


def test_audio_prepare_and_gan_outputs_on_a_folder_in_use_are_refused(songs, tmp_path):
    """The transcriber's and the GAN's output folders take the same lock as prepare's."""
    from symbolic.audio.dataset import prepare_audio
    from symbolic.gan.files import write_scores

    out = tmp_path / "out"
    with folder_lock(out):
        with pytest.raises(FolderInUseError, match=f"in use by PID {os.getpid()}"):
            prepare_audio(songs, out, progress=False)
        with pytest.raises(FolderInUseError, match=f"in use by PID {os.getpid()}"):
            write_scores([], out)
    assert not out.exists()
