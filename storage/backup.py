"""Backing up the whole database to one file, and restoring it: `doithoai backup` and `doithoai restore`.

SQLite: the sqlite3 module's online backup API copies a consistent snapshot while the bot keeps
writing (WAL); a restore installs a copy of the backup in place of the database file with one
atomic rename, after making sure no other process has the database open.

PostgreSQL: `pg_dump --format=custom` (one consistent snapshot, the bot keeps running) and
`pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction` into the existing
database: the restore happens entirely or not at all. The password goes to the tools in
PGPASSWORD, never on their command line, and never into a message.

Everything that can be checked is checked before anything is touched: a backup file of the wrong
kind, damaged, not doithoai's, or from a newer doithoai is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database, sqlite_path
from storage.schema import alembic_config, current_revision, head_revision

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_LIBPQ_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


# The console's signed-in sessions: a restore must not bring back sessions ended since the backup
# (a logout, a new password, a removed staff member). The table is kept, empty: everyone signs in again.
_NOT_BACKED_UP = "web_session"


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


@dataclass(frozen=True)
class Restored:
    backup: Backup
    revision: str | None
    head: str | None

    @property
    def behind(self) -> bool:
        """The restored schema is older than the code: `doithoai db upgrade` is needed before anything else runs."""
        return self.revision != self.head


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


# --- the two operations -------------------------------------------------------------------


async def backup(url: str, path: Path, *, force: bool = False) -> Backup:
    """Write a backup of the database at `url` to `path`, refusing to replace an existing file unless `force`."""
    kind = backend(url)
    _check_target_file(path, force)
    source = _sqlite_file(url) if kind == "sqlite" else None
    if source is not None and path.resolve() == source.resolve():
        raise BackupError("problem.backup.onto_itself", path=path)
    with _partial(path) as tmp:
        if source is not None:
            revision = await asyncio.to_thread(_sqlite_backup, source, tmp)
        else:
            revision = await _pg_dump(url, tmp)
        _check_target_file(path, force)  # another file may have appeared while the backup ran
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    return Backup(path, kind, revision, path.stat().st_size)


async def check_restore(url: str, path: Path) -> Backup:
    """Everything that can refuse a restore of `path` into `url`, checked without changing anything."""
    kind = backend(url)
    found = file_kind(path)
    if found is None:
        raise BackupError("problem.backup.not_a_backup", path=path)
    if found != kind:
        raise BackupError("problem.backup.other_kind", path=path, found=KIND_NAMES[found], kind=KIND_NAMES[kind])
    if kind == "sqlite":
        target = _sqlite_file(url)
        if target.exists() and target.resolve() == path.resolve():
            raise BackupError("problem.backup.from_itself", path=path)
        if not target.parent.is_dir():
            raise BackupError("problem.backup.no_db_directory", path=target.parent)
        revision = await asyncio.to_thread(_sqlite_inspect, path)
        _check_known(path, revision)
    else:
        revision, tables = await _pg_inspect(path)
        _check_known(path, revision)
        await _pg_check_target(url, tables)
    return Backup(path, kind, revision, path.stat().st_size)


async def restore(url: str, path: Path) -> Restored:
    """Replace everything in the database at `url` with the backup at `path`."""
    checked = await check_restore(url, path)
    if checked.kind == "sqlite":
        await asyncio.to_thread(_sqlite_restore, path, _sqlite_file(url))
    else:
        await _pg_restore(url, path)
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


# --- files ----------------------------------------------------------------------------------


def _check_target_file(path: Path, force: bool) -> None:
    if path.is_dir():
        raise BackupError("problem.backup.target_directory", path=path)
    if not path.parent.is_dir():
        raise BackupError("problem.backup.no_directory", path=path.parent)
    if path.exists() and not force:
        raise BackupError("problem.backup.exists", path=path)


@contextmanager
def _partial(path: Path) -> Iterator[Path]:
    """A new, empty file beside `path` (readable by its owner only: backups hold personal data), removed unless renamed."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
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


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_file(url: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise BackupError("problem.backup.in_memory")
    return path


def _sqlite_uri(path: Path, **params: str) -> str:
    return path.resolve().as_uri() + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def _sqlite_revision(conn: sqlite3.Connection, path: Path) -> str:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone() is None:
        raise BackupError("problem.backup.no_schema", path=path)
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if row is None:
        raise BackupError("problem.backup.no_revision", path=path)
    return row[0]


def _sqlite_backup(source: Path, tmp: Path) -> str:
    """Copy `source` into `tmp` in one step of the backup API: one consistent snapshot, taken while
    the bot goes on writing (WAL readers block nobody). The copy is a single self-contained file."""
    if not source.exists():
        raise BackupError("problem.backup.no_database", path=source)
    try:
        src = sqlite3.connect(_sqlite_uri(source, mode="rw"), uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.cannot_open", path=source, detail=exc) from None
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            if dst.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_NOT_BACKED_UP,)).fetchone():
                dst.execute(f"DELETE FROM {_NOT_BACKED_UP}")
                dst.commit()
            dst.execute("PRAGMA journal_mode=DELETE")
            return _sqlite_revision(dst, source)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.failed", path=source, detail=exc) from None
    finally:
        src.close()


def _sqlite_inspect(path: Path) -> str:
    """The schema revision in a SQLite backup, after checking it is an intact doithoai database. Read-only."""
    try:
        conn = sqlite3.connect(_sqlite_uri(path, mode="ro", immutable="1"), uri=True)
    except sqlite3.Error as exc:
        raise BackupError("problem.backup.cannot_open", path=path, detail=exc) from None
    try:
        result = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise BackupError("problem.backup.damaged", path=path, detail="; ".join(result[:3]))
        return _sqlite_revision(conn, path)
    except sqlite3.DatabaseError as exc:
        raise BackupError("problem.backup.bad_sqlite", path=path, detail=exc) from None
    finally:
        conn.close()


def _sqlite_restore(backup_file: Path, target: Path) -> None:
    """Put a checked copy of the backup in place of `target` with one rename, so that the database is
    always either the old one or the restored one, never a mixture."""
    with _partial(target) as tmp:
        shutil.copyfile(backup_file, tmp)
        _sqlite_inspect(tmp)  # the copy that will be installed, not only the file it came from
        lock = _sqlite_lock(target)
        try:
            if target.exists():
                _same_owner_and_mode(tmp, target)
            _fsync(tmp)
            _remove_sidecars(target)
            os.replace(tmp, target)
            # A -wal or -shm left beside the new file would be read as part of it.
            _remove_sidecars(target)
            _fsync_dir(target.parent)
        finally:
            if lock is not None:
                lock.close()


def _sqlite_lock(target: Path) -> sqlite3.Connection | None:
    """Make sure no other connection has `target` open, and keep others out until the rename.

    Leaving WAL mode needs the only connection to the database, and every doithoai process keeps its
    connections open (in WAL mode) while it runs: if the switch fails, the database is in use. The
    switch also checkpoints the WAL into the file, so nothing is left in a -wal. A file that is not a
    readable database (the reason for many a restore) has nothing to protect: None.
    """
    if not target.exists():
        return None
    try:
        conn = sqlite3.connect(_sqlite_uri(target, mode="rw"), uri=True, timeout=3, isolation_level=None)
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


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Libpq:
    """How the PostgreSQL tools reach the database: a libpq URL without the password, which goes in the environment."""

    dsn: str
    env: dict[str, str]
    secrets: tuple[str, ...]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _libpq(url: str, tool: str) -> _Libpq:
    parsed: URL = make_url(url)
    query = dict(parsed.query)
    ssl = query.pop("ssl", None)  # asyncpg's name for it; libpq's is sslmode
    if isinstance(ssl, str) and "sslmode" not in query:
        query["sslmode"] = ssl if ssl in _LIBPQ_SSLMODES else "require" if ssl.lower() in ("true", "1", "on") else "disable"
    password = parsed.password
    # (URL.set() would keep the password when given None.)
    bare = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port, database=parsed.database, query=query)
    dsn = bare.render_as_string(hide_password=False)
    env = dict(os.environ)
    env.setdefault("PGAPPNAME", f"doithoai {tool}")
    secrets: tuple[str, ...] = ()
    if password:
        env["PGPASSWORD"] = str(password)
        secrets = (str(password),)
    return _Libpq(dsn, env, secrets)


def _tool(name: str, server_major: int | None = None) -> str:
    found = shutil.which(name)
    if found is None:
        version = f" {server_major}" if server_major else ""
        raise BackupError("problem.backup.no_tool", program=name, version=version,
                          package=f"postgresql-client{'-' + str(server_major) if server_major else ''}")
    return found


async def _run(program: str, args: list[str], conn: _Libpq | None = None) -> tuple[int, str, str]:
    env = conn.env if conn is not None else None
    try:
        proc = await asyncio.create_subprocess_exec(
            program, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise BackupError("problem.backup.cannot_run", program=program, errno=exc.errno or 0) from None
    out, err = await proc.communicate()
    text_out, text_err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace").strip()
    if conn is not None:
        text_out, text_err = conn.redact(text_out), conn.redact(text_err)
    assert proc.returncode is not None
    return proc.returncode, text_out, text_err


async def _major_version(program: str) -> int | None:
    code, out, _ = await _run(program, ["--version"])
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(found.group(1)) if code == 0 and found else None


async def _pg_connect(url: str, db: Database) -> AsyncConnection:
    try:
        return await db.engine.connect()
    except (SQLAlchemyError, OSError) as exc:
        reason = _reason(exc)
        if "does not exist" in reason and "database" in reason:
            raise BackupError("problem.backup.no_pg_database", target=describe(url), detail=reason, command=_createdb(url)) from None
        raise BackupError("problem.backup.cannot_connect", target=describe(url), detail=reason) from None


def _createdb(url: str) -> str:
    parsed = make_url(url)
    owner = f"-O {parsed.username} " if parsed.username else ""
    return f"createdb {owner}{parsed.database or 'NAME'}"


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    inner = orig if orig is not None else exc
    return (str(inner).strip() or type(inner).__name__).splitlines()[0]


async def _pg_dump(url: str, tmp: Path) -> str:
    """pg_dump in custom format to `tmp`; the revision is the database's at the time."""
    db = Database(url)
    try:
        conn = await _pg_connect(url, db)
        try:
            revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            server_major = (await conn.exec_driver_sql("SHOW server_version_num")).scalar_one()
        finally:
            await conn.close()
    finally:
        await db.dispose()
    if revision is None:
        raise BackupError("problem.backup.nothing_to_back_up", target=describe(url))
    server = int(server_major) // 10000
    program = _tool("pg_dump", server)
    ours = await _major_version(program)
    if ours is None:
        raise BackupError("problem.backup.tool_version", program=program)
    if ours < server:
        raise BackupError("problem.backup.old_pg_dump", ours=ours, server=server)
    libpq = _libpq(url, "backup")
    args = ["--format=custom", "--no-password", f"--exclude-table-data={_NOT_BACKED_UP}", f"--file={tmp}", f"--dbname={libpq.dsn}"]
    code, _, err = await _run(program, args, libpq)
    if code != 0:
        raise BackupError("problem.backup.pg_dump_failed", detail=err)
    return revision


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+)(?: |$)")


async def _pg_inspect(path: Path) -> tuple[str, set[tuple[str, str]]]:
    """The schema revision in a pg_dump archive, and its tables, after reading the whole archive once. Read-only."""
    program = _tool("pg_restore")
    code, toc, err = await _run(program, ["--list", str(path)])
    if code != 0:
        raise BackupError("problem.backup.bad_archive", path=path, detail=err)
    tables = {(m.group(1), m.group(2)) for m in map(_TOC_TABLE.match, toc.splitlines()) if m}
    if not any(name == "alembic_version" for _, name in tables):
        raise BackupError("problem.backup.no_schema", path=path)
    # Decompress every table's data, so that a truncated or damaged archive is refused now, not half-way.
    code, _, err = await _run(program, [f"--file={os.devnull}", str(path)])
    if code != 0:
        raise BackupError("problem.backup.archive_damaged", path=path, detail=err)
    code, script, err = await _run(program, ["--data-only", "--table=alembic_version", "--file=-", str(path)])
    if code != 0:
        raise BackupError("problem.backup.no_revision_read", path=path, detail=err)
    revision = _copied_value(script)
    if revision is None:
        raise BackupError("problem.backup.no_revision", path=path)
    return revision, tables


def _copied_value(script: str) -> str | None:
    """The first row of the COPY block in a pg_restore script."""
    lines = iter(script.splitlines())
    for line in lines:
        if line.startswith("COPY ") and "alembic_version" in line:
            first = next(lines, "\\.")
            return None if first == "\\." else first.split("\t")[0]
    return None


async def _pg_check_target(url: str, archive_tables: set[tuple[str, str]]) -> None:
    """The database must exist, have no other client connected (a running bot would get errors half-way
    and then write into the restored data), and hold no table the backup lacks: `--clean` drops only
    what is in the archive, so a table made by a later migration would survive the restore and stop
    `doithoai db upgrade` from re-creating it."""
    db = Database(url)
    try:
        conn = await _pg_connect(url, db)
        try:
            others = (await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )).scalar_one()
            present = {
                (schema, name)
                for schema, name in (await conn.exec_driver_sql(
                    "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )).all()
            }
        finally:
            await conn.close()
    finally:
        await db.dispose()
    if others:
        raise BackupError("problem.backup.pg_in_use", target=describe(url), count=others)
    extra = sorted(present - archive_tables)
    if extra:
        names = ", ".join(f"{schema}.{name}" for schema, name in extra)
        raise BackupError("problem.backup.extra_tables", target=describe(url), names=names, dropdb=f"dropdb {make_url(url).database}",
                          createdb=_createdb(url))


async def _pg_restore(url: str, path: Path) -> None:
    program = _tool("pg_restore")
    libpq = _libpq(url, "restore")
    # --clean --if-exists: drop what the backup holds before re-creating it, whether or not it is there
    # (a database at any revision, or an empty one). --no-owner --no-privileges: everything belongs to
    # the user restoring, as when `doithoai db upgrade` made it, even on a server without the original
    # roles. --single-transaction: all or nothing.
    args = ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--no-password",
            f"--dbname={libpq.dsn}", str(path)]
    code, _, err = await _run(program, args, libpq)
    if code != 0:
        raise BackupError("problem.backup.pg_restore_failed", detail=err)
