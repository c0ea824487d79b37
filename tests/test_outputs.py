"""What generate and render leave on disk: silence stays silence (no noise normalised up to
-1 dBFS), empty samples are reported, and a second generate into a folder clears only the files
the first one listed, never a user's file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symbolic.generation import generate
from symbolic.output.render import peak_normalize, read_wav, render
from tests.helpers import synth_available, write_run_dir, write_test_midi

needs_synth = pytest.mark.skipif(
    not synth_available(), reason="fluidsynth or a GM SoundFont missing"
)
EMPTY = dict(num=2, max_tokens=1, seed=0)  # BOS and one token: no room for a note


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("outputs") / "run", "transformer")


def report_of(out: Path) -> dict:
    return json.loads((out / generate.REPORT_FILE).read_text())


def listed_and_present(out: Path) -> tuple[list[str], list[str]]:
    """The report's "files", and the sample files that are in OUT."""
    present = sorted(p.name for p in out.glob("sample_*"))
    return report_of(out)["files"], present


# --- item 3: silence stays silence -----------------------------------------------------------


def test_residue_below_the_noise_floor_gets_no_gain():
    residue = np.full((100, 2), 2e-8, np.float32)  # FluidSynth's reverb on a file with no notes
    np.testing.assert_array_equal(peak_normalize(residue), residue)
    quiet = np.full((100, 2), 10 ** (-100 / 20), np.float32)  # a quiet note is still raised
    assert np.abs(peak_normalize(quiet)).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)


@needs_synth
def test_render_of_a_midi_without_notes_is_silence(tmp_path):
    midi = write_test_midi(tmp_path / "empty.mid", [{"program": 0, "notes": []}])
    audio, _ = read_wav(render(midi, tmp_path / "empty.wav", sample_rate=22050))
    assert audio.size > 0 and np.abs(audio).max() == 0.0


def test_generate_reports_empty_samples(run_dir, tmp_path, capsys):
    with pytest.warns(UserWarning, match="decoded to no notes"):
        generate.generate(run_dir, tmp_path, **EMPTY)
    report = report_of(tmp_path)
    assert report["notes"] == [0, 0] and report["empty"] == [0, 1]
    assert "2 of 2 samples decoded to no notes: sample_000.mid, sample_001.mid" in (
        capsys.readouterr().out
    )


@needs_synth
def test_generate_renders_empty_samples_as_silence(run_dir, tmp_path):
    with pytest.warns(UserWarning, match="decoded to no notes"):
        paths = generate.generate(run_dir, tmp_path, render=True, **EMPTY)
    wavs = [p for p in paths if p.suffix == ".wav"]
    assert len(wavs) == 2 and report_of(tmp_path)["empty"] == [0, 1]
    for wav in wavs:
        assert np.abs(read_wav(wav)[0]).max() == 0.0
    listed, present = listed_and_present(tmp_path)
    assert listed == present == [f"sample_00{i}.{s}" for i in range(2) for s in ("mid", "wav")]


# --- item 9: a second generate clears its own old samples, and only those ---------------------


def test_generate_again_clears_only_the_files_it_listed(run_dir, tmp_path):
    generate.generate(run_dir, tmp_path, num=3, max_tokens=16, seed=0, plot=True)
    listed, present = listed_and_present(tmp_path)
    assert listed == present and len(present) == 6  # three MIDI files and three piano rolls
    (tmp_path / "mine.txt").write_text("a user's notes")
    (tmp_path / "sample_009.mid").write_bytes(b"not ours: no report listed it")
    generate.generate(run_dir, tmp_path, num=1, max_tokens=16, seed=0)
    assert report_of(tmp_path)["files"] == ["sample_000.mid"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        generate.REPORT_FILE,
        "mine.txt",
        "sample_000.mid",
        "sample_009.mid",
    ]


def test_a_report_without_files_clears_one_sample_per_note_count(run_dir, tmp_path):
    """A generation.json written before it listed its files still names its samples."""
    for i in range(4):
        for suffix in (".mid", ".wav", ".png"):
            (tmp_path / f"sample_{i:03d}{suffix}").write_bytes(b"old")
    (tmp_path / generate.REPORT_FILE).write_text(json.dumps({"notes": [5, 5, 5, 5]}))
    generate.generate(run_dir, tmp_path, num=1, max_tokens=16, seed=0)
    listed, present = listed_and_present(tmp_path)
    assert listed == present == ["sample_000.mid"]


def test_a_report_never_reaches_a_user_file(run_dir, tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep")
    (out / "notes.mid").write_text("keep")
    files = ["../victim.txt", "notes.mid", str(victim)]
    (out / generate.REPORT_FILE).write_text(json.dumps({"files": files}))
    generate.generate(run_dir, out, num=1, max_tokens=16, seed=0)
    assert victim.read_text() == "keep" and (out / "notes.mid").read_text() == "keep"


def test_infill_again_clears_its_own_old_samples(tmp_path, monkeypatch):
    """generate_infill shares the clearing (its sampler is faked: no FIM run needed)."""
    from symusic import Note, Score, Track

    from symbolic.generation import infill
    from symbolic.generation.engine import SamplingStats

    def fake_infill(run, prompt, span, settings, controls):
        score = Score(480)
        score.tracks.append(Track(program=0))
        score.tracks[0].notes.append(Note(0, 480, 60, 90))
        stats = SamplingStats(settings.num, 1, 4, 0.0, 1.0, 4.0)
        count = settings.num
        return infill.Infilled([score] * count, span, [4] * count, [0] * count, stats)

    monkeypatch.setattr(generate, "load_lm_run", lambda run_dir: None)
    monkeypatch.setattr(generate.infill, "infill", fake_infill)
    generate.generate_infill("run", tmp_path, "in.mid", "1-2", num=3)
    (tmp_path / "mine.mid").write_text("a user's file")
    generate.generate_infill("run", tmp_path, "in.mid", "1-2", num=1)
    listed, present = listed_and_present(tmp_path)
    assert listed == present == ["sample_000.mid"] and (tmp_path / "mine.mid").is_file()
