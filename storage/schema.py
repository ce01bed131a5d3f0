"""Applying and checking migrations, for the CLI and the tests.

Every command checks that the database is at this code's revision (`ensure_current`); Alembic is a
fifth of a second of imports, which each command would pay for nothing, so that check reads the
version row itself and Alembic is imported only to migrate or to read the scripts.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision, which this code expects (tests/integration/test_schema.py checks
# that it is Alembic's head: a new migration fails that test until this names it).
HEAD = "0010"


class SchemaBehind(RuntimeError):
    """The database is older than this code: `doithoai db upgrade` has not been run."""


def alembic_config(url: str) -> "Config":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations. Alembic's env.py runs its own event loop, so from async code it gets a thread."""
    from alembic import command

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), revision).result()


def head_revision() -> str | None:
    """Alembic's head, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def _version_rows(connection) -> list[str]:  # type: ignore[no-untyped-def]
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


async def ensure_current(db: Database) -> None:
    async with db.engine.connect() as conn:
        versions = await conn.run_sync(_version_rows)
    if versions != [HEAD]:
        raise SchemaBehind("the database schema is not up to date: run `doithoai db upgrade`")
