"""Migrations are the only way the schema changes, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import Database
from storage.schema import HEAD, SchemaBehind, current_revision, ensure_current, head_revision


async def test_upgrade_reaches_head_and_matches_the_models(db: Database):
    assert await current_revision(db) == head_revision() == HEAD  # a new migration must be named in storage/schema.py
    await ensure_current(db)
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    assert diff == []


async def test_sqlite_runs_in_wal_mode(tmp_path):
    from storage.schema import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    finally:
        await db.dispose()
    assert mode == "wal"


async def test_a_database_behind_the_code_or_without_the_schema_is_refused(tmp_path):
    from storage.schema import upgrade

    for name, revision in (("empty.db", None), ("behind.db", "0006")):
        url = f"sqlite+aiosqlite:///{tmp_path / name}"
        if revision is not None:
            upgrade(url, revision)
        db = Database(url)
        try:
            try:
                await ensure_current(db)
            except SchemaBehind:
                pass
            else:
                raise AssertionError(f"{name} was taken as current")
        finally:
            await db.dispose()
