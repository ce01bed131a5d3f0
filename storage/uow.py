"""Unit of work: one transaction per update or command, with the repositories bound to it.

A service entry point commits its own work (the CLI and the console only open the unit of work and
call it). The conversation calls services too, but there one resident's update is one transaction:
the processed-update record, the state, the service's rows and the replies commit together or not
at all. So the conversation runs its flows inside `one_transaction()`, where a service's commit only
flushes, and commits once itself at the end.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.reference import Reference
from storage.repositories.base import Bare, NeedsSession
from storage.repositories.choices import ChoiceRepository
from storage.repositories.communes import CommuneRepository
from storage.repositories.files import FileRepository
from storage.repositories.inbox import InboxRepository, UpdateLog
from storage.repositories.meetings import MeetingRepository
from storage.repositories.notices import NoticeLog
from storage.repositories.outbox import OutboxRepository
from storage.repositories.residents import ResidentRepository
from storage.repositories.staff import SessionRepository, StaffRepository
from storage.repositories.submissions import SubmissionRepository
from storage.repositories.tokens import TokenRepository

T = TypeVar("T")


def commits(service: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A service entry point, called as `service(uow, actor, …)`: what it did is committed when it
    returns (only flushed inside `one_transaction()`); an error leaves nothing behind."""

    @functools.wraps(service)
    async def entry(uow: "UnitOfWork", *args: Any, **kwargs: Any) -> T:
        result = await service(uow, *args, **kwargs)
        await uow.commit()
        return result

    return entry


class UnitOfWork:
    """`async with UnitOfWork(db) as uow: …; await uow.commit()` — leaving without commit rolls back.

    `grouped`: one of the hot path's small transactions, which on SQLite share their COMMIT with the
    others that arrive meanwhile (storage/group_commit.py). Its `commit()` returns once that COMMIT is
    done, and is its last use of the database."""

    def __init__(self, db: Database, *, readonly: bool = False, grouped: bool = False) -> None:
        self.db = db
        self.readonly = readonly
        self.grouped = grouped and not readonly and db.group is not None
        self._locked = False
        self._enclosed = 0

    async def __aenter__(self) -> "UnitOfWork":
        if self.db.write_lock is not None and not self.readonly:
            await self.db.write_lock.acquire()
            self._locked = True
        try:
            if self.grouped:
                bind = await self.db.group.connection()  # type: ignore[union-attr]
                self.session = AsyncSession(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
            else:
                if self._locked and self.db.group is not None:
                    await self.db.group.settle()  # the group's open transaction holds SQLite's write lock
                self.session = AsyncSession(self.db.reader if self.readonly else self.db.engine, expire_on_commit=False)
        except BaseException:
            self._release()
            raise
        s = self.session
        self.communes = CommuneRepository(s)
        self.meetings = MeetingRepository(s)
        self.residents = ResidentRepository(s)
        self.submissions = SubmissionRepository(s)
        self.updates = UpdateLog(s)
        self.outbox = OutboxRepository(s)
        self.notices = NoticeLog(s)
        self.staff = StaffRepository(s)
        self.sessions = SessionRepository(s)
        self.choices = ChoiceRepository(s)
        self.inbox = InboxRepository(s)
        self.tokens = TokenRepository(s)
        self.files = FileRepository(s)
        self.reference = Reference(self.db.reference, s)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            # close() rolls back what was not committed but, unlike rollback(), leaves loaded
            # objects readable after the unit of work ends.
            await self.session.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            self.db.write_lock.release()  # type: ignore[union-attr]
            if self.grouped:
                self.db.group.released()  # type: ignore[union-attr]

    async def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._enclosed:
            await self.session.flush()  # the enclosing caller commits (see the module's docstring)
            return
        await self.session.commit()
        if self.grouped:
            durable = self.db.group.joined()  # type: ignore[union-attr]
            self._release()  # the next job joins the group, or the group commits
            await durable

    async def rollback(self) -> None:
        """Forget what this unit of work did so far (inside `one_transaction()`, the caller's work too)."""
        await self.session.rollback()

    @contextmanager
    def one_transaction(self) -> Iterator["UnitOfWork"]:
        """Everything done inside commits with the caller's own `commit()` after it, not before."""
        self._enclosed += 1
        try:
            yield self
        finally:
            self._enclosed -= 1

    async def flush(self) -> None:
        await self.session.flush()


class BareWork:
    """What the conversation needs for most updates, on the connection of a grouped job
    (`Database.write`) and without an ORM session: the processed-update record, the resident (read
    with Core and written back column by column, `ResidentRepository.keep`), the reference data and
    the outbox. Anything else (a service that stores a submission, a new resident, staff work) raises
    `NeedsSession`: the job rolls back to its savepoint and the update is handled again in a
    `UnitOfWork` (bot/conversation/engine.py). The job commits with its group; nothing here commits."""

    readonly = False

    def __init__(self, db: Database, connection: AsyncConnection) -> None:
        self.db = db
        bare = Bare(connection)
        self.session = bare
        self.updates = UpdateLog(bare)  # type: ignore[arg-type]
        self.outbox = OutboxRepository(bare)  # type: ignore[arg-type]
        self.reference = Reference(db.reference, bare)  # type: ignore[arg-type]
        self.residents = ResidentRepository(bare, saw_version=self.reference.saw)
        self.staff = StaffRepository(bare)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        raise NeedsSession(name)  # another repository: work for a session

    @contextmanager
    def one_transaction(self) -> Iterator["BareWork"]:
        yield self

    async def commit(self) -> None:
        raise NeedsSession("commit")  # a service committing its work: work for a session

    async def flush(self) -> None:
        raise NeedsSession("flush")

    async def rollback(self) -> None:
        raise NeedsSession("rollback")
