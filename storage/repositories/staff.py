"""Staff: their accounts, sign-in attempts, villages and audit log, and the console sessions they hold."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, delete, or_, update
from sqlmodel import col, select

from storage.locks import serialised
from storage.models import AuditEntry, Staff, StaffVillage, Submission, Village, WebSession
from storage.repositories.base import Bare, NotTheUpdate, Prepared, Repository


class StaffRepository(Repository):
    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    _BY_TELEGRAM = Prepared(lambda _: select(Staff).where(Staff.telegram_id == bindparam("telegram_id")))

    _IS_STAFF = select(Staff.__table__.c.id).where(Staff.__table__.c.telegram_id == bindparam("telegram_id"))  # type: ignore[attr-defined]

    async def by_telegram(self, telegram_id: str) -> Staff | None:
        if isinstance(self.session, Bare):
            # Without a session only a "no" can be answered: staff work goes through a session.
            if (await self.core(self._IS_STAFF, {"telegram_id": telegram_id})).first() is not None:
                raise NotTheUpdate("staff")
            return None
        return (await self.session.exec(self._BY_TELEGRAM(self.session), params={"telegram_id": telegram_id})).first()

    _IS_ZALO_STAFF = select(Staff.__table__.c.id).where(Staff.__table__.c.zalo_id == bindparam("zalo_id"))  # type: ignore[attr-defined]

    async def by_zalo(self, zalo_id: str) -> Staff | None:
        """The staff member bound to this Zalo bot or OA user id (`zalo_channel` says which)."""
        if isinstance(self.session, Bare):
            if (await self.core(self._IS_ZALO_STAFF, {"zalo_id": zalo_id})).first() is not None:
                raise NotTheUpdate("staff")
            return None
        return (await self.session.exec(select(Staff).where(Staff.zalo_id == zalo_id))).first()

    async def by_link_code(self, code: str) -> Staff | None:
        return (await self.session.exec(select(Staff).where(Staff.link_code == code))).first()

    async def by_login(self, login: str) -> Staff | None:
        return (await self.session.exec(select(Staff).where(Staff.login == login))).first()

    async def count_login_attempt(self, login: str, now: datetime) -> Staff | None:
        """Count a sign-in attempt before its password is checked: one UPDATE, which holds the row
        (PostgreSQL's row lock, SQLite's write lock) until commit, so attempts on one account take
        turns and each sees the count and lock the one before left. None: no such login, no
        password, or locked (then nothing is counted)."""
        stmt = (
            update(Staff)
            .where(col(Staff.login) == login, col(Staff.password_hash).is_not(None),
                   or_(col(Staff.locked_until).is_(None), col(Staff.locked_until) <= now))
            .values(failed_logins=Staff.failed_logins + 1)
            .returning(Staff.id)
        )
        staff_id = (await self.session.exec(stmt)).scalar_one_or_none()  # type: ignore[call-overload]
        # populate_existing: the row as the UPDATE left it, not as this session may have read it before.
        return None if staff_id is None else await self.session.get(Staff, staff_id, populate_existing=True)

    async def all(self) -> Sequence[Staff]:
        return (await self.session.exec(select(Staff).order_by(col(Staff.id)))).all()

    async def villages_named(self, name: str, commune_id: int | None = None) -> Sequence[Village]:
        stmt = select(Village).where(Village.name == name)
        if commune_id is not None:
            stmt = stmt.where(Village.commune_id == commune_id)
        return (await self.session.exec(stmt)).all()

    async def villages_of(self, staff_id: int) -> Sequence[StaffVillage]:
        return (await self.session.exec(select(StaffVillage).where(StaffVillage.staff_id == staff_id))).all()

    async def village_names(self, staff_id: int) -> list[str]:
        stmt = (
            select(Village.name)
            .join(StaffVillage, col(StaffVillage.village_id) == Village.id)
            .where(StaffVillage.staff_id == staff_id)
            .order_by(col(Village.position))
        )
        return list((await self.session.exec(stmt)).all())

    async def heads_of(self, village_id: int) -> Sequence[Staff]:
        stmt = (
            select(Staff)
            .join(StaffVillage, col(StaffVillage.staff_id) == Staff.id)
            .where(StaffVillage.village_id == village_id, Staff.role == "village_head")
            .order_by(col(Staff.id))
        )
        return (await self.session.exec(stmt)).all()

    async def remove(self, staff: Staff) -> None:
        await self.session.exec(delete(StaffVillage).where(col(StaffVillage.staff_id) == staff.id))  # type: ignore[call-overload]
        await self.session.exec(  # type: ignore[call-overload]
            update(Submission).where(col(Submission.entered_by_staff_id) == staff.id).values(entered_by_staff_id=None)
        )
        await self.session.delete(staff)

    async def audit_since(self, action: str, since: datetime) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).where(AuditEntry.action == action, col(AuditEntry.at) >= since).order_by(col(AuditEntry.id))
        return (await self.session.exec(stmt)).all()

    async def counted_entry(self, actor: str, action: str, target: str, minute: datetime) -> AuditEntry | None:
        """The row counting this event in the minute starting at `minute` (it bears that time), held
        until commit so that counts add up: concurrent events of the same minute wait for each other
        here, so only the first creates the row and the others count in it."""
        await serialised(self.session, f"audit:{actor}:{action}:{target}:{minute.isoformat()}")
        stmt = (
            select(AuditEntry)
            .where(AuditEntry.action == action, col(AuditEntry.at) == minute, AuditEntry.actor == actor, AuditEntry.target == target)
            .order_by(col(AuditEntry.id))
            .limit(1)
            .with_for_update()
        )
        return (await self.session.exec(stmt)).first()

    async def audit_log(self, limit: int | None = None) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).order_by(col(AuditEntry.id).desc())
        if limit:
            stmt = stmt.limit(limit)
        return (await self.session.exec(stmt)).all()


class SessionRepository(Repository):
    """The console's signed-in sessions, by the SHA-256 of the token the browser holds."""

    async def open(self, key: str, staff_id: int, now: datetime, expires_at: datetime) -> None:
        self.session.add(WebSession(id=key, staff_id=staff_id, created_at=now, last_seen_at=now, expires_at=expires_at))

    async def get(self, key: str) -> WebSession | None:
        return await self.session.get(WebSession, key)

    async def touch(self, key: str, now: datetime, expires_at: datetime) -> None:
        stmt = update(WebSession).where(col(WebSession.id) == key).values(last_seen_at=now, expires_at=expires_at)
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def end(self, key: str) -> None:
        await self.session.exec(delete(WebSession).where(col(WebSession.id) == key))  # type: ignore[call-overload]

    async def end_for(self, staff_id: int) -> int:
        return (await self.session.exec(delete(WebSession).where(col(WebSession.staff_id) == staff_id))).rowcount  # type: ignore[call-overload]

    async def forget_expired(self, now: datetime) -> int:
        return (await self.session.exec(delete(WebSession).where(col(WebSession.expires_at) <= now))).rowcount  # type: ignore[call-overload]

