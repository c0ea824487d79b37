"""prepare: arrays the trainer can trust, skipped files reported, atomic outputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from symusic import Score

from benchmarks.fidelity import downbeats
from symbolic import tokenization
from symbolic.data import align, convert, views
from symbolic.data import manifest as mf
from symbolic.data import prepare as prep
from symbolic.data.meta import load_meta
from tests.helpers import REPO, pop909_songs

BAD_FILES = ("corrupt.mid", "truncated.mid", "empty.mid", "text.mid", "silent.mid")


@pytest.fixture
def song_folder(tmp_path, midi_writer) -> Path:
    """Six good MIDI files (one with drums) and five that must be skipped."""
    root = tmp_path / "songs"
    for i in range(6):
        melody = [(j * 0.5, 0.5, 55 + (i * 3 + j) % 20, 80) for j in range(16)]
        tracks = [{"program": i, "notes": melody}, {"program": 40 + i, "notes": melody[::2]}]
        if i == 0:
            tracks.append(
                {"program": 0, "drum": True, "notes": [(j, 0.25, 36, 100) for j in range(8)]}
            )
        midi_writer(root / f"good{i}.mid", tracks)
    (root / "corrupt.mid").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "truncated.mid").write_bytes((root / "good1.mid").read_bytes()[:60])
    (root / "empty.mid").write_bytes(b"")
    (root / "text.mid").write_text("this is a text file, not a MIDI file\n" * 5)
    midi_writer(root / "silent.mid", [{"program": 0, "notes": []}])
    return root


def manifest_with_splits(folder: Path, out: Path, splits: dict[str, str]) -> Path:
    """Folder manifest, then force some works' splits (tests need known train works)."""
    mf.write_folder_manifest(folder, out)
    m = mf.load_manifest(out)
    works = tuple(replace(w, split=splits.get(w.id, w.split)) for w in m.works)
    return mf.write_manifest(replace(m, works=works), out)


def read_split(out: Path, split: str):
    tokens = np.load(out / f"{split}.npy")
    offsets = np.load(out / f"{split}_offsets.npy")
    sources = json.loads((out / f"{split}_sources.json").read_text())
    return tokens, offsets, sources


def test_prepare_folder_skips_bad_files_and_lays_out_arrays(tmp_path, song_folder):
    splits = {"good0.mid": "train", "good1.mid": "train", "good2.mid": "valid", "good3.mid": "test"}
    manifest = manifest_with_splits(song_folder, tmp_path / "songs.json", splits)
    out = tmp_path / "prepared"
    meta = prep.prepare(manifest, "remi", out, workers=2, progress=False, cache_dir=False)

    skipped = {entry.file: entry.reason for entry in meta.skipped}
    assert sorted(skipped) == sorted(BAD_FILES)
    assert all(reason and "\n" not in reason for reason in skipped.values())
    assert "no notes" in skipped["silent.mid"]
    assert "RuntimeError" in skipped["text.mid"]

    tokenizer = tokenization.load_tokenizer(out / "tokenizer.json")
    special = tokenization.special_ids(tokenizer)
    assert meta.to_json() == json.loads((out / "meta.json").read_text())
    assert load_meta(out) == meta  # the file reads back as the record prepare returned
    assert meta.tokenizer_hash == tokenization.tokenizer_hash(tokenization.load_tokenizer("remi"))
    assert meta.vocab_size == tokenizer.vocab_size and meta.special_ids.to_json() == special
    assert meta.manifest_hash == mf.manifest_hash(manifest)
    good_works = {w.id: w for w in mf.load_manifest(manifest).works if w.id not in skipped}
    total_works = 0
    for split in mf.SPLITS:
        tokens, offsets, sources = read_split(out, split)
        assert tokens.dtype == np.int32 and offsets.dtype == np.int64
        assert offsets[0] == 0 and offsets[-1] == tokens.size and np.all(np.diff(offsets) > 2)
        assert len(sources) == len(offsets) - 1 == meta.counts[split].sequences
        assert meta.counts[split].tokens == tokens.size
        assert np.all(tokens[offsets[:-1]] == special["bos"])
        assert np.all(tokens[offsets[1:] - 1] == special["eos"])
        assert np.isin(tokens, [special["bos"], special["eos"]]).sum() == 2 * len(sources)
        for start, end, source in zip(offsets[:-1], offsets[1:], sources, strict=True):
            work = good_works[source["work"]]
            assert work.split == split and source["transpose"] == 0
            decoded = tokenization.decode(tokenizer, tokens[start:end])
            assert decoded.note_num() == Score(str(song_folder / work.path)).note_num()
        total_works += meta.counts[split].works
    assert total_works == len(good_works) == 6


def test_transposition_augments_train_only_and_drops_out_of_range_copies(
    tmp_path, song_folder, midi_writer
):
    # A high melody: only the +2 copy leaves the piano range (21..108).
    midi_writer(
        song_folder / "high.mid", [{"program": 0, "notes": [(0, 1, 107, 80), (1, 1, 100, 80)]}]
    )
    splits = {"good0.mid": "train", "high.mid": "train", "good1.mid": "valid", "good2.mid": "test"}
    manifest = manifest_with_splits(song_folder, tmp_path / "songs.json", splits)
    out = tmp_path / "prepared"
    meta = prep.prepare(
        manifest, "tsd", out, augment_transpose=(-2, 2), workers=1, progress=False, cache_dir=False
    )
    assert meta.augment.shifts == (-2, -1, 1, 2) and meta.augment.dropped_copies == 1
    tokenizer = tokenization.load_tokenizer(out / "tokenizer.json")
    tokens, offsets, sources = read_split(out, "train")
    by_work: dict[str, dict[int, Score]] = {}
    for start, end, source in zip(offsets[:-1], offsets[1:], sources, strict=True):
        score = tokenization.decode(tokenizer, tokens[start:end])
        by_work.setdefault(source["work"], {})[source["transpose"]] = score
    assert sorted(by_work["high.mid"]) == [-2, -1, 0, 1]  # 107 + 2 > 108
    train_ids = [w for w, s in splits.items() if s == "train"] + [
        w.id for w in mf.load_manifest(manifest).works if w.split == "train" and w.id not in splits
    ]
    for work, copies in by_work.items():
        assert work in train_ids
        original = copies[0]
        for shift, score in copies.items():
            for track, base in zip(score.tracks, original.tracks, strict=True):
                delta = 0 if base.is_drum else shift  # drums are never transposed
                assert [n.pitch for n in track.notes] == [n.pitch + delta for n in base.notes]
    for split in ("valid", "test"):
        assert all(s["transpose"] == 0 for s in read_split(out, split)[2])
        assert meta.counts[split].sequences == meta.counts[split].works


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["--transpose", "-3..3"], (-3, 3)),
        (["--transpose=-2..1"], (-2, 1)),
        (["--transpose", "2"], (-2, 2)),
    ],
)
@pytest.mark.parametrize("command", [["prepare", "m.json"], ["vae", "prepare", "m.json"]])
def test_transpose_range_reads_as_the_readme_writes_it(command, words, expected):
    from symbolic import cli

    assert cli.parse_args([*command, "--out", "d", *words]).transpose == expected


def test_sha256_mismatch_is_skipped_and_reported(tmp_path, song_folder):
    manifest = mf.write_folder_manifest(song_folder, tmp_path / "songs.json")
    (song_folder / "good4.mid").write_bytes((song_folder / "good5.mid").read_bytes())
    meta = prep.prepare(
        manifest, "remi", tmp_path / "out", workers=1, progress=False, cache_dir=False
    )
    reasons = {e.file: e.reason for e in meta.skipped}
    assert "sha256 mismatch" in reasons["good4.mid"]


def test_failed_prepare_leaves_nothing_that_looks_complete(tmp_path, song_folder, monkeypatch):
    manifest = mf.write_folder_manifest(song_folder, tmp_path / "songs.json")
    out = tmp_path / "prepared"
    real_finish = prep._SplitWriter.finish

    def crash_on_valid(self):
        if self.split == "valid":
            raise RuntimeError("disk full")
        return real_finish(self)

    monkeypatch.setattr(prep._SplitWriter, "finish", crash_on_valid)
    with pytest.raises(RuntimeError, match="disk full"):
        prep.prepare(manifest, "remi", out, workers=1, progress=False, cache_dir=False)
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} == {"songs", "songs.json"}  # no temp left

    # A complete earlier prepare survives a failed re-run untouched.
    monkeypatch.setattr(prep._SplitWriter, "finish", real_finish)
    prep.prepare(manifest, "remi", out, workers=1, progress=False, cache_dir=False)
    before = (out / "meta.json").read_text()
    monkeypatch.setattr(prep._SplitWriter, "finish", crash_on_valid)
    with pytest.raises(RuntimeError):
        prep.prepare(manifest, "tsd", out, workers=1, progress=False, cache_dir=False)
    assert (out / "meta.json").read_text() == before
    assert {p.name for p in tmp_path.iterdir()} == {"songs", "songs.json", "prepared"}


def test_rerun_replaces_the_old_folder_and_is_prepared_checks_it(tmp_path, song_folder):
    manifest = mf.write_folder_manifest(song_folder, tmp_path / "songs.json")
    out = tmp_path / "prepared"
    assert not prep.is_prepared(out, manifest, "remi")
    prep.prepare(manifest, "remi", out, workers=1, progress=False, cache_dir=False)
    (out / "stale.txt").write_text("from an older run")
    assert prep.is_prepared(out, manifest, "remi")
    assert not prep.is_prepared(out, manifest, "tsd")
    assert not prep.is_prepared(out, manifest, "remi", augment_transpose=(-1, 1))
    meta = prep.prepare(manifest, "tsd", out, workers=1, progress=False, cache_dir=False)
    assert not (out / "stale.txt").exists() and meta.tokenizer_preset == "tsd"
    assert prep.is_prepared(out, manifest, "tsd")


def test_refuses_to_replace_a_folder_that_is_not_a_prepare(tmp_path, song_folder):
    manifest = mf.write_folder_manifest(song_folder, tmp_path / "songs.json")
    before = {p.name: p.read_bytes() for p in song_folder.iterdir()}
    with pytest.raises(FileExistsError, match="not a prepared data folder"):
        prep.prepare(manifest, "remi", song_folder, workers=1, progress=False, cache_dir=False)
    assert (song_folder / "good0.mid").is_file()
    assert {p.name: p.read_bytes() for p in song_folder.iterdir()} == before  # untouched
    assert {p.name for p in tmp_path.iterdir()} == {"songs", "songs.json"}  # no half-written copy


def test_prepare_bach_subset_converts_scores_and_caches_them(
    tmp_path, converted_chorales, monkeypatch
):
    full = json.loads((REPO / "data_manifests" / "bach_chorales.json").read_text())
    # bwv277.mxl is the kept encoding of bwv277 (its .krn has the malformed repeats).
    keep = {"bwv66.6": "train", "bwv67.4": "valid", "bwv277": "test"}
    full["works"] = [dict(w, split=keep[w["id"]]) for w in full["works"] if w["id"] in keep]
    manifest = tmp_path / "subset.json"
    manifest.write_text(json.dumps(full))
    cache = tmp_path / "cache"
    meta = prep.prepare(
        manifest, "remi", tmp_path / "out", workers=1, progress=False, cache_dir=cache
    )
    assert meta.skipped == () and sum(c.works for c in meta.counts.values()) == 3
    assert len(list(cache.glob("*.mid"))) == 3
    tokenizer = tokenization.load_tokenizer("remi")
    tokens, offsets, sources = read_split(tmp_path / "out", "train")
    assert sources == [{"work": "bwv66.6", "transpose": 0}]
    decoded = tokenization.decode(tokenizer, tokens[offsets[0] : offsets[1]])
    assert decoded.note_num() == converted_chorales["bwv66.6.mxl"].note_num()
    assert len(decoded.tracks) == 4

    # A second run reads the cache: the same arrays without parsing any score.
    def no_parsing(path):
        raise AssertionError(f"parsed {path} again")

    monkeypatch.setattr(convert, "parse_music21", no_parsing)
    again = prep.prepare(
        manifest, "remi", tmp_path / "out2", workers=1, progress=False, cache_dir=cache
    )
    assert again.counts == meta.counts and again.skipped == ()
    assert np.array_equal(np.load(tmp_path / "out2" / "train.npy"), tokens)


def test_nothing_usable_is_an_error_and_writes_nothing(tmp_path, song_folder):
    for path in song_folder.glob("good*.mid"):
        path.unlink()
    (song_folder / "good0.mid").write_bytes(b"MThd garbage")
    manifest = mf.write_folder_manifest(song_folder, tmp_path / "songs.json")
    with pytest.raises(RuntimeError, match="every file .* was skipped"):
        prep.prepare(manifest, "remi", tmp_path / "out", workers=1, progress=False, cache_dir=False)
    assert {p.name for p in tmp_path.iterdir()} == {"songs", "songs.json"}


def test_align_downbeat_puts_pop909_downbeats_on_bar_lines_and_records_the_shift(tmp_path):
    songs = pop909_songs(24)
    rows = [downbeats.song_alignment(song) for song in songs]
    before = sum(row["downbeats_written"] for row in rows)
    after = sum(row["downbeats_aligned"] for row in rows)
    assert before <= 8 and after >= 14  # 5 of 24 on their bar lines as written, 17 aligned
    scores = [Score(str(song)) for song in songs[:3]]
    shifts = [align.downbeat_shift(score) for score in scores]
    delayed = align.delayed(scores[0], shifts[0])
    assert delayed.note_num() == scores[0].note_num() and delayed.tempos[0].time == 0
    assert delayed.tracks[0].notes[0].time == scores[0].tracks[0].notes[0].time + shifts[0]

    folder = tmp_path / "pop"
    folder.mkdir()
    for song in songs[:3]:
        (folder / song.name).write_bytes(song.read_bytes())
    manifest = manifest_with_splits(folder, tmp_path / "pop.json", {})
    view = views.View(align_downbeat=True)
    meta = prep.prepare(manifest, "remi", tmp_path / "out", workers=1, progress=False, view=view)
    tpq = scores[0].ticks_per_quarter
    assert meta.downbeat_shifts == {s.name: t / tpq for s, t in zip(songs[:3], shifts, strict=True)}
    assert load_meta(tmp_path / "out").view == view  # and is_prepared tells it from unaligned
    assert prep.is_prepared(tmp_path / "out", manifest, view=view)
    assert not prep.is_prepared(tmp_path / "out", manifest)
