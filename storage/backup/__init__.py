"""Backing up the whole database to one file, and restoring it: `doithoai backup` and `doithoai restore`.

The three operations the command line calls are here, each the same steps for both databases; what a
backup file is lives in `archive`, each database's own way of copying, checking and restoring in
`sqlite` and `postgresql`, and writing a file so it is never left half-written in `files`.

Everything that can be checked is checked before anything is touched: a backup file of the wrong
kind, damaged, not doithoai's, or from a newer doithoai is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from storage.backup import postgresql, sqlite
from storage.backup.archive import KIND_NAMES, Backup, BackupError, backend, describe, file_kind, human_size
from storage.backup.files import check_target_file, fsync, fsync_dir, partial_file
from storage.db import Database
from storage.schema import alembic_config, current_revision, head_revision

# What the command line uses; the rest of the package is how.
__all__ = ["BackupError", "backup", "check_restore", "describe", "human_size", "restore"]


@dataclass(frozen=True)
class Restored:
    backup: Backup
    revision: str | None
    head: str | None

    @property
    def behind(self) -> bool:
        """The restored schema is older than the code: `doithoai db upgrade` is needed before anything else runs."""
        return self.revision != self.head


async def backup(url: str, path: Path, *, force: bool = False) -> Backup:
    """Write a backup of the database at `url` to `path`, refusing to replace an existing file unless `force`."""
    kind = backend(url)
    check_target_file(path, force)
    source = sqlite.database_file(url) if kind == "sqlite" else None
    if source is not None and path.resolve() == source.resolve():
        raise BackupError("problem.backup.onto_itself", path=path)
    with partial_file(path) as tmp:
        if source is not None:
            revision = await asyncio.to_thread(sqlite.snapshot, source, tmp)
        else:
            revision = await postgresql.dump(url, tmp)
        check_target_file(path, force)  # another file may have appeared while the backup ran
        fsync(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    return Backup(path, kind, revision, path.stat().st_size)


async def check_restore(url: str, path: Path) -> Backup:
    """Everything that can refuse a restore of `path` into `url`, checked without changing anything."""
    kind = backend(url)
    found = file_kind(path)
    if found is None:
        raise BackupError("problem.backup.not_a_backup", path=path)
    if found != kind:
        raise BackupError("problem.backup.other_kind", path=path, found=KIND_NAMES[found], kind=KIND_NAMES[kind])
    # Not one shape for both: PostgreSQL's target can only be checked against the tables the archive
    # lists, so it comes after reading the archive; SQLite's is a file to look at before opening it.
    if kind == "sqlite":
        sqlite.check_target(url, path)
        revision = await asyncio.to_thread(sqlite.inspect, path)
        _check_known(path, revision)
    else:
        revision, tables = await postgresql.inspect(path)
        _check_known(path, revision)
        await postgresql.check_target(url, tables)
    return Backup(path, kind, revision, path.stat().st_size)


async def restore(url: str, path: Path) -> Restored:
    """Replace everything in the database at `url` with the backup at `path`."""
    checked = await check_restore(url, path)
    if checked.kind == "sqlite":
        await asyncio.to_thread(sqlite.restore, path, sqlite.database_file(url))
    else:
        await postgresql.restore(url, path)
    db = Database(url)
    try:
        revision = await current_revision(db)
    finally:
        await db.dispose()
    return Restored(checked, revision, head_revision())


def _check_known(path: Path, revision: str) -> None:
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if revision not in known:
        raise BackupError("problem.backup.newer", path=path, revision=revision)
