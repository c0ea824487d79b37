"""Recommendation over a folder (`symbolic index`, `symbolic similar`): real Bach chorales written
to MIDI by the tests, a corrupt and an empty file among them, the on-disk index, and the model-
free and Transformer embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symbolic import cli
from symbolic.retrieval import features
from symbolic.retrieval.build import build_index, midi_files, similar
from symbolic.retrieval.index import EMBEDDINGS_FILE, INDEX_FILE, Index, load_index
from tests.helpers import train_tiny, write_test_midi

# Eight 4/4 chorales of four voices (soprano, alto, tenor, bass as the four tracks).
CHORALES = (
    "bwv66.6.mxl",
    "bwv10.7.mxl",
    "bwv101.7.mxl",
    "bwv102.7.mxl",
    "bwv103.6.mxl",
    "bwv104.6.mxl",
    "bwv108.6.mxl",
    "bwv110.7.mxl",
)


def _transposed(score, shift: int):
    out = score.copy()
    for track in out.tracks:
        track.shift_pitch(shift, inplace=True)
    return out


@pytest.fixture(scope="module")
def chorale_folder(tmp_path_factory, bach_corpus_paths) -> Path:
    """A user's folder: the chorales as MIDI (one in a sub-folder), a corrupt .mid and a MIDI
    file without notes."""
    from symbolic.data.convert import load_score

    root = tmp_path_factory.mktemp("retrieval") / "folder"
    for i, name in enumerate(CHORALES):
        path = root / ("more" if i % 3 == 2 else "") / f"{Path(name).stem}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        load_score(bach_corpus_paths[name]).dump_midi(str(path))
    (root / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 this is not a MIDI file")
    write_test_midi(root / "empty.mid", [{"program": 0, "notes": []}])
    return root


@pytest.fixture(scope="module")
def feature_index(chorale_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("index") / "chorales.index"
    args = ["index", str(chorale_folder), "--out", str(out), "--workers", "1", "--no-progress"]
    assert cli.main(args) == 0
    return out


def test_similar_finds_the_original_of_a_transposed_copy_first(
    feature_index, chorale_folder, tmp_path, capsys
):
    """Each chorale moved by -5..+6 semitones finds its original first, scored ~1 (the model-free
    embedding is transposition-invariant), well ahead of the second file."""
    from symusic import Score

    for shift, original in zip((-5, 3, 6), sorted(midi_files(chorale_folder))[:3], strict=True):
        if original.name in ("broken.mid", "empty.mid"):
            continue
        query = tmp_path / f"query_{shift}.mid"
        _transposed(Score(str(original)), shift).dump_midi(str(query))
        ranked = similar(query, feature_index, k=3)
        assert ranked[0][0] == str(original), (shift, ranked)
        assert ranked[0][1] > 0.99 and ranked[1][1] < ranked[0][1] - 0.2, ranked
    capsys.readouterr()
    assert cli.main(["similar", str(query), "--index", str(feature_index), "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].endswith(str(original)), lines
    assert float(lines[0].split()[0]) > 0.99


def test_a_corrupt_and_an_empty_file_are_skipped_with_their_reasons(feature_index, chorale_folder):
    """Both bad files are left out, listed in index.json with a one-line reason naming them;
    every chorale, the one in a sub-folder too, is indexed."""
    index = load_index(feature_index)
    reasons = {Path(s.file).name: s.reason for s in index.skipped}
    assert set(reasons) == {"broken.mid", "empty.mid"}
    assert (
        "not a valid MIDI file" in reasons["broken.mid"] and "broken.mid" in reasons["broken.mid"]
    )
    assert "no notes" in reasons["empty.mid"]
    assert sorted(Path(f).stem for f in index.files) == sorted(Path(n).stem for n in CHORALES)
    info = json.loads((feature_index / INDEX_FILE).read_text())
    assert {Path(s["file"]).name for s in info["skipped"]} == {"broken.mid", "empty.mid"}


def test_the_index_round_trips_and_its_search_matches_brute_force(feature_index, tmp_path):
    """On disk: a float32 [M, D] .npy of unit rows and the JSON beside it, read back equal. The
    search (matrix product + argpartition, best row per file) ranks as a brute-force loop does;
    each chorale has a mix row and one row per voice."""
    index = load_index(feature_index)
    array = np.load(feature_index / EMBEDDINGS_FILE)
    assert array.dtype == np.float32 and array.shape == (len(index.row_file), features.DIM)
    np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-5)
    assert index.row_part.count(features.MIX) == len(index.files) == len(CHORALES)
    assert len(index.row_file) == 5 * len(index.files)  # mix + soprano, alto, tenor, bass
    index.save(tmp_path / "copy.index")
    again = load_index(tmp_path / "copy.index")
    np.testing.assert_array_equal(again.vectors, index.vectors)
    np.testing.assert_array_equal(again.row_file, index.row_file)
    assert (again.files, again.row_part, again.skipped) == (
        index.files,
        index.row_part,
        index.skipped,
    )

    rng = np.random.default_rng(0)
    query = rng.standard_normal((3, index.dim)).astype(np.float32)
    ranked = index.search(query, k=4)
    centred = query - index.centre
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    brute = {}
    for row, file in zip(index.vectors, index.row_file, strict=True):
        best = float((centred @ row).max())
        brute[index.files[file]] = max(brute.get(index.files[file], -np.inf), best)
    want = sorted(brute.items(), key=lambda item: -item[1])[:4]
    assert [name for name, _ in ranked] == [name for name, _ in want]
    np.testing.assert_allclose([s for _, s in ranked], [s for _, s in want], rtol=1e-5)


def test_a_soprano_line_alone_finds_its_chorale(feature_index, chorale_folder, tmp_path):
    """A query holding only one voice (the tune) finds the chorale whose soprano track it is:
    a file's per-track rows, not only its mix, are searched."""
    from symusic import Score

    original = next(p for p in midi_files(chorale_folder) if p.stem == "bwv104.6")
    score = Score(str(original))
    score.tracks = [score.tracks[0]]
    score.dump_midi(str(tmp_path / "tune.mid"))
    assert similar(tmp_path / "tune.mid", feature_index, k=1)[0][0] == str(original)


def test_index_search_is_milliseconds_for_10000_files():
    """10,000 files x 4 rows of the model-free dimension: one search is one [40000, D] x [D, Q]
    product, a few ms on an idle core (benchmarks/retrieval measures it); the bound here is loose
    because tests share their cores."""
    import time

    rng = np.random.default_rng(0)
    rows = [rng.random((4, features.DIM), dtype=np.float32) for _ in range(10_000)]
    index = Index.from_rows(
        rows,
        [["mix", "a", "b", "c"]] * 10_000,
        [f"{i}.mid" for i in range(10_000)],
        embedding="features",
    )
    query = rows[1234][:2] + 0.01
    index.search(query, k=10)  # warm
    start = time.perf_counter()
    ranked = index.search(query, k=10)
    took = time.perf_counter() - start
    assert ranked[0][0] == "1234.mid"
    assert took < 1.0, took


def test_a_bad_embedding_or_folder_is_a_one_line_error(tmp_path, chorale_folder, capsys):
    assert cli.main(["index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    args = ["index", str(chorale_folder), "--out", str(tmp_path / "x"), "--embedding", "vae"]
    assert cli.main(args) == 2
    assert "needs --run" in capsys.readouterr().err
    assert cli.main(["similar", str(tmp_path / "q.mid"), "--index", str(tmp_path)]) == 2
    assert "not an index folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_transformer(chorale_data_dir, tmp_path_factory) -> Path:
    """A tiny Transformer trained for a few steps on real chorales (REMI)."""
    return train_tiny(chorale_data_dir, tmp_path_factory.mktemp("lm") / "run", 10)


def test_a_transformer_embedding_indexes_and_finds_a_transposed_copy(
    tiny_transformer, chorale_folder, tmp_path
):
    """`--embedding transformer`: one row per file, the mean of the run's final hidden states
    ([d_model]); the query is tried in every transposition, so a copy moved by a few semitones
    is found first."""
    from symusic import Score

    from symbolic.retrieval.embedders import TransformerEmbedder

    files = [p for p in midi_files(chorale_folder) if p.stem.startswith("bwv")][:4]
    index = build_index(
        None,
        tmp_path / "lm.index",
        embedding="transformer",
        run=tiny_transformer,
        progress=False,
        files=files,
    )
    embedder = TransformerEmbedder(tiny_transformer)
    assert index.vectors.shape == (4, embedder.lm.config.model.d_model)
    assert load_index(tmp_path / "lm.index").run == str(Path(tiny_transformer).resolve())
    rows, _ = embedder.file_rows(files[1])
    ids = embedder.ids(embedder.file_scores(files[1])[0][1])  # in C major / A minor first
    assert len(ids) > embedder.window  # several windows are averaged
    np.testing.assert_allclose(rows[0], embedder.mean_hidden(ids), rtol=1e-5)
    query = tmp_path / "moved.mid"
    _transposed(Score(str(files[2])), -4).dump_midi(str(query))
    ranked = similar(query, tmp_path / "lm.index", k=4)
    assert ranked[0][0] == str(files[2]), ranked


def test_key_shift_undoes_a_transposition_exactly(chorale_folder):
    """A learned embedding sees a file moved to C major / A minor in a fixed register: a copy
    transposed by any shift gets the shift that lands on exactly the same pitches."""
    from symusic import Score

    score = Score(str(next(p for p in midi_files(chorale_folder) if p.stem == "bwv66.6")))
    home = features.key_shift(score)
    for shift in range(-5, 7):
        assert features.key_shift(_transposed(score, shift)) + shift == home, shift
