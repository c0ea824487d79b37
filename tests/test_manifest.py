"""Manifests: folder scans, sha256, deterministic splits by work, one-line errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from symbolic.data import manifest as mf
from tests.helpers import REPO, pop909_songs

BACH = REPO / "data_manifests" / "bach_chorales.json"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def midi_tree(tmp_path, midi_writer) -> Path:
    """A nested folder of small MIDI files (different content each), plus a non-MIDI file."""
    root = tmp_path / "songs"
    for i, rel in enumerate(["a.mid", "sub/b.midi", "sub/deeper/c.MID", "d.mid"]):
        notes = [(j * 0.5, 0.5, 60 + (i + j) % 12, 80) for j in range(8)]
        midi_writer(root / rel, [{"program": i, "notes": notes}])
    (root / "notes.txt").write_text("not music")
    return root


def test_folder_manifest_is_recursive_relative_and_hashed(tmp_path, midi_tree):
    out = tmp_path / "manifests" / "songs.json"
    assert mf.write_folder_manifest(midi_tree, out, seed=3, licence="CC0") == out
    m = mf.load_manifest(out)
    assert sorted(w.path for w in m.works) == ["a.mid", "d.mid", "sub/b.midi", "sub/deeper/c.MID"]
    assert m.source == {"type": "folder", "path": "../songs"}
    assert m.licence == "CC0" and m.seed == 3 and m.name == "songs"
    assert mf.source_root(m) == midi_tree.resolve()
    for work in m.works:
        assert work.sha256 == sha(midi_tree / work.path)
        assert mf.check_work(mf.source_root(m), work) is None
    assert {w.split for w in m.works} == {"train", "valid", "test"}  # tiny sets still get all


def test_folder_and_manifest_move_together(tmp_path, midi_tree):
    mf.write_folder_manifest(midi_tree, tmp_path / "songs.json")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copytree(midi_tree, moved / "songs")
    shutil.copy(tmp_path / "songs.json", moved / "songs.json")
    m = mf.load_manifest(moved / "songs.json")
    assert all(mf.check_work(mf.source_root(m), w) is None for w in m.works)


def test_splits_are_deterministic_by_seed_and_stable_when_adding_works():
    ids = [f"work{i}" for i in range(300)]
    first = mf.assign_splits(ids, seed=0)
    assert first == mf.assign_splits(ids, seed=0)
    assert first != mf.assign_splits(ids, seed=1)
    fractions = {s: first.count(s) / len(ids) for s in mf.SPLITS}
    assert 0.72 < fractions["train"] < 0.88 and 0.05 < fractions["valid"] < 0.15
    grown = mf.assign_splits([*ids, *(f"new{i}" for i in range(50))], seed=0)
    assert grown[: len(ids)] == first  # adding files moves no existing work


def test_changed_file_fails_the_sha256_check(tmp_path, midi_tree):
    m = mf.load_manifest(mf.write_folder_manifest(midi_tree, tmp_path / "m.json"))
    work = m.works[0]
    (midi_tree / work.path).write_bytes(b"changed")
    assert "sha256 mismatch" in mf.check_work(mf.source_root(m), work)
    (midi_tree / work.path).unlink()
    assert "not found" in mf.check_work(mf.source_root(m), work)


def test_errors_are_one_line_and_name_the_file(tmp_path, midi_tree):
    def error(path) -> str:
        with pytest.raises(mf.ManifestError) as info:
            mf.load_manifest(path)
        text = str(info.value)
        assert "\n" not in text and str(path) in text
        return text

    assert "no such manifest" in error(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1,\n "works": [}')
    assert "malformed JSON at line 2" in error(bad)
    good = json.loads(mf.write_folder_manifest(midi_tree, tmp_path / "m.json").read_text())
    for mutate, expected in [
        (lambda d: d.update(format_version=7), "format_version"),
        (lambda d: d["source"].update(type="ftp"), "source.type"),
        (lambda d: d["works"][1].update(split="dev"), "works[1]"),
        (lambda d: d["works"][0].pop("sha256"), "'sha256'"),
        (lambda d: d["works"][2].update(id=d["works"][0]["id"]), "duplicate work id"),
        (lambda d: d["works"][0].update(path="../escape.mid"), "relative"),
        (lambda d: d.update(works=[]), "non-empty list"),
    ]:
        data = json.loads(json.dumps(good))
        mutate(data)
        bad.write_text(json.dumps(data))
        assert expected in error(bad)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(mf.ManifestError, match="not a folder"):
        mf.write_folder_manifest(tmp_path / "nowhere", tmp_path / "m.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(mf.ManifestError, match="no .mid/.midi files"):
        mf.write_folder_manifest(tmp_path / "empty", tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_embedded_bach_manifest():
    m = mf.load_manifest(BACH)
    assert m.source["type"] == "music21_corpus" and m.source["composer"] == "bach"
    assert 400 <= len(m.works) <= 420
    counts = {s: sum(w.split == s for w in m.works) for s in mf.SPLITS}
    assert counts["train"] > 0.7 * len(m.works) and counts["valid"] > 20 and counts["test"] > 20
    assert all(w.path.startswith("bach/") and not Path(w.path).is_absolute() for w in m.works)
    assert "public domain" in m.licence and "BSD" in m.licence
    reasons = {e["path"]: e["reason"] for e in m.excluded}
    assert sum(p.endswith(".rntxt") for p in reasons) == 20
    assert "another encoding of work bwv277" in reasons["bach/bwv277.krn"]
    root = mf.source_root(m)
    for work in m.works[::100]:  # a few: hashing all 410 belongs to prepare
        assert mf.check_work(root, work) is None, work


def test_rebuilding_the_bach_manifest_gives_the_same_works():
    m = mf.load_manifest(BACH)
    rebuilt = mf.build_manifest(m.source, name=m.name, seed=m.seed)
    assert rebuilt.works == m.works and rebuilt.excluded == m.excluded


# --- groups, exclusions and leaks (a real user's folder: POP909 with versions/ copies) -------


@pytest.fixture
def pop_with_versions(tmp_path) -> Path:
    """12 POP909 songs laid out as the full release has them: NNN/NNN.mid plus a copy of
    each in NNN/versions/ (the shared copy has no versions/, so the test makes them)."""
    root = tmp_path / "pop"
    for song in pop909_songs(12):
        folder = root / song.parent.name
        (folder / "versions").mkdir(parents=True)
        shutil.copy(song, folder / song.name)
        shutil.copy(song, folder / "versions" / f"{song.stem}-v1.mid")
    return root


def test_copies_leak_across_splits_and_the_warning_says_how_to_fix_it(pop_with_versions, tmp_path):
    m = mf.load_manifest(mf.write_folder_manifest(pop_with_versions, tmp_path / "pop.json"))
    leaks = mf.split_leaks(m)
    by_song = {}
    for work in m.works:
        by_song.setdefault(work.path.split("/")[0], set()).add(work.split)
    mixed = sum(len(splits) > 1 for splits in by_song.values())
    assert mixed > 0  # the split is seeded, so this layout leaks the same way every run
    assert leaks.same_notes == mixed and leaks.files == 2 * mixed
    assert "--group-by" in leaks.warning() and "--exclude" in leaks.warning()


def test_group_by_top_keeps_each_song_and_its_versions_in_one_split(pop_with_versions, tmp_path):
    path = mf.write_folder_manifest(pop_with_versions, tmp_path / "pop.json", group_by="top")
    m = mf.load_manifest(path)
    assert m.group_by == "top" and len(m.works) == 24
    by_song = {}
    for work in m.works:
        assert work.group == work.path.split("/")[0]
        by_song.setdefault(work.group, set()).add(work.split)
    assert all(len(splits) == 1 for splits in by_song.values())
    assert {next(iter(s)) for s in by_song.values()} == {"train", "valid", "test"}
    assert mf.split_leaks(m) == mf.Leaks(0, 0, 0) and mf.split_leaks(m).warning() is None
    assert json.loads(path.read_text()) == m.to_json()  # group and group_by round-trip


def test_group_by_regex_and_parent(pop_with_versions, tmp_path):
    regex = mf.build_manifest(
        {"type": "folder", "path": str(pop_with_versions)}, name="pop", group_by=r"^(\d+)/"
    )
    assert all(w.group == w.path[:3] for w in regex.works)
    parent = mf.build_manifest(
        {"type": "folder", "path": str(pop_with_versions)}, name="pop", group_by="parent"
    )
    assert {w.group for w in parent.works if "versions" in w.path} == {
        f"{w.path[:3]}/versions" for w in parent.works if "versions" in w.path
    }
    assert mf.group_key("loose.mid", "top") == "loose.mid"  # a top-level file: its own group
    with pytest.raises(mf.ManifestError, match="regex with a"):
        mf.check_group_by("no-group")
    with pytest.raises(mf.ManifestError, match="not a regular expression"):
        mf.check_group_by("(unclosed")


def test_exclude_leaves_out_the_versions_folders_with_a_reason(pop_with_versions, tmp_path):
    m = mf.load_manifest(
        mf.write_folder_manifest(pop_with_versions, tmp_path / "pop.json", exclude=("versions",))
    )
    assert len(m.works) == 12 and not any("versions" in w.path for w in m.works)
    assert {e["reason"] for e in m.excluded} == {"excluded by --exclude 'versions'"}
    assert mf.split_leaks(m).files == 0


def test_manifest_command_prints_the_leak_warning(pop_with_versions, tmp_path, capsys):
    from symbolic.cli import main

    assert main(["manifest", str(pop_with_versions), "--out", str(tmp_path / "a.json")]) == 0
    assert "have a twin in another split" in capsys.readouterr().err
    args = ["--out", str(tmp_path / "b.json"), "--group-by", "top"]
    assert main(["manifest", str(pop_with_versions), *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "24 works" in captured.out
    bad = ["manifest", str(pop_with_versions), "--out", str(tmp_path / "c.json"), "--group-by", "x"]
    assert main(bad) == 2
    assert not (tmp_path / "c.json").exists()


def test_max_works_keeps_the_first_works_of_each_split_as_the_full_folder_splits_them(
    pop_with_versions, tmp_path
):
    from symbolic.cli import main

    full = mf.load_manifest(
        mf.write_folder_manifest(pop_with_versions, tmp_path / "full.json", group_by="top")
    )
    out = tmp_path / "subset.json"
    args = ["--out", str(out), "--group-by", "top", "--max-works", "train=3"]
    assert main(["manifest", str(pop_with_versions), *args, "--max-works", "test=0"]) == 0
    subset = mf.load_manifest(out)
    want = [w for w in full.works if w.split == "train"][:3]
    want += [w for w in full.works if w.split == "valid"]
    assert sorted(subset.works, key=lambda w: w.path) == sorted(want, key=lambda w: w.path)
    assert "the first 3 train, 0 test works" in subset.description
    with pytest.raises(SystemExit):  # argparse's usage error
        main(["manifest", str(pop_with_versions), *args, "--max-works", "train=x"])
    assert main(["manifest", str(pop_with_versions), *args, "--max-works", "tset=1"]) == 2
