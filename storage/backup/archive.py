"""What a backup file is, whichever database it comes from, and how it and the database are shown to
the operator: the error every step raises, the two formats told apart by their first bytes, the table
neither format carries, and the words for a size or a database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.db import sqlite_path

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

# The console's signed-in sessions: a restore must not bring back sessions ended since the backup
# (a logout, a new password, a removed staff member). The table is kept, empty: everyone signs in again.
NOT_BACKED_UP = "web_session"


class BackupError(Exception):
    """A backup or restore refused or failed: a catalogue key ("problem.backup.…") and its values, which
    the command line words for the operator (why, and what to do). The storage layer knows no catalogue."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key, params)
        self.key, self.params = key, params

    def text(self, tr: Callable[..., str]) -> str:
        return tr(self.key, **self.params)

    def __str__(self) -> str:
        return f"{self.key} {self.params}"


@dataclass(frozen=True)
class Backup:
    """A backup file: what kind of database it restores, and the schema revision it holds."""

    path: Path
    kind: str
    revision: str
    size: int

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


def backend(url: str) -> str:
    try:
        name = make_url(url).get_backend_name()
    except ArgumentError:
        raise BackupError("problem.backup.bad_url") from None
    if name in ("postgresql", "postgres"):
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise BackupError("problem.backup.unsupported", name=name)


def describe(url: str) -> str:
    """The database as an operator may be shown it: a SQLite file's path, or the URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    return make_url(url).set(drivername=make_url(url).get_backend_name()).render_as_string(hide_password=True)


def file_kind(path: Path) -> str | None:
    """"sqlite" or "postgresql" from a file's first bytes, None for anything else."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise BackupError("problem.backup.is_directory", path=path) from None
    except OSError as exc:
        raise BackupError("problem.backup.unreadable", path=path, errno=exc.errno or 0) from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    return None


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError
