"""Build step of the wheel: copy the repository's data folders into the package.

setuptools ships package data only from inside the package folder, and ``tokenizers/`` and
``data_manifests/`` stay at the top of the repository (see ``symbolic/resources.py``), so
``build_py`` copies them to ``symbolic/_data/`` in the build tree. Everything else is in
pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("tokenizers", "data_manifests")  # read back by symbolic.resources.data_folder


class BuildPyWithData(build_py):
    """``build_py`` plus the shipped folders (copied, never made importable packages)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders in place
            return
        target = Path(self.build_lib) / "symbolic" / "_data"
        for name in SHIPPED:
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithData})
