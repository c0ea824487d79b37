"""Bad input is one line, `symbolic: error: <file>: <problem>`, and never costs the user a file.

Each test makes the bad input itself (a file where a folder goes, a truncated array, an empty
config, a damaged MIDI, a too-long prompt) and runs the command or the API on it; none trains.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbolic import cli
from symbolic.data import manifest as mf
from symbolic.paths import output_file, output_folder, read_json
from tests.helpers import write_test_midi

ROOT = Path(__file__).resolve().parents[1]
NOTES = [(i * 0.5, 0.5, 60 + i % 12, 80) for i in range(16)]
# meta.json of a run or data folder with only what loading it needs (as in test_meta.py)
MINIMAL_META = {
    "vocab_size": 300,
    "special_ids": {"pad": 0, "bos": 1, "eos": 2, "mask": 3},
    "tokenizer_hash": "ab" * 32,
}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "symbolic.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)


def one_error_line(result: subprocess.CompletedProcess, names: str | Path) -> str:
    """The single stderr line of a failed command, which names `names`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("symbolic: error: "), result.stderr
    assert str(names) in lines[0]
    return lines[0]


@pytest.fixture
def song(tmp_path) -> Path:
    return write_test_midi(tmp_path / "songs" / "song.mid", [{"program": 0, "notes": NOTES}])


@pytest.fixture
def manifest(tmp_path, song) -> Path:
    return mf.write_folder_manifest(song.parent, tmp_path / "songs.json")


@pytest.fixture
def users_file(tmp_path) -> Path:
    """A file of the user's where an output folder should be named."""
    path = tmp_path / "notes.txt"
    path.write_text("the user's own notes\n")
    return path


# --- 1: a file where an output folder goes is an error, and the file stays ---------------------


def _folder_commands(manifest: Path, tmp_path: Path) -> dict[str, list]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "meta.json").write_text(json.dumps(MINIMAL_META))
    return {
        "prepare": ["prepare", manifest, "--no-progress", "--out"],
        "train": [
            "train",
            "--model",
            "transformer",
            "--data",
            data,
            "--preset",
            "tiny",
            "--workdir",
        ],
        "generate": ["generate", tmp_path / "no-run", "--out"],
        "vae-prepare": ["vae", "prepare", manifest, "--melody", "--out"],
        "demo": ["demo", "--out"],
    }


@pytest.mark.parametrize("command", ["prepare", "train", "generate", "vae-prepare", "demo"])
def test_an_existing_file_as_output_folder_is_an_error_and_stays(
    command, manifest, users_file, tmp_path
):
    before = sorted(tmp_path.iterdir())
    result = run_cli(*_folder_commands(manifest, tmp_path)[command], users_file)
    assert "is not a folder" in one_error_line(result, users_file)
    assert users_file.read_text() == "the user's own notes\n"
    assert sorted(tmp_path.iterdir()) == sorted([*before, tmp_path / "data"])  # no .old-PID


def test_writers_of_folders_refuse_a_file(users_file):
    from symbolic.data.meta import SegmentsMeta
    from symbolic.data.segments import write_segments_dir
    from symbolic.generation.generate import write_midi
    from symbolic.vae.files import write_midis

    with pytest.raises(FileExistsError, match="is not a folder"):
        write_midi([], users_file)
    with pytest.raises(FileExistsError, match="is not a folder"):
        write_midis(np.zeros((1, 32), np.int32), users_file, "sample")
    with pytest.raises(FileExistsError, match="is not a folder"):
        write_segments_dir(users_file, {}, SegmentsMeta(vocab_size=130, bars=2, melody_program=40))
    assert users_file.read_text() == "the user's own notes\n"


def test_output_paths_checks(tmp_path, users_file):
    assert output_folder(tmp_path / "new" / "out", create=True).is_dir()
    assert output_folder(tmp_path) == tmp_path
    assert output_file(tmp_path / "sub" / "x.wav").parent.is_dir()
    assert output_file(users_file) == users_file  # one file may be replaced
    with pytest.raises(IsADirectoryError, match="is a folder"):
        output_file(tmp_path)


# --- 10: every user error is one line; a bug says so; --debug shows the traceback -------------


def test_render_into_a_folder_is_one_line_before_rendering(song, tmp_path):
    from symbolic.output.render import render

    with pytest.raises(IsADirectoryError, match="is a folder"):
        render(song, tmp_path, soundfont=tmp_path / "no-font.sf2")  # the font is never read
    one_error_line(run_cli("render", song, tmp_path), tmp_path)


def test_a_manifest_written_over_a_folder_is_one_line(song, tmp_path):
    one_error_line(run_cli("manifest", song.parent, "--out", tmp_path), tmp_path)


def test_an_os_error_is_one_line_with_the_file(monkeypatch, capsys):
    def unwritable(args):
        raise PermissionError(13, "Permission denied", "/read-only/out")

    monkeypatch.setattr(cli.train, "cmd_presets", unwritable)
    assert cli.main(["presets"]) == 2
    assert capsys.readouterr().err == "symbolic: error: /read-only/out: Permission denied\n"


def test_a_bug_names_its_type_and_debug_shows_the_traceback(monkeypatch, capsys):
    def buggy(args):
        raise KeyError("token_count")

    monkeypatch.setattr(cli.train, "cmd_presets", buggy)
    assert cli.main(["presets"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KeyError" in err and "--debug" in err
    with pytest.raises(KeyError, match="token_count"):
        cli.main(["--debug", "presets"])


def test_a_long_error_message_is_cut_to_its_first_line():
    line = cli.error_line(RuntimeError("tensorstore: bad chunk\n" + "detail\n" * 400))
    assert line == "tensorstore: bad chunk (the rest with --debug)"


def test_a_manifest_with_a_bad_excluded_list_names_the_file_and_key(manifest, tmp_path):
    data = json.loads(manifest.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "excluded": 5}))
    with pytest.raises(mf.ManifestError, match="'excluded' must be a list") as err:
        mf.load_manifest(bad)
    assert str(bad) in str(err.value)
    one_error_line(run_cli("prepare", bad, "--out", tmp_path / "out"), bad)


# --- 11: messages name the file and say what is wrong -------------------------------------------


def test_a_truncated_split_names_the_file(tmp_path):
    from symbolic.data.batches import load_split

    np.save(tmp_path / "train.npy", np.arange(1000, dtype=np.int32))
    np.save(tmp_path / "train_offsets.npy", np.array([0, 1000], np.int64))
    data = (tmp_path / "train.npy").read_bytes()
    (tmp_path / "train.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or not a NumPy array") as err:
        load_split(tmp_path, "train")
    assert str(tmp_path / "train.npy") in str(err.value)


@pytest.mark.parametrize("text", ["", '{\n  "model_name": \n'], ids=["empty", "cut"])
def test_a_bad_config_or_meta_json_names_the_file(tmp_path, text):
    from symbolic.data.meta import MetaError, read_meta
    from symbolic.training.config import RunConfig

    for name in ("config.json", "meta.json"):
        (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match="config.json: (is empty, not valid|malformed) JSON"):
        RunConfig.load(tmp_path / "config.json")
    with pytest.raises(MetaError, match="meta.json: (is empty, not valid|malformed) JSON"):
        read_meta(tmp_path / "meta.json")
    result = run_cli("eval", tmp_path, "--data", tmp_path)
    assert "JSON" in one_error_line(result, tmp_path / "config.json")


def test_the_json_reader_names_the_file_and_keeps_the_callers_error(tmp_path):
    from symbolic.data.meta import MetaError

    (tmp_path / "x.json").write_bytes(b"\xff\xfe")
    with pytest.raises(MetaError, match="x.json: not valid JSON"):
        read_json(tmp_path / "x.json", MetaError)
    (tmp_path / "x.json").write_text("[1, 2]")
    assert read_json(tmp_path / "x.json") == [1, 2]


def test_a_config_without_its_sections_names_the_key(tmp_path):
    from symbolic.training.config import RunConfig

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no 'model_name' in this config"):
        RunConfig.load(tmp_path / "config.json")


def test_a_damaged_midi_names_the_file(tmp_path):
    from symbolic.data.convert import load_score

    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(RuntimeError, match="not a valid MIDI file") as err:
        load_score(bad)
    assert str(bad) in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such MIDI file"):
        load_score(tmp_path / "missing.mid")
