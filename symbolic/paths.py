"""Files and folders the commands read and write: the checks every command makes before writing
a folder or a file, and the one reader of the JSON files we keep (manifest, meta.json, config).

A leaf (standard library only), so data/, training/, generation/ and vae/ can all import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import inspect
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# `.NAME.tmp-PID` (a file of write_atomic) and `.NAME.tmp-PID-XXXX` (prepare's temp folder): the
# PID says whose it is, so a later run can remove those a killed process left behind.
_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(?:-[^/]*)?$")


class FolderInUseError(RuntimeError):
    """Another process holds the lock of an output folder or run directory."""


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
    tmp = path.with_name(temp_name(path))
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


def temp_name(path: str | Path, suffix: str = "") -> str:
    """The hidden name of this process's temp file or folder for PATH: `.NAME.tmp-PID[SUFFIX]`
    (SUFFIX starting with "-")."""
    return f".{Path(path).name}.tmp-{os.getpid()}{suffix}"


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temp files and folders of PATH (`temp_name`) whose process is gone: a SIGKILL
    or a power cut runs no cleanup, and they would stay beside PATH forever. Returns them."""
    path = Path(path)
    removed = []
    try:  # glob lists the folder once, in C: cheap beside a write, even in a large cache
        entries = list(path.parent.glob(f".{glob.escape(path.name)}.tmp-*"))
    except OSError:  # unreadable: nothing of ours to clean
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or match["name"] != path.name or pid_alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def lock_path(folder: str | Path) -> Path:
    """The lock file of FOLDER: `.NAME.lock` beside it (prepare replaces the folder whole, so
    a lock inside it would go with the old one)."""
    folder = Path(folder).absolute()
    return folder.with_name(f".{folder.name}.lock")


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock (fcntl.flock) on FOLDER while the block writes it: a second
    process, which would interleave metrics or overwrite checkpoints, gets FolderInUseError
    "FOLDER: is in use by PID N" at once instead of waiting. The lock goes with the process
    (a killed one frees it), and its file is removed when the block ends.

    Raises:
        FolderInUseError: another process holds the lock.
    """
    path = lock_path(folder)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(path, folder):
            yield Path(folder)
    finally:  # the folders made only for the lock file, if the command left them empty
        for parent in made:
            with contextlib.suppress(OSError):
                parent.rmdir()


@contextlib.contextmanager
def _locked(path: Path, folder: str | Path) -> Iterator[None]:
    """flock the file at PATH (made if missing, removed at the end), or FolderInUseError
    naming FOLDER."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(
                f"{folder}: is in use by PID {holder} (another symbolic command); "
                "wait for it to finish or use another folder"
            ) from None
        # The holder before us may have removed the file after we opened it: then this lock
        # is on a file no one else will open, and we try again on the new one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def locks_folder(parameter: str) -> Callable[[Callable], Callable]:
    """Decorate a function that writes the folder named by its argument `parameter`: the folder
    is checked (`output_folder`) and locked (`folder_lock`) for the whole call."""

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            folder = output_folder(bound.arguments[parameter])
            with folder_lock(folder):
                return function(*args, **kwargs)

        return locked

    return decorate
