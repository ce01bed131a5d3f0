"""`python -m bench statements`: what one database round trip costs at each layer doithoai goes through.

The inbound benchmark's gap to its in-memory baseline is mostly database work. This measures its
unit: the CPU time (of this process, threads included) of the lookup every update starts with (a
resident by channel and user id), N times, through each layer from the bare driver up to a whole
unit of work, and a write transaction like the one each update and each delivered message commits;
and, on SQLite's loop driver, the same statement as the hot path runs it now: compiled once and
executed straight on the driver (storage/direct.py).
On SQLite each SQLAlchemy layer is measured twice: over aiosqlite (each driver call a hop to its
thread and back, as before storage/inloop.py) and over the driver that runs on the loop; and the
write once more as the hot path runs it, many at once sharing a COMMIT (storage/group_commit.py).
Ratios are against the bare driver, measured in the same run. On PostgreSQL the server's own CPU is
not counted (it is the same for every layer).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy import bindparam, select

from bench.common import Table, clean_env, cli, machine, pg_create, pg_drop, pg_url, rounded, save, say
from storage import inloop
from storage.db import Database
from storage.direct import direct_of
from storage.models import Resident, utcnow
from storage.uow import UnitOfWork

LOOKUP = "SELECT * FROM resident WHERE channel = {0} AND external_id = {1}"
TABLE = Resident.__table__  # type: ignore[attr-defined]
CORE = select(TABLE).where(TABLE.c.channel == bindparam("channel"), TABLE.c.external_id == bindparam("external_id"))


async def timed(n: int, step: Callable[[int], Awaitable[Any]]) -> float:
    """Microseconds of CPU per call, after a few calls to warm caches up."""
    for i in range(20):
        await step(i)
    started = time.process_time()
    for i in range(n):
        await step(i)
    return (time.process_time() - started) / n * 1e6


# Jobs arriving at once, for the group commit's row: as many as the chats of a busy moment.
AT_ONCE = 20


async def layers(db: Database, n: int, via: str = "") -> list[tuple[str, float]]:
    """The SQLAlchemy layers over `db`'s driver (`via`: which, in the labels)."""
    out = []
    params = {"channel": "telegram", "external_id": "1001"}
    async with db.engine.connect() as conn:
        out.append((f"SQLAlchemy Core, one connection{via}", await timed(n, lambda _: conn.execute(CORE, params))))
        await conn.rollback()
        await conn.begin()
        direct = direct_of(conn)
        if direct is not None:
            async def straight(_: int) -> None:
                (await direct.run(CORE, params)).first()  # type: ignore[union-attr]

            out.append((f"the same, compiled once, on the driver: storage/direct.py{via}", await timed(n, straight)))
        await conn.rollback()
    async with UnitOfWork(db, readonly=True) as uow:
        out.append((f"SQLAlchemy ORM: the repository, in a unit of work{via}", await timed(n, lambda _: uow.residents.find("telegram", "1001"))))

    async def read_unit(_: int) -> None:
        async with UnitOfWork(db, readonly=True) as uow:
            await uow.residents.find("telegram", "1001")

    async def write_unit(i: int, grouped: bool = False) -> None:
        async with UnitOfWork(db, grouped=grouped) as uow:
            await uow.updates.first_time("bench", f"{time.monotonic_ns()}:{i}")
            await uow.commit()

    async def grouped_units(i: int) -> None:
        await asyncio.gather(*(write_unit(i * AT_ONCE + k, grouped=True) for k in range(AT_ONCE)))

    out.append((f"a read-only unit of work: open, the lookup, close{via}", await timed(n, read_unit)))
    out.append((f"a write unit of work: BEGIN, one INSERT, COMMIT{via}", await timed(n, write_unit)))
    if db.group is not None:
        per_batch = await timed(max(1, n // AT_ONCE), grouped_units)
        out.append((f"the same, {AT_ONCE} at once, grouped: a savepoint each, one COMMIT", per_batch / AT_ONCE))
    return out


async def seed(url: str, tmp: Path) -> Database:
    await cli(clean_env(DOITHOAI_DATABASE_URL=url), "db", "upgrade", cwd=tmp)
    db = Database(url)
    async with UnitOfWork(db) as uow:
        now = utcnow()
        uow.residents.add(Resident(channel="telegram", external_id="1001", chat_id="1001", consented_at=now, created_at=now, state={}))
        await uow.commit()
    return db


async def sqlite_layers(tmp: Path, n: int) -> list[tuple[str, float]]:
    path = tmp / "statements.db"
    db = await seed(f"sqlite:///{path}", tmp)
    raw = sqlite3.connect(path)
    import aiosqlite

    try:
        async with aiosqlite.connect(path) as conn:
            async def bare(_: int) -> None:
                raw.execute(LOOKUP.format("?", "?"), ("telegram", "1001")).fetchall()

            async def threaded(_: int) -> None:
                await (await conn.execute(LOOKUP.format("?", "?"), ("telegram", "1001"))).fetchall()

            first = [("sqlite3, bare (the floor)", await timed(n, bare)), ("aiosqlite: sqlite3 in a thread", await timed(n, threaded))]
        loop_conn = await inloop.connector(str(path))()

        async def on_loop(_: int) -> None:
            await (await loop_conn.execute(LOOKUP.format("?", "?"), ("telegram", "1001"))).fetchall()

        first.append(("sqlite3 on the loop: storage/inloop.py's driver", await timed(n, on_loop)))
        await loop_conn.close()
        before = Database(f"sqlite:///{path}", threaded=True)  # the driver doithoai used before storage/inloop.py
        try:
            through_thread = await layers(before, n, " (aiosqlite)")
        finally:
            await before.dispose()
        return first + through_thread + await layers(db, n, " (on the loop)")
    finally:
        raw.close()
        await db.dispose()


async def postgres_layers(tmp: Path, n: int) -> list[tuple[str, float]]:
    import asyncpg

    name = await pg_create("statements")
    db = None
    try:
        db = await seed(pg_url(name), tmp)
        conn = await asyncpg.connect(pg_url(name))
        try:
            statement = await conn.prepare(LOOKUP.format("$1", "$2"))
            floor = ("asyncpg, a prepared statement (the floor)", await timed(n, lambda _: statement.fetch("telegram", "1001")))
            return [floor, *await layers(db, n)]
        finally:
            await conn.close()
    finally:
        if db is not None:
            await db.dispose()
        await pg_drop(name)


async def main(args: Any) -> dict[str, Any]:
    say(f"statements: the resident lookup, {args.n} times through each layer; CPU of this process per call")
    results: dict[str, list[tuple[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as tmp:
        results["sqlite"] = await sqlite_layers(Path(tmp), args.n)
        if not args.sqlite_only:
            results["postgresql"] = await postgres_layers(Path(tmp), args.n)
    table = Table(["database", "layer", "µs CPU per call", "× floor"])
    for database, rows in results.items():
        floor = rows[0][1]
        for layer, micros in rows:
            table.add(database, layer, micros, micros / floor)
    say("")
    say(table.render())
    data = {"benchmark": "statements", "machine": machine(), "options": {"n": args.n}, "table": table.render(),
            "results": {k: [{"layer": layer, "us_per_call": us} for layer, us in v] for k, v in results.items()}}
    path = save("statements", rounded(data, 2))
    say(f"\nwritten to {path}")
    return data
