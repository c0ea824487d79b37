"""Shared fixtures; the builders they call live in ``helpers.py``. Four host devices are forced
before jax is imported anywhere, so the data-parallel code paths run in every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import DATA_TEST_CHORALES, drum_groove, write_chorale_manifest, write_test_midi

_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()


# --- data fixtures (tokenization, manifest, prepare, grammar tests) ----------------------


@pytest.fixture(scope="session")
def bach_corpus_paths() -> dict[str, Path]:
    """``{file name: path}`` of every Bach file shipped in the music21 corpus."""
    from music21 import corpus

    return {Path(p).name: Path(p) for p in corpus.getComposer("bach")}


@pytest.fixture(scope="session")
def converted_chorales(bach_corpus_paths) -> dict[str, object]:
    """``{file name: symusic.Score}`` for ``DATA_TEST_CHORALES``, converted once."""
    from symbolic.data.convert import load_score

    return {name: load_score(bach_corpus_paths[name]) for name in DATA_TEST_CHORALES}


@pytest.fixture
def midi_writer():
    """``helpers.write_test_midi`` (see its docstring) as a fixture."""
    return write_test_midi


# --- training fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def chorale_data_dir(tmp_path_factory) -> Path:
    """A prepared REMI data set of a dozen real chorales (train/valid/test), made once."""
    from symbolic.data.prepare import prepare

    root = tmp_path_factory.mktemp("chorales")
    write_chorale_manifest(root / "manifest.json")
    prepare(root / "manifest.json", "remi", root / "data", progress=False, cache_dir=root / "cache")
    return root / "data"


@pytest.fixture(scope="session")
def drum_corpus(tmp_path_factory) -> dict[str, Path]:
    """A folder of 30 short drum MIDI files (GM channel 10, 4/4 and 3/4, 80-140 bpm, with a
    piano track, and drum notes at 30 and 90 outside the GM drum map) plus one file without
    drums, and its manifest (``symbolic manifest``)."""
    from symbolic.data.manifest import write_folder_manifest

    root = tmp_path_factory.mktemp("drum_corpus")
    for i in range(30):
        meter = 3 if i % 3 == 0 else 4
        drums = drum_groove(4, meter, i) + [(0, 0.5, 30, 90), (meter, 0.5, 90, 90)]
        piano = [(bar * meter, meter, 48 + i % 12, 70) for bar in range(4)]
        write_test_midi(
            root / "midi" / f"groove_{i:02d}.mid",
            [{"program": 0, "notes": piano}, {"program": 0, "drum": True, "notes": drums}],
            bpm=80 + 2 * i,
            time_sigs=((0, meter, 4),),
        )
    write_test_midi(root / "midi" / "no_drums.mid", [{"program": 0, "notes": [(0, 1, 60, 80)]}])
    manifest = write_folder_manifest(root / "midi", root / "manifest.json", name="drums")
    return {"folder": root / "midi", "manifest": manifest}
