"""Putting a file in place so that a crash or a refusal leaves either the old file or the whole new
one, never a part: it is written beside its place under another name, flushed to disk, renamed over
it, and the rename flushed too. Both a new backup file and a restored SQLite database arrive this way."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from storage.backup.archive import BackupError


def check_target_file(path: Path, force: bool) -> None:
    if path.is_dir():
        raise BackupError("problem.backup.target_directory", path=path)
    if not path.parent.is_dir():
        raise BackupError("problem.backup.no_directory", path=path.parent)
    if path.exists() and not force:
        raise BackupError("problem.backup.exists", path=path)


@contextmanager
def partial_file(path: Path) -> Iterator[Path]:
    """A new, empty file beside `path` (readable by its owner only: backups hold personal data), removed unless renamed."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible everywhere (Windows); the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
