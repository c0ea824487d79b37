"""Where the data folders that ship with the package are: ``tokenizers/`` and ``data_manifests/``.

Their canonical copies live at the top of the repository, beside ``symbolic/`` (data, not code).
setuptools ships package data only from inside the package folder, so ``setup.py`` copies both
folders into the wheel as ``symbolic/_data/`` at build time; an installed package reads those
copies and needs no checkout. An editable install or a run from the repository has no
``_data/`` and reads the checkout's folders, so an edit there is seen without a rebuild.

Neither folder is ever an importable package: a top-level ``tokenizers`` would shadow
HuggingFace's package of that name. Imports nothing from ``symbolic``, so every room may use it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_data"  # what setup.py's build step writes into the wheel


def data_folder(name: str) -> Path:
    """The shipped folder ``name`` (``"tokenizers"``, ``"data_manifests"``): the installed copy,
    else the source checkout's. The path may not exist (a broken install); callers say so."""
    installed = _INSTALLED / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def source_checkout() -> Path | None:
    """The repository this package runs from (a clone, or an editable install of one), whose
    ``benchmarks/`` are not part of the wheel; None for an installed wheel."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "benchmarks").is_dir() else None


def default_manifest() -> Path:
    """The manifest of the default data set: music21's Bach chorales (``bach_chorales.json``)."""
    return data_folder("data_manifests") / "bach_chorales.json"
