"""The wheel carries the tokenizer presets and the data manifests (``setup.py``'s build step), so
an installed package works away from the checkout; in the checkout they are read in place."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from symbolic import resources, tokenization
from tests.helpers import REPO

SHIPPED = ("tokenizers", "data_manifests")
# What a build reads: the package, its metadata and build step, and the folders it ships.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "symbolic", *SHIPPED)


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    """The file names inside a wheel built from a copy of the checkout (the checkout itself
    gets no build/ folder), without build isolation: offline, with this environment's
    setuptools."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "_data")
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(tmp / "dist"), str(source)], check=True)
    (wheel,) = (tmp / "dist").glob("symbolic-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_ships_every_preset_and_manifest(wheel_names):
    for folder in SHIPPED:
        files = [p for p in (REPO / folder).rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert f"symbolic/_data/{path.relative_to(REPO).as_posix()}" in wheel_names
    for preset in tokenization.PRESET_CONFIGS:
        assert f"symbolic/_data/tokenizers/{preset}/tokenizer.json" in wheel_names
    assert "symbolic/_data/data_manifests/bach_chorales.json" in wheel_names
    assert "symbolic/configs/demo.json" in wheel_names  # the run presets, as before


def test_the_wheel_never_shadows_huggingface_tokenizers(wheel_names):
    top_level = {name.split("/")[0] for name in wheel_names}
    assert "tokenizers" not in top_level and "data_manifests" not in top_level
    assert not [
        name for name in wheel_names if name.startswith("symbolic/_data/") and name.endswith(".py")
    ]


def test_a_checkout_reads_the_folders_in_place():
    assert resources.data_folder("tokenizers") == REPO / "tokenizers" == tokenization.TOKENIZERS_DIR
    assert resources.default_manifest() == REPO / "data_manifests" / "bach_chorales.json"
    assert resources.default_manifest().is_file()


def test_benchmarks_are_found_in_a_checkout_and_refused_without_one(tmp_path, monkeypatch, capsys):
    assert resources.source_checkout() == REPO
    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "site-packages" / "symbolic")
    assert resources.source_checkout() is None  # an installed wheel: no benchmarks/ beside it
    from symbolic.cli import main

    assert main(["bench", "sampling_speed"]) == 2
    assert "ship with the source repository" in capsys.readouterr().err
