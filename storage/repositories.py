"""Repositories: the only place that builds queries. Portable SQL: SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Sequence

from sqlalchemy import Row, String, and_, bindparam, cast, delete, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AuditEntry,
    ChannelToken,
    ChatChoice,
    Commune,
    Inbound,
    Meeting,
    MeetingVillage,
    NoticeRun,
    Outbox,
    ProcessedUpdate,
    Resident,
    Staff,
    StaffVillage,
    Submission,
    Topic,
    UTCDateTime,
    Village,
    WebSession,
    utcnow,
)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert_ignoring_conflict(session: AsyncSession, table: Any, values: dict) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the dialect at hand."""
    return _insert_ignoring(_dialect(session), table).values(**values).on_conflict_do_nothing()


class _Prepared:
    """A statement run on every update or message, built once per dialect with bound parameters:
    SQLAlchemy then neither rebuilds it nor works out its cache key again on each call."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        self.build = build
        self.by_dialect: dict[str, Any] = {}

    def __call__(self, session: AsyncSession) -> Any:
        dialect = _dialect(session)
        stmt = self.by_dialect.get(dialect)
        if stmt is None:
            stmt = self.by_dialect[dialect] = self.build(dialect)
        return stmt


def _insert_ignoring(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which can be told to ignore a conflict (`.on_conflict_do_nothing()`)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def _grouped(session: AsyncSession, model: Any, owner: str, owner_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The rows of `model` (villages, topics: they have a position) of each owner, in their order, in one query."""
    out: dict[int, list[Any]] = {oid: [] for oid in owner_ids}
    if owner_ids:
        stmt = select(model).where(col(getattr(model, owner)).in_(list(owner_ids))).order_by(col(model.position), col(model.id))
        for row in (await session.exec(stmt)).all():
            out[getattr(row, owner)].append(row)
    return out


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, obj: Any) -> Any:
        self.session.add(obj)
        return obj


class CommuneRepository(_Repository):
    async def by_code(self, code: str) -> Commune | None:
        return (await self.session.exec(select(Commune).where(Commune.code == code))).first()

    async def get(self, commune_id: int) -> Commune | None:
        return await self.session.get(Commune, commune_id)

    async def resolve(self, code: str | None) -> Commune | None:
        """The commune a bot serves: by its code, or, for a bot with none, the only commune there is."""
        if code is not None:
            return await self.by_code(code)
        found = (await self.session.exec(self._ONLY(self.session))).all()
        return found[0] if len(found) == 1 else None

    _ONLY = _Prepared(lambda _: select(Commune).limit(2))

    async def all(self) -> Sequence[Commune]:
        return (await self.session.exec(select(Commune).order_by(col(Commune.code)))).all()

    async def next_ref_number(self, commune_id: int) -> int:
        # One UPDATE … RETURNING: the row lock (or SQLite's write lock) makes concurrent
        # registrations take consecutive numbers with no duplicates and no gaps.
        stmt = (
            update(Commune)
            .where(col(Commune.id) == commune_id)
            .values(last_ref=Commune.last_ref + 1)
            .returning(Commune.last_ref)
        )
        return (await self.session.exec(stmt)).scalar_one()  # type: ignore[call-overload]

    async def villages(self, commune_id: int) -> Sequence[Village]:
        stmt = select(Village).where(Village.commune_id == commune_id).order_by(col(Village.position), col(Village.id))
        return (await self.session.exec(stmt)).all()

    async def villages_of(self, commune_ids: Sequence[int]) -> dict[int, list[Village]]:
        """Each of these communes' villages, in their order: one query however many communes (a district's console)."""
        return await _grouped(self.session, Village, "commune_id", commune_ids)


class MeetingRepository(_Repository):
    async def by_code(self, code: str) -> Meeting | None:
        return (await self.session.exec(select(Meeting).where(Meeting.code == code))).first()

    async def get(self, meeting_id: int) -> Meeting | None:
        return await self.session.get(Meeting, meeting_id)

    async def all(self) -> Sequence[tuple[Meeting, Commune]]:
        stmt = select(Meeting, Commune).join(Commune, col(Commune.id) == Meeting.commune_id).order_by(col(Meeting.starts_at))
        return (await self.session.exec(stmt)).all()

    async def upcoming(self, now: datetime) -> Sequence[tuple[Meeting, Commune]]:
        """Meetings not yet over, with their commune: what the scheduler looks at."""
        stmt = (
            select(Meeting, Commune)
            .join(Commune, col(Commune.id) == Meeting.commune_id)
            .where(col(Meeting.ends_at) >= now)
            .order_by(col(Meeting.starts_at))
        )
        return (await self.session.exec(stmt)).all()

    # Asked on most steps of a conversation: built once (see _Prepared).
    _UPCOMING = _Prepared(
        lambda _: select(Meeting).where(Meeting.commune_id == bindparam("commune_id"), col(Meeting.ends_at) >= bindparam("now", type_=UTCDateTime()))
        .order_by(col(Meeting.starts_at), col(Meeting.id)).limit(1)
    )
    _LATEST = _Prepared(
        lambda _: select(Meeting).where(Meeting.commune_id == bindparam("commune_id"))
        .order_by(col(Meeting.starts_at).desc(), col(Meeting.id).desc()).limit(1)
    )

    async def current(self, now: datetime, commune_id: int) -> Meeting | None:
        """The meeting a commune's residents are talking about: its next one not yet over, else its latest past one."""
        meeting = (await self.session.exec(self._UPCOMING(self.session), params={"commune_id": commune_id, "now": now})).first()
        if meeting is None:
            meeting = (await self.session.exec(self._LATEST(self.session), params={"commune_id": commune_id})).first()
        return meeting

    @staticmethod
    def _invited(active_only: bool) -> Any:
        stmt = (
            select(Village)
            .join(MeetingVillage, col(MeetingVillage.village_id) == Village.id)
            .where(MeetingVillage.meeting_id == bindparam("meeting_id"))
            .order_by(col(MeetingVillage.position), col(Village.id))
        )
        return stmt.where(col(Village.active).is_(True)) if active_only else stmt

    _INVITED = {flag: _Prepared(lambda _, flag=flag: MeetingRepository._invited(flag)) for flag in (True, False)}

    async def invited_villages(self, meeting_id: int, *, active_only: bool = True) -> Sequence[Village]:
        return (await self.session.exec(self._INVITED[active_only](self.session), params={"meeting_id": meeting_id})).all()

    async def invitation_links(self, meeting_id: int) -> Sequence[MeetingVillage]:
        return (await self.session.exec(select(MeetingVillage).where(MeetingVillage.meeting_id == meeting_id))).all()

    async def remove_invitation(self, link: MeetingVillage) -> None:
        await self.session.delete(link)

    async def uninvite_village(self, village_id: int) -> None:
        await self.session.exec(delete(MeetingVillage).where(col(MeetingVillage.village_id) == village_id))  # type: ignore[call-overload]

    @staticmethod
    def _topics(active_only: bool) -> Any:
        stmt = select(Topic).where(Topic.meeting_id == bindparam("meeting_id")).order_by(col(Topic.position), col(Topic.id))
        return stmt.where(col(Topic.active).is_(True)) if active_only else stmt

    _TOPICS = {flag: _Prepared(lambda _, flag=flag: MeetingRepository._topics(flag)) for flag in (True, False)}

    async def topics(self, meeting_id: int, *, active_only: bool = True) -> Sequence[Topic]:
        return (await self.session.exec(self._TOPICS[active_only](self.session), params={"meeting_id": meeting_id})).all()

    async def topics_of(self, meeting_ids: Sequence[int]) -> dict[int, list[Topic]]:
        """Each of these meetings' topics, retired ones included, in their order: one query for them all."""
        return await _grouped(self.session, Topic, "meeting_id", meeting_ids)

    async def topic(self, topic_id: int) -> Topic | None:
        return await self.session.get(Topic, topic_id)

    async def village(self, village_id: int) -> Village | None:
        return await self.session.get(Village, village_id)

    async def delete(self, obj: Any) -> None:
        await self.session.delete(obj)


class ResidentRepository(_Repository):
    async def get(self, resident_id: int) -> Resident | None:
        return await self.session.get(Resident, resident_id)

    _FIND = _Prepared(lambda _: select(Resident).where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id")))

    async def find(self, channel: str, external_id: str) -> Resident | None:
        return (await self.session.exec(self._FIND(self.session), params={"channel": channel, "external_id": external_id})).first()

    # A Telegram resident who is also staff has the same user id in both tables.
    _FIND_WITH_STAFF = _Prepared(
        lambda _: select(Resident, Staff)
        .outerjoin(Staff, col(Staff.telegram_id) == Resident.external_id)
        .where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id"))
    )

    async def find_with_staff(self, channel: str, telegram_id: str) -> tuple[Resident, Staff | None] | None:
        """A Telegram resident and, if they are staff too, their staff record: one query for both."""
        params = {"channel": channel, "external_id": telegram_id}
        found = (await self.session.exec(self._FIND_WITH_STAFF(self.session), params=params)).first()
        return (found[0], found[1]) if found is not None else None

    async def delete(self, resident: Resident) -> None:
        await self.session.delete(resident)

    async def by_ids(self, ids: list[int]) -> Sequence[Resident]:
        if not ids:
            return []
        return (await self.session.exec(select(Resident).where(col(Resident.id).in_(ids)).order_by(col(Resident.id)))).all()

    async def in_villages(self, village_ids: list[int]) -> Sequence[Resident]:
        if not village_ids:
            return []
        stmt = select(Resident).where(col(Resident.village_id).in_(village_ids)).order_by(col(Resident.id))
        return (await self.session.exec(stmt)).all()

    async def with_open_form(self) -> Sequence[Resident]:
        # Compared as text: PostgreSQL's json type has no equality operator.
        stmt = select(Resident).where(cast(Resident.state, String) != "{}").order_by(col(Resident.id))
        return (await self.session.exec(stmt)).all()

    async def mark_unreachable(self, channel: str, chat_id: str, now: datetime) -> None:
        stmt = update(Resident).where(col(Resident.channel) == channel, col(Resident.chat_id) == chat_id).values(unreachable_at=now)
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def delete_inactive(self, cutoff: datetime) -> int:
        """Residents who consented before `cutoff` and have no question left to be answered."""
        referenced = select(Submission.resident_id).where(col(Submission.resident_id).is_not(None))
        stmt = delete(Resident).where(col(Resident.created_at) < cutoff, col(Resident.id).not_in(referenced))
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]


@dataclass(frozen=True)
class SubmissionFilter:
    """What the console's submission list is narrowed to. None means any."""

    meeting_id: int | None = None
    village_id: int | None = None
    topic_id: int | None = None
    status: str | None = None
    wants_to_speak: bool | None = None
    channel: str | None = None
    department: str | None = None
    commune_id: int | None = None
    text: str | None = None
    offset: int = 0
    limit: int = 50

    def restricted_to(self, department: str) -> "SubmissionFilter":
        return replace(self, department=department)

    def in_commune(self, commune_id: int) -> "SubmissionFilter":
        return replace(self, commune_id=commune_id)


@dataclass(frozen=True)
class SubmissionRow:
    """A submission with the names it points to, for listings and exports."""

    submission: Submission
    meeting_code: str
    village: str
    topic: str


class SubmissionRepository(_Repository):
    async def get(self, submission_id: int) -> Submission | None:
        return await self.session.get(Submission, submission_id)

    async def by_ref(self, ref: str) -> Submission | None:
        return (await self.session.exec(select(Submission).where(Submission.ref == ref))).first()

    async def for_meeting(self, meeting_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.meeting_id == meeting_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def by_resident(self, resident_id: int) -> Sequence[SubmissionRow]:
        return await self._rows(Submission.resident_id == resident_id)

    async def listing(self, meeting_code: str | None = None) -> Sequence[SubmissionRow]:
        return await self._rows(Meeting.code == meeting_code if meeting_code else None)

    async def _rows(self, where: Any, *, offset: int = 0, limit: int | None = None) -> Sequence[SubmissionRow]:
        stmt = (
            select(Submission, Meeting.code, Village.name, Topic.name)
            .join(Meeting, col(Meeting.id) == Submission.meeting_id)
            .join(Village, col(Village.id) == Submission.village_id)
            .join(Topic, col(Topic.id) == Submission.topic_id)
            .order_by(col(Submission.id))
            .offset(offset)
            .limit(limit)
        )
        if where is not None:
            stmt = stmt.where(where)
        return [SubmissionRow(s, m, v, t) for s, m, v, t in (await self.session.exec(stmt)).all()]

    async def for_village(self, village_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.village_id == village_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def duplicates_of(self, submission_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.duplicate_of_id == submission_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def search(self, flt: SubmissionFilter) -> tuple[Sequence[SubmissionRow], int]:
        """A page of submissions matching the filter, and how many match in all."""
        conditions: list[Any] = []
        for column, value in (
            (Submission.meeting_id, flt.meeting_id), (Submission.village_id, flt.village_id), (Submission.topic_id, flt.topic_id),
            (Submission.status, flt.status), (Submission.wants_to_speak, flt.wants_to_speak), (Submission.channel, flt.channel),
            (Submission.department, flt.department),
        ):
            if value is not None:
                conditions.append(col(column) == value)
        if flt.commune_id is not None:
            conditions.append(col(Submission.meeting_id).in_(select(Meeting.id).where(Meeting.commune_id == flt.commune_id)))
        if flt.text:
            typed = flt.text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{typed}%"
            conditions.append(or_(*(
                func.lower(column).like(like, escape="\\")
                for column in (Submission.question, Submission.ref, func.coalesce(Submission.name, ""))
            )))
        where = and_(*conditions) if conditions else None
        total_stmt = select(func.count()).select_from(Submission)
        if where is not None:
            total_stmt = total_stmt.where(where)
        total = (await self.session.exec(total_stmt)).one()
        rows = await self._rows(where, offset=flt.offset, limit=flt.limit)
        return rows, total

    async def count_for_village(self, village_id: int) -> int:
        stmt = select(func.count()).select_from(Submission).where(Submission.village_id == village_id)
        return (await self.session.exec(stmt)).one()

    async def count_for_topic(self, topic_id: int) -> int:
        stmt = select(func.count()).select_from(Submission).where(Submission.topic_id == topic_id)
        return (await self.session.exec(stmt)).one()

    async def anonymise_for(self, resident_id: int) -> int:
        stmt = (
            update(Submission)
            .where(col(Submission.resident_id) == resident_id)
            .values(resident_id=None, name=None, phone=None, anonymised=True)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]


    async def anonymise_ended_before(self, cutoff: datetime) -> int:
        ended = select(Meeting.id).where(col(Meeting.ends_at) < cutoff)
        stmt = (
            update(Submission)
            .where(col(Submission.anonymised).is_(False), col(Submission.meeting_id).in_(ended))
            .values(resident_id=None, name=None, phone=None, anonymised=True)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]


class UpdateLog(_Repository):
    async def forget_before(self, cutoff: datetime) -> int:
        """Platforms redeliver within a day; older records only take space."""
        stmt = delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def seen(self, channel: str, update_id: str) -> bool:
        stmt = select(ProcessedUpdate).where(ProcessedUpdate.channel == channel, ProcessedUpdate.update_id == update_id)
        return (await self.session.exec(stmt)).first() is not None

    _RECORD = _Prepared(lambda dialect: _insert_ignoring(dialect, ProcessedUpdate.__table__).on_conflict_do_nothing())  # type: ignore[attr-defined]

    async def first_time(self, channel: str, update_id: str) -> bool:
        """Record the update; False when it was already processed (a redelivery)."""
        values = {"channel": channel, "update_id": update_id, "processed_at": utcnow()}
        return (await self.session.exec(self._RECORD(self.session), params=values)).rowcount == 1  # type: ignore[call-overload]


# Built once: making an alias costs more than the query it is used in, once per message sent.
_FIRST_OUTBOX = aliased(Outbox)
# The sending path runs once per message: plain Core statements on the table, which skip the ORM's
# per-statement work (entity loading, keeping the session in step with a bulk UPDATE).
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_FIRST = _OUTBOX.alias("first")
# A message that leaves "pending" (or comes back to it) is nobody's: claims are about what is still to send.
UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claimed_until": None}


def _head_id() -> Any:
    """The id of the chat's (:b_channel, :b_chat_id) oldest pending message: the only one that may go next.
    (Parameters named like a column are kept for that column's value in an UPDATE: hence "b_".)"""
    first = _FIRST
    return (
        core_select(func.min(first.c.id))
        .where(first.c.channel == bindparam("b_channel"), first.c.chat_id == bindparam("b_chat_id"), first.c.status == "pending")
        .scalar_subquery()
    )


_WORKER, _UNTIL = bindparam("worker", type_=String()), bindparam("until", type_=UTCDateTime())
_CLAIM = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == _head_id(),
        _OUTBOX.c.status == "pending",
        or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now", type_=UTCDateTime()), _OUTBOX.c.claimed_by == _WORKER),
    )
    .values(claimed_by=_WORKER, claimed_until=_UNTIL)
    .returning(*_OUTBOX.c)
)
_PASS_CLAIM = update(_OUTBOX).where(_OUTBOX.c.id == _head_id()).values(claimed_by=_WORKER, claimed_until=_UNTIL).returning(*_OUTBOX.c)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(status="sent", attempts=_OUTBOX.c.attempts + 1, sent_at=bindparam("now", type_=UTCDateTime()), last_error=None, **UNCLAIMED)
)
_DELETE = delete(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))
_ENQUEUE = _Prepared(lambda dialect: _insert_ignoring(dialect, _OUTBOX).on_conflict_do_nothing().returning(_OUTBOX.c.id))


class OutboxRepository(_Repository):
    async def enqueue(
        self, *, key: str, channel: str, chat_id: str, payload: dict, transient: bool = False,
        kind: str = "reply", meeting_id: int | None = None, priority: int = 0, status: str = "pending",
    ) -> int | None:
        """Queue a message once per key; returns its id, or None when the key was already queued."""
        values = {
            "key": key, "channel": channel, "chat_id": chat_id, "payload": payload, "status": status,
            "transient": transient, "kind": kind, "meeting_id": meeting_id, "priority": priority,
            "attempts": 0, "created_at": utcnow(),
        }
        return (await self.session.exec(_ENQUEUE(self.session), params=values)).scalar_one_or_none()  # type: ignore[call-overload]

    async def pending_for_chat(self, channel: str, chat_id: str) -> Sequence[Outbox]:
        stmt = (
            select(Outbox)
            .where(Outbox.channel == channel, Outbox.chat_id == chat_id, Outbox.status == "pending")
            .order_by(col(Outbox.id))
        )
        return (await self.session.exec(stmt)).all()

    @staticmethod
    def _head(channel: Any, chat_id: Any) -> Any:
        """The id of a chat's oldest pending message: the only one that may go next (order is kept per chat)."""
        first = _FIRST_OUTBOX
        return (
            select(func.min(first.id))
            .where(first.channel == channel, first.chat_id == chat_id, first.status == "pending")
            .scalar_subquery()
        )

    async def claim_due(self, channel: str, now: datetime, limit: int, worker: str, until: datetime) -> list[str]:
        """Claim for `worker` the chats whose next message may go now and that no worker serves.

        Workers scanning at the same moment skip each other's candidate rows (FOR UPDATE SKIP LOCKED,
        on PostgreSQL) rather than queue behind them, and the claim (on the chat's oldest pending
        message) keeps every other worker off that chat until it is released or lapses.
        """
        stmt = (
            select(Outbox.id, Outbox.chat_id)
            .where(
                Outbox.channel == channel,
                Outbox.status == "pending",
                col(Outbox.id) == self._head(Outbox.channel, Outbox.chat_id),
                or_(col(Outbox.next_attempt_at).is_(None), col(Outbox.next_attempt_at) <= now),
                or_(col(Outbox.claimed_until).is_(None), col(Outbox.claimed_until) < now),
            )
            .order_by(col(Outbox.priority).desc(), col(Outbox.id))
            .limit(limit)
            .with_for_update(skip_locked=True, of=Outbox)  # type: ignore[arg-type]
        )
        rows = (await self.session.exec(stmt)).all()
        if rows:
            claim = update(Outbox).where(col(Outbox.id).in_([r[0] for r in rows])).values(claimed_by=worker, claimed_until=until)
            await self.session.exec(claim)  # type: ignore[call-overload]
        return [chat_id for _, chat_id in rows]

    async def claim_chat(self, channel: str, chat_id: str, now: datetime, worker: str, until: datetime) -> Row | None:
        """Claim one chat (to send a reply at once): its next message, now `worker`'s; None when
        nothing is pending or another worker serves the chat (it will send this too)."""
        params = {"b_channel": channel, "b_chat_id": chat_id, "now": now, "worker": worker, "until": until}
        return (await self.session.exec(_CLAIM, params=params)).first()  # type: ignore[call-overload]

    async def next_claimed(self, channel: str, chat_id: str, worker: str, now: datetime) -> Row | None:
        """The chat's next message, when `worker`'s claim on the chat still holds."""
        t = _OUTBOX
        stmt = core_select(t).where(t.c.channel == channel, t.c.chat_id == chat_id, t.c.status == "pending").order_by(t.c.id).limit(1)
        row = (await self.session.exec(stmt)).first()  # type: ignore[call-overload]
        if row is None or row.claimed_by != worker or row.claimed_until is None or row.claimed_until <= now:
            return None
        return row

    async def pass_claim(self, channel: str, chat_id: str, worker: str, until: datetime) -> Row | None:
        """Hand the claim on to the chat's new oldest pending message (in the transaction that sent the
        last) and return it; None when there is none: the chat is done."""
        params = {"b_channel": channel, "b_chat_id": chat_id, "worker": worker, "until": until}
        return (await self.session.exec(_PASS_CLAIM, params=params)).first()  # type: ignore[call-overload]

    async def claimants(self) -> list[str]:
        """The workers holding claims now."""
        stmt = select(Outbox.claimed_by).where(col(Outbox.claimed_by).is_not(None)).distinct()
        return [w for w in (await self.session.exec(stmt)).all() if w]

    async def release_worker(self, worker: str) -> int:
        """Every claim of a worker known to be gone."""
        stmt = update(Outbox).where(col(Outbox.claimed_by) == worker).values(**UNCLAIMED)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def release_claims(self, channel: str, chat_id: str, worker: str) -> None:
        stmt = (
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == "pending", col(Outbox.claimed_by) == worker)
            .values(claimed_by=None, claimed_until=None)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def counts(self) -> Sequence[tuple[str | None, str, str, int]]:
        """(meeting code, kind, status, count), every message accounted for."""
        stmt = (
            select(Meeting.code, Outbox.kind, Outbox.status, func.count())
            .select_from(Outbox)
            .outerjoin(Meeting, col(Meeting.id) == Outbox.meeting_id)
            .group_by(Meeting.code, Outbox.kind, Outbox.status)
            .order_by(Meeting.code, Outbox.kind, Outbox.status)
        )
        return (await self.session.exec(stmt)).all()  # type: ignore[return-value]

    async def counts_by_origin(self) -> Sequence[tuple[str | None, int | None, str, str, str, int]]:
        """(meeting code, meeting's commune id, bot, kind, status, count): what a commune's staff may be shown
        is decided from the meeting or, for messages of no meeting (replies, village notices), the bot."""
        stmt = (
            select(Meeting.code, Meeting.commune_id, Outbox.channel, Outbox.kind, Outbox.status, func.count())
            .select_from(Outbox)
            .outerjoin(Meeting, col(Meeting.id) == Outbox.meeting_id)
            .group_by(Meeting.code, Meeting.commune_id, Outbox.channel, Outbox.kind, Outbox.status)
        )
        return (await self.session.exec(stmt)).all()  # type: ignore[return-value]

    async def answers_sent(self, refs: list[str]) -> int:
        """How many of these submissions have had an answer delivered (to the resident or, for paper, the head)."""
        if not refs:
            return 0
        stmt = select(Outbox.key).where(Outbox.kind == "answer", Outbox.status == "sent", col(Outbox.key).like("answer:%"))
        sent = {key.split(":")[1] for key in (await self.session.exec(stmt)).all()}
        return len(sent & set(refs))

    async def answers_not_delivered(self, refs: list[str]) -> set[str]:
        """Those of these submissions whose answer is set aside (unreachable) or gave up (failed)."""
        if not refs:
            return set()
        stmt = select(Outbox.key).where(Outbox.kind == "answer", col(Outbox.status).in_(("unreachable", "failed")), col(Outbox.key).like("answer:%"))
        return {key.split(":")[1] for key in (await self.session.exec(stmt)).all()} & set(refs)

    async def batch_counts(self, key_prefix: str) -> dict[str, int]:
        """Recipients of one broadcast (their keys share a prefix) by status. A message sent in parts (a text
        and a file: keys "k", "k#1"…) counts once: pending while any part is, else as its first part went."""
        stmt = select(Outbox.key, Outbox.status).where(col(Outbox.key).startswith(key_prefix, autoescape=True))
        recipients: dict[str, list[tuple[str, str]]] = {}
        for key, status in (await self.session.exec(stmt)).all():
            recipients.setdefault(key.partition("#")[0], []).append((key, status))
        counts: dict[str, int] = {}
        for parts in recipients.values():
            statuses = [status for _, status in sorted(parts, key=lambda p: (len(p[0]), p[0]))]
            status = "pending" if "pending" in statuses else statuses[0]
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def requeue_failed(self) -> int:
        stmt = update(Outbox).where(col(Outbox.status) == "failed").values(status="pending", attempts=0, next_attempt_at=None, **UNCLAIMED)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def revive_chat(self, channel: str, chat_id: str, kinds: tuple[str, ...]) -> int:
        """Set-aside messages of these kinds go out again (the person wrote: the chat works again)."""
        stmt = (
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == "unreachable", col(Outbox.kind).in_(kinds))
            .values(status="pending", attempts=0, next_attempt_at=None, **UNCLAIMED)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def mark_chat_unreachable(self, channel: str, chat_id: str, error: str) -> None:
        stmt = (
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == "pending")
            .values(status="unreachable", last_error=error, **UNCLAIMED)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def mark(self, outbox_id: int, *, status: str, error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "attempts": Outbox.attempts + 1, "last_error": error, **UNCLAIMED}
        if status == "sent":
            values["sent_at"] = utcnow()
        await self.session.exec(update(Outbox).where(col(Outbox.id) == outbox_id).values(**values))  # type: ignore[call-overload]

    async def mark_sent(self, outbox_id: int) -> None:
        await self.session.exec(_MARK_SENT, params={"b_id": outbox_id, "now": utcnow()})  # type: ignore[call-overload]

    async def delete(self, outbox_id: int) -> None:
        await self.session.exec(_DELETE, params={"b_id": outbox_id})  # type: ignore[call-overload]

    async def retry_later(self, outbox_id: int, error: str, at: datetime) -> None:
        stmt = (
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(attempts=Outbox.attempts + 1, last_error=error, next_attempt_at=at)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def delete_delivered_before(self, cutoff: datetime) -> int:
        stmt = delete(Outbox).where(col(Outbox.status).in_(("sent", "failed")), col(Outbox.created_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def forget_chat(self, channel: str, chat_id: str) -> None:
        """Drop a resident's messages (they carry their name and questions) when they erase their data."""
        await self.session.exec(delete(Outbox).where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id))  # type: ignore[call-overload]


class NoticeLog(_Repository):
    async def fired(self, meeting_id: int) -> set[str]:
        stmt = select(NoticeRun.kind).where(NoticeRun.meeting_id == meeting_id)
        return set((await self.session.exec(stmt)).all())

    async def record(self, run: NoticeRun) -> None:
        # A plain insert: if another process fired the same notice first, the primary key fails
        # this whole transaction, messages included, so the notice goes out once.
        self.session.add(run)
        await self.session.flush()

    async def all(self) -> Sequence[NoticeRun]:
        return (await self.session.exec(select(NoticeRun).order_by(col(NoticeRun.fired_at)))).all()


class StaffRepository(_Repository):
    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    _BY_TELEGRAM = _Prepared(lambda _: select(Staff).where(Staff.telegram_id == bindparam("telegram_id")))

    async def by_telegram(self, telegram_id: str) -> Staff | None:
        return (await self.session.exec(self._BY_TELEGRAM(self.session), params={"telegram_id": telegram_id})).first()

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
        until commit so that counts add up."""
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


class SessionRepository(_Repository):
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


class ChoiceRepository(_Repository):
    """What a chat on a channel without buttons was last offered to choose from."""

    async def get(self, channel: str, chat_id: str) -> list[dict]:
        row = await self.session.get(ChatChoice, (channel, chat_id))
        return list(row.choices) if row is not None else []

    async def remember(self, channel: str, chat_id: str, choices: list[dict], now: datetime) -> None:
        row = await self.session.get(ChatChoice, (channel, chat_id))
        if row is None:
            self.session.add(ChatChoice(channel=channel, chat_id=chat_id, choices=choices, shown_at=now))
        else:
            row.choices, row.shown_at = list(choices), now

    async def forget(self, channel: str, chat_id: str) -> None:
        await self.session.exec(delete(ChatChoice).where(col(ChatChoice.channel) == channel, col(ChatChoice.chat_id) == chat_id))  # type: ignore[call-overload]

    async def forget_before(self, cutoff: datetime) -> int:
        stmt = delete(ChatChoice).where(col(ChatChoice.shown_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]


class InboxRepository(_Repository):
    """Webhook deliveries waiting to be handled, in arrival order per chat."""

    async def add(self, channel: str, update_key: str, chat_id: str, payload: dict, now: datetime) -> bool:
        """Store a delivery once; False when the platform had delivered it already."""
        values = {"channel": channel, "update_key": update_key, "chat_id": chat_id, "payload": payload, "received_at": now, "attempts": 0}
        return (await self.session.exec(_insert_ignoring_conflict(self.session, Inbound, values))).rowcount == 1  # type: ignore[call-overload]

    async def chats(self, limit: int | None = 500) -> list[tuple[str, str]]:
        stmt = select(Inbound.channel, Inbound.chat_id).group_by(Inbound.channel, Inbound.chat_id).order_by(func.min(Inbound.id)).limit(limit)
        return [(c, chat) for c, chat in (await self.session.exec(stmt)).all()]

    async def for_chat(self, channel: str, chat_id: str, limit: int | None = None) -> Sequence[Inbound]:
        stmt = select(Inbound).where(Inbound.channel == channel, Inbound.chat_id == chat_id).order_by(col(Inbound.id)).limit(limit)
        return (await self.session.exec(stmt)).all()

    async def get(self, inbound_id: int) -> Inbound | None:
        return await self.session.get(Inbound, inbound_id)

    async def done(self, inbound_id: int) -> None:
        await self.session.exec(delete(Inbound).where(col(Inbound.id) == inbound_id))  # type: ignore[call-overload]

    async def count(self) -> int:
        return (await self.session.exec(select(func.count()).select_from(Inbound))).one()


class TokenRepository(_Repository):
    async def get(self, channel: str, *, for_update: bool = False) -> ChannelToken | None:
        """`for_update`: hold the row until commit, so workers refreshing at once take turns."""
        stmt = select(ChannelToken).where(ChannelToken.channel == channel)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def seed(self, channel: str, access_token: str, refresh_token: str, now: datetime) -> None:
        """The settings' first pair, unless a pair is stored already (another worker may seed at the same moment)."""
        values = {"channel": channel, "access_token": access_token, "refresh_token": refresh_token, "updated_at": now}
        await self.session.exec(_insert_ignoring_conflict(self.session, ChannelToken, values))  # type: ignore[call-overload]

    async def save(self, channel: str, access_token: str, refresh_token: str, expires_at: datetime | None, now: datetime) -> None:
        row = await self.session.get(ChannelToken, channel)
        if row is None:
            self.session.add(ChannelToken(channel=channel, access_token=access_token, refresh_token=refresh_token, expires_at=expires_at, updated_at=now))
        else:
            row.access_token, row.refresh_token, row.expires_at, row.updated_at = access_token, refresh_token, expires_at, now
