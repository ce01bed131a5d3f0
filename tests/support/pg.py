"""The PostgreSQL server the suite runs against (127.0.0.1:5432, user postgres, trust auth).

Each test gets its own database, cloned from a template migrated once per run, and dropped
afterwards. PostgreSQL tests fail when the server is down, never skip: a green suite means both
databases were tried. A laptop without a server runs part of the suite by name (`-k "not postgresql"`)
and sees the rest fail, rather than a green run that tried half.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

SERVER = os.environ.get("DOITHOAI_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
# One template per test process (each pytest-xdist worker, each checkout's run): concurrent runs on
# one server must not drop each other's. A template left by a killed run is dropped by the next.
TEMPLATE_PREFIX = "doithoai_test_template_"
TEMPLATE = f"{TEMPLATE_PREFIX}{os.getpid()}"


def _run(coro):
    # Fixtures may be set up while pytest-asyncio's loop runs: admin work gets its own loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def url(name: str, driver: str = "postgresql") -> str:
    return f"{SERVER.replace('postgresql', driver, 1)}/{name}"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(url("postgres"), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def require() -> None:
    try:
        _run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {SERVER} ({exc}); start it (`pg_ctlcluster 15 main start`), "
                    "or choose the SQLite tests with -k \"not postgresql\"")


_template_ready = False


def _ensure_template() -> None:
    global _template_ready
    if _template_ready:
        return
    from storage.schema import upgrade

    _run(_drop_orphaned_templates())
    _run(_admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {TEMPLATE}"))
    upgrade(url(TEMPLATE))
    _template_ready = True
    # Not through _run: at exit, thread pools no longer take work (and no event loop is running).
    atexit.register(lambda: asyncio.run(_admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_orphaned_templates() -> None:
    conn = await asyncpg.connect(url("postgres"), timeout=10)
    try:
        names = [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", TEMPLATE_PREFIX + "%")]
        for name in names:
            pid = name.removeprefix(TEMPLATE_PREFIX)
            if not pid.isdigit() or not _alive(int(pid)):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create(*, migrated: bool = True) -> str:
    """A new, empty database (with the schema at head unless told otherwise); returns its name."""
    require()
    name = f"doithoai_test_{uuid.uuid4().hex[:12]}"
    if migrated:
        _ensure_template()
        _run(_admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    else:
        _run(_admin(f"CREATE DATABASE {name}"))
    return name


def drop(name: str) -> None:
    _run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
