"""SQLite's side of a backup and a restore. The backup is the sqlite3 module's online backup API: one
consistent snapshot while the bot keeps writing (WAL). The restore installs a checked copy of the
backup in place of the database file with one atomic rename, after making sure no other process has
the database open."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from storage.backup.archive import NOT_BACKED_UP, BackupError
from storage.backup.files import fsync, fsync_dir, partial_file
from storage.db import sqlite_path


def database_file(url: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise BackupError("problem.backup.in_memory")
    return path


def snapshot(source: Path, tmp: Path) -> str:
    """Copy `source` into `tmp` in one step of the backup API: one consistent snapshot, taken while
    the bot goes on writing (WAL readers block nobody). The copy is a single self-contained file."""
    if not source.exists():
        raise BackupError("problem.backup.no_database", path=source)
    try:
        src = sqlite3.connect(_uri(source, mode="rw"), uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.cannot_open", path=source, detail=exc) from None
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            if dst.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (NOT_BACKED_UP,)).fetchone():
                dst.execute(f"DELETE FROM {NOT_BACKED_UP}")
                dst.commit()
            dst.execute("PRAGMA journal_mode=DELETE")
            return _revision(dst, source)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.failed", path=source, detail=exc) from None
    finally:
        src.close()


def check_target(url: str, path: Path) -> None:
    """The database file a restore of `path` would replace must be another file, in a directory that exists."""
    target = database_file(url)
    if target.exists() and target.resolve() == path.resolve():
        raise BackupError("problem.backup.from_itself", path=path)
    if not target.parent.is_dir():
        raise BackupError("problem.backup.no_db_directory", path=target.parent)


def inspect(path: Path) -> str:
    """The schema revision in a SQLite backup, after checking it is an intact doithoai database. Read-only."""
    try:
        conn = sqlite3.connect(_uri(path, mode="ro", immutable="1"), uri=True)
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.cannot_open", path=path, detail=exc) from None
    try:
        result = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise BackupError("problem.backup.damaged", path=path, detail="; ".join(result[:3]))
        return _revision(conn, path)
    except sqlite3.DatabaseError as exc:
        raise BackupError("problem.backup.bad_sqlite", path=path, detail=exc) from None
    finally:
        conn.close()


def restore(backup_file: Path, target: Path) -> None:
    """Put a checked copy of the backup in place of `target` with one rename, so that the database is
    always either the old one or the restored one, never a mixture."""
    with partial_file(target) as tmp:
        shutil.copyfile(backup_file, tmp)
        inspect(tmp)  # the copy that will be installed, not only the file it came from
        lock = _lock(target)
        try:
            if target.exists():
                _same_owner_and_mode(tmp, target)
            fsync(tmp)
            _remove_sidecars(target)
            os.replace(tmp, target)
            # A -wal or -shm left beside the new file would be read as part of it.
            _remove_sidecars(target)
            fsync_dir(target.parent)
        finally:
            if lock is not None:
                lock.close()


def _uri(path: Path, **params: str) -> str:
    return path.resolve().as_uri() + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def _revision(conn: sqlite3.Connection, path: Path) -> str:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone() is None:
        raise BackupError("problem.backup.no_schema", path=path)
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if row is None:
        raise BackupError("problem.backup.no_revision", path=path)
    return row[0]


def _lock(target: Path) -> sqlite3.Connection | None:
    """Make sure no other connection has `target` open, and keep others out until the rename.

    Leaving WAL mode needs the only connection to the database, and every doithoai process keeps its
    connections open (in WAL mode) while it runs: if the switch fails, the database is in use. The
    switch also checkpoints the WAL into the file, so nothing is left in a -wal. A file that is not a
    readable database (the reason for many a restore) has nothing to protect: None.
    """
    if not target.exists():
        return None
    try:
        conn = sqlite3.connect(_uri(target, mode="rw"), uri=True, timeout=3, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        if mode != "delete":
            raise BackupError("problem.backup.journal_mode", path=target, mode=mode)
        conn.execute("BEGIN EXCLUSIVE")
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc):
            raise BackupError("problem.backup.sqlite_in_use", path=target) from None
        return None
    except sqlite3.DatabaseError:
        conn.close()
        return None
    except BaseException:
        conn.close()
        raise


def _same_owner_and_mode(tmp: Path, target: Path) -> None:
    """The new file gets the old one's permissions, and its owner when we may (root restoring the bot's file)."""
    st = target.stat()
    os.chmod(tmp, st.st_mode & 0o7777)
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass


def _remove_sidecars(target: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
