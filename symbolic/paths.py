"""Files and folders the commands read and write: the checks every command makes before writing
a folder or a file, and the one reader of the JSON files we keep (manifest, meta.json, config).

A leaf (standard library only), so data/, training/, generation/ and vae/ can all import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def output_folder(path: str | Path, *, create: bool = False) -> Path:
    """PATH as a folder to write into, made (with its parents) if `create`.

    Raises:
        FileExistsError: something other than a folder is at PATH. It is left untouched: a user's
            file given by mistake as `--out` must never be replaced or moved aside.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a folder; choose another output folder")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def output_file(path: str | Path) -> Path:
    """PATH as one file to write (an old file there is replaced), its folder made.

    Raises:
        IsADirectoryError: PATH is a folder (a writer would fail late, or oddly: `wave` with an
            AttributeError after the whole render).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` to a temp file beside PATH, then rename it to PATH (its folder made): a reader,
    another worker or a kill mid-write never sees half a file. The temp file never outlives it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """`write_atomic` of a text file."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def read_json(path: str | Path, error: type[ValueError] = ValueError) -> Any:
    """The parsed JSON file at PATH.

    Raises:
        error: one line naming PATH when it is empty, not text or not JSON (json's own message,
            "Expecting value: line 1 column 1", names neither the file nor the problem).
        OSError: PATH cannot be read (FileNotFoundError when it is missing).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise error(f"{path}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        if not err.doc.strip():
            raise error(f"{path}: is empty, not valid JSON") from None
        raise error(
            f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
