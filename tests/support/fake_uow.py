"""An in-memory stand-in for storage.uow.UnitOfWork, so that the services' rules are tested without
a database (tests/unit).

What it fakes: the repositories the unit tests call (communes, meetings, staff, sessions), each method
a few lines over the rows in `Rows`, which plays the database (units of work made on one `Rows` see
each other's rows). Rows added through a repository are pending until a flush, and any query flushes
first, as SQLAlchemy's autoflush does, so a service that reads an id before flushing fails here too.

What it does not fake: SQL, constraints (unique columns, foreign keys), row locks, rollback. Leaving
without a commit drops only what was never flushed; rows flushed, deleted or changed stay as they are
(`commits` counts the commits, for a test that cares whether a service committed). Anything not faked
(residents, the outbox…) raises AttributeError naming it rather than passing silently. A rule that
lives in the database (uniqueness, login attempts taking turns on a locked row, ordering by
collation) is tested in tests/integration, on SQLite and PostgreSQL.

tests/unit/test_fake_uow.py checks that every method here has its real repository's signature.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from itertools import count
from typing import Any, Sequence

from storage.models import AuditEntry, Commune, Meeting, Staff, StaffVillage, Submission, Village, WebSession


class Rows:
    """The fake database: each model's rows by primary key, in the order they were added."""

    def __init__(self) -> None:
        self.tables: dict[type, dict[Any, Any]] = defaultdict(dict)
        # As PostgreSQL's sequences: an id is never given twice, even after its row is deleted.
        self._ids: dict[type, count] = defaultdict(lambda: count(1))

    def add(self, row: Any) -> Any:
        """Store `row` at once (a test's setup; services go through a repository), giving it an id if it has none."""
        model = type(row)
        if _key_columns(model) == ["id"] and row.id is None:
            row.id = next(self._ids[model])
        self.tables[model][_key(row)] = row
        return row

    def all(self, model: type) -> list[Any]:
        return list(self.tables[model].values())

    def get(self, model: type, key: Any) -> Any | None:
        return self.tables[model].get(key)

    def delete(self, row: Any) -> None:
        del self.tables[type(row)][_key(row)]


def _key_columns(model: type) -> list[str]:
    return [c.name for c in model.__table__.primary_key.columns]  # type: ignore[attr-defined]


def _key(row: Any) -> Any:
    values = tuple(getattr(row, name) for name in _key_columns(type(row)))
    return values[0] if len(values) == 1 else values


class FakeUnitOfWork:
    """`async with FakeUnitOfWork(rows) as uow:` where a service expects a UnitOfWork."""

    def __init__(self, rows: Rows | None = None, *, readonly: bool = False) -> None:
        self.rows = rows if rows is not None else Rows()
        self.readonly = readonly
        self.commits = 0
        self.pending: list[Any] = []
        self.communes = FakeCommunes(self)
        self.meetings = FakeMeetings(self)
        self.staff = FakeStaff(self)
        self.sessions = FakeSessions(self)

    def __getattr__(self, name: str) -> Any:
        # Only reached for what __init__ did not set: a repository no unit test has needed yet.
        raise AttributeError(f"FakeUnitOfWork has no {name!r}: fake it in tests/support/fake_uow.py, or test this in tests/integration")

    async def __aenter__(self) -> "FakeUnitOfWork":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.pending.clear()  # never flushed, so never written; the rest cannot be rolled back here

    async def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self.flush()
        self.commits += 1

    async def flush(self) -> None:
        self.autoflush()

    def autoflush(self) -> Rows:
        """Store what is pending and return the rows: what a query on the real session would see."""
        for row in self.pending:
            self.rows.add(row)
        self.pending.clear()
        return self.rows


class _FakeRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def add(self, obj: Any) -> Any:
        self._uow.pending.append(obj)
        return obj

    def _all(self, model: type) -> list[Any]:
        return self._flushed().all(model)

    def _flushed(self) -> Rows:
        return self._uow.autoflush()


class FakeCommunes(_FakeRepository):
    async def by_code(self, code: str) -> Commune | None:
        return next((c for c in self._all(Commune) if c.code == code), None)


class FakeMeetings(_FakeRepository):
    async def by_code(self, code: str) -> Meeting | None:
        return next((m for m in self._all(Meeting) if m.code == code), None)

    async def get(self, meeting_id: int) -> Meeting | None:
        return self._flushed().get(Meeting, meeting_id)


class FakeStaff(_FakeRepository):
    async def get(self, staff_id: int) -> Staff | None:
        return self._flushed().get(Staff, staff_id)

    async def by_telegram(self, telegram_id: str) -> Staff | None:
        return next((s for s in self._all(Staff) if s.telegram_id == telegram_id), None)

    async def by_login(self, login: str) -> Staff | None:
        return next((s for s in self._all(Staff) if s.login == login), None)

    async def count_login_attempt(self, login: str, now: datetime) -> Staff | None:
        # The real one is an UPDATE that also holds the row until commit; here attempts simply come one by one.
        for staff in self._all(Staff):
            if staff.login == login and staff.password_hash is not None and (staff.locked_until is None or staff.locked_until <= now):
                staff.failed_logins += 1
                return staff
        return None

    async def villages_named(self, name: str, commune_id: int | None = None) -> Sequence[Village]:
        return [v for v in self._all(Village) if v.name == name and (commune_id is None or v.commune_id == commune_id)]

    async def villages_of(self, staff_id: int) -> Sequence[StaffVillage]:
        return [link for link in self._all(StaffVillage) if link.staff_id == staff_id]

    async def village_names(self, staff_id: int) -> list[str]:
        ids = {link.village_id for link in await self.villages_of(staff_id)}
        return [v.name for v in sorted(self._all(Village), key=lambda v: v.position) if v.id in ids]

    async def remove(self, staff: Staff) -> None:
        rows = self._flushed()
        for link in await self.villages_of(staff.id):  # type: ignore[arg-type]
            rows.delete(link)
        for submission in rows.all(Submission):
            if submission.entered_by_staff_id == staff.id:
                submission.entered_by_staff_id = None
        rows.delete(staff)

    async def counted_entry(self, actor: str, action: str, target: str, minute: datetime) -> AuditEntry | None:
        return next((e for e in self._all(AuditEntry) if (e.actor, e.action, e.target, e.at) == (actor, action, target, minute)), None)


class FakeSessions(_FakeRepository):
    async def open(self, key: str, staff_id: int, now: datetime, expires_at: datetime) -> None:
        self.add(WebSession(id=key, staff_id=staff_id, created_at=now, last_seen_at=now, expires_at=expires_at))

    async def get(self, key: str) -> WebSession | None:
        return self._flushed().get(WebSession, key)

    async def end_for(self, staff_id: int) -> int:
        rows = self._flushed()
        ended = [s for s in rows.all(WebSession) if s.staff_id == staff_id]
        for session in ended:
            rows.delete(session)
        return len(ended)
