"""PostgreSQL's side of a backup and a restore, through its own tools: `pg_dump --format=custom` (one
consistent snapshot, the bot keeps running) and `pg_restore --clean --if-exists --no-owner
--no-privileges --single-transaction` into the existing database, so that the restore happens entirely
or not at all. The password goes to the tools in PGPASSWORD, never on their command line, and never
into a message."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.backup.archive import NOT_BACKED_UP, BackupError, describe
from storage.db import Database

_LIBPQ_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


async def dump(url: str, tmp: Path) -> str:
    """pg_dump in custom format to `tmp`; the revision is the database's at the time."""
    async with _connection(url) as conn:
        revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        server_major = (await conn.exec_driver_sql("SHOW server_version_num")).scalar_one()
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
    args = ["--format=custom", "--no-password", f"--exclude-table-data={NOT_BACKED_UP}", f"--file={tmp}", f"--dbname={libpq.dsn}"]
    code, _, err = await _run(program, args, libpq)
    if code != 0:
        raise BackupError("problem.backup.pg_dump_failed", detail=err)
    return revision


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+)(?: |$)")


async def inspect(path: Path) -> tuple[str, set[tuple[str, str]]]:
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


async def check_target(url: str, archive_tables: set[tuple[str, str]]) -> None:
    """The database must exist, have no other client connected (a running bot would get errors half-way
    and then write into the restored data), and hold no table the backup lacks: `--clean` drops only
    what is in the archive, so a table made by a later migration would survive the restore and stop
    `doithoai db upgrade` from re-creating it."""
    async with _connection(url) as conn:
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
    if others:
        raise BackupError("problem.backup.pg_in_use", target=describe(url), count=others)
    extra = sorted(present - archive_tables)
    if extra:
        names = ", ".join(f"{schema}.{name}" for schema, name in extra)
        raise BackupError("problem.backup.extra_tables", target=describe(url), names=names, dropdb=f"dropdb {make_url(url).database}",
                          createdb=_createdb(url))


async def restore(url: str, path: Path) -> None:
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


def _copied_value(script: str) -> str | None:
    """The first row of the COPY block in a pg_restore script."""
    lines = iter(script.splitlines())
    for line in lines:
        if line.startswith("COPY ") and "alembic_version" in line:
            first = next(lines, "\\.")
            return None if first == "\\." else first.split("\t")[0]
    return None


# --- reaching the database: directly, and through the PostgreSQL tools ----------------------


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AsyncConnection]:
    """One connection for a few queries, its engine disposed of afterwards (each command makes one or
    two); a database that cannot be reached is refused in words the operator can act on."""
    db = Database(url)
    try:
        try:
            conn = await db.engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            reason = _reason(exc)
            if "does not exist" in reason and "database" in reason:
                raise BackupError("problem.backup.no_pg_database", target=describe(url), detail=reason, command=_createdb(url)) from None
            raise BackupError("problem.backup.cannot_connect", target=describe(url), detail=reason) from None
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await db.dispose()


def _createdb(url: str) -> str:
    parsed = make_url(url)
    owner = f"-O {parsed.username} " if parsed.username else ""
    return f"createdb {owner}{parsed.database or 'NAME'}"


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    inner = orig if orig is not None else exc
    return (str(inner).strip() or type(inner).__name__).splitlines()[0]


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
