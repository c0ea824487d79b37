"""Hardening (issue 15): tiny data sets with an empty split, and a torn metrics log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symbolic.data import manifest as mf
from tests.helpers import REPO, train_tiny, write_chorale_manifest


@pytest.fixture(scope="module")
def chorale_cache(tmp_path_factory) -> Path:
    """One converted-score cache for this module's small data sets (they share chorales)."""
    return tmp_path_factory.mktemp("cache")


def _prepare_chorales(root: Path, cache: Path, **counts: int) -> Path:
    from symbolic.data.prepare import prepare

    write_chorale_manifest(root / "manifest.json", **counts)
    prepare(root / "manifest.json", "remi", root / "data", progress=False, cache_dir=cache)
    return root / "data"


@pytest.fixture(scope="module")
def no_valid_data(tmp_path_factory, chorale_cache) -> Path:
    """A prepared REMI data set of two train chorales and one test chorale: no valid split."""
    root = tmp_path_factory.mktemp("no_valid")
    return _prepare_chorales(root, chorale_cache, train=2, valid=0, test=1)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, chorale_cache) -> Path:
    """Two train chorales and one valid chorale."""
    root = tmp_path_factory.mktemp("small")
    return _prepare_chorales(root, chorale_cache, train=2, valid=1, test=0)


def _records(run_dir: Path) -> list[dict]:
    """Every line of metrics.jsonl, parsed: a line that does not parse fails the test."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_bach_split_is_unchanged_and_three_works_fill_every_split():
    bach = json.loads((REPO / "data_manifests" / "bach_chorales.json").read_text())
    ids = [work["id"] for work in bach["works"]]
    assert mf.assign_splits(ids, bach["seed"]) == [work["split"] for work in bach["works"]]
    for count in range(3, 12):
        assert set(mf.assign_splits([f"w{i}.mid" for i in range(count)], 0)) == set(mf.SPLITS)


def test_prepare_warns_of_an_empty_split(tmp_path, capsys):
    from symbolic.data.prepare import prepare

    write_chorale_manifest(tmp_path / "m.json", train=1, valid=0, test=0)
    out = tmp_path / "data"
    meta = prepare(tmp_path / "m.json", "remi", out, progress=False, cache_dir=tmp_path / "cache")
    assert meta.counts["valid"].sequences == 0  # the manifest's split is kept
    warnings = capsys.readouterr().err.splitlines()
    assert f"symbolic: warning: {out}: split 'valid' is empty" in warnings
    assert f"symbolic: warning: {out}: split 'test' is empty" in warnings


def test_train_without_validation_data_runs_and_generates_from_latest(
    no_valid_data, tmp_path, capsys
):
    from symbolic.cli import main
    from symbolic.training import checkpoint

    run_dir = train_tiny(no_valid_data, tmp_path / "run", 4)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["best_valid_nll"] is None
    assert summary["unigram_valid_nll"] is None and not summary["stopped_early"]
    notes = [line for line in capsys.readouterr().out.splitlines() if "no validation" in line]
    assert len(notes) == 1 and str(no_valid_data) in notes[0]
    assert not any(r.get("split") == "valid" for r in _records(run_dir))
    assert checkpoint.restore_params(run_dir)[1] == 4  # no best: generation reads latest

    argv = ["eval", str(run_dir), "--data", str(no_valid_data), "--split", "valid"]
    assert main(argv) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("symbolic")]
    assert error == [
        f"symbolic: error: {no_valid_data}: split 'valid' is empty; score another --split"
    ]


def test_a_torn_metrics_line_is_skipped_and_replayed_steps_are_logged_once(
    small_data, tmp_path, capsys
):
    run_dir = train_tiny(small_data, tmp_path / "run", 4, "train.log_every=1")
    log = run_dir / "metrics.jsonl"
    # A session killed after its checkpoint at step 4 logged steps 5 and 6, then the disk
    # filled in the middle of a line.
    replayed = [{"step": s, "split": "train", "loss": 9.0} for s in (5, 6)]
    with log.open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in replayed) + '{"step": 7, "spl')
    capsys.readouterr()

    train_tiny(small_data, run_dir, 8, "train.log_every=1")
    assert (run_dir / "summary.json").is_file()
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("symbolic")]
    assert ours == [
        f"symbolic: warning: {log}: skipped its last line, torn or not JSON (an interrupted write)"
    ]
    records = _records(run_dir)
    train_steps = [r["step"] for r in records if r.get("split") == "train"]
    assert train_steps == list(range(1, 9))  # each once: the replayed 5 and 6 were dropped
    assert all(r["loss"] != 9.0 for r in records if r.get("split") == "train")
    assert [r["step"] for r in records if r.get("event") == "resume"] == [4]
    assert [r["step"] for r in records if r.get("split") == "valid"] == [4, 8]
