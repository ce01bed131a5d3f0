"""The outbox: messages waiting to go, the claims that keep one worker on a chat, and what was delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Row, String, bindparam, delete, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select

from bot.domain.outbox import Delivery, Purpose
from storage.models import Meeting, Outbox, UTCDateTime, utcnow
from storage.repositories.base import Prepared, Repository, dialect_of, insert_ignoring

# The sending path runs once per message: plain Core statements on the table, built once, which skip the
# ORM's per-statement work (entity loading, keeping the session in step with a bulk UPDATE).
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
# A message that leaves "pending" (or comes back to it) is nobody's: claims are about what is still to send.
UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claimed_until": None}


def _head_of_chat(channel: Any, chat_id: Any, *, besides: Any = None) -> Any:
    """The id of a chat's oldest pending message: the only one that may go next (order is kept per chat).
    `besides`: leaving that message out."""
    first = _OUTBOX.alias("first")
    where = [first.c.channel == channel, first.c.chat_id == chat_id, first.c.status == Delivery.PENDING]
    if besides is not None:
        where.append(first.c.id != besides)
    return core_select(func.min(first.c.id)).where(*where).scalar_subquery()


# The head of each chat a scan looks at (correlated with the scanned row), and of the one chat named by
# :b_channel, :b_chat_id. (Parameters named like a column are kept for that column's value in an UPDATE: hence "b_".)
_HEAD_OF_EACH_CHAT = _head_of_chat(_OUTBOX.c.channel, _OUTBOX.c.chat_id)
_HEAD_OF_NAMED_CHAT = _head_of_chat(bindparam("b_channel"), bindparam("b_chat_id"))

# What sending a message reads of its row (bot/delivery/sender.py): a claim returns no more, as
# every column returned is one more value to convert.
_SENDING = tuple(_OUTBOX.c[name] for name in ("id", "payload", "kind", "transient", "attempts", "next_attempt_at", "claimed_by", "claimed_until"))
_WORKER, _UNTIL = bindparam("worker", type_=String()), bindparam("until", type_=UTCDateTime())
_CLAIM = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == _HEAD_OF_NAMED_CHAT,
        _OUTBOX.c.status == Delivery.PENDING,
        or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now", type_=UTCDateTime()), _OUTBOX.c.claimed_by == _WORKER),
    )
    .values(claimed_by=_WORKER, claimed_until=_UNTIL)
    .returning(*_SENDING)
)
_PASS_CLAIM = update(_OUTBOX).where(_OUTBOX.c.id == _HEAD_OF_NAMED_CHAT).values(claimed_by=_WORKER, claimed_until=_UNTIL).returning(*_SENDING)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(status=Delivery.SENT, attempts=_OUTBOX.c.attempts + 1, sent_at=bindparam("now", type_=UTCDateTime()), last_error=None, **UNCLAIMED)
)
_NEXT = core_select(*_SENDING).where(_OUTBOX.c.id == _HEAD_OF_NAMED_CHAT)
_DELETE = delete(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))


def _recorded_and_passed(record: Any) -> Any:
    """One statement for PostgreSQL, where each statement is a round trip: a message's delivery
    recorded (`record`, in a data-modifying CTE) and the chat's claim passed on to its next message,
    returned. Both parts see the same snapshot, in which the message just recorded is still pending:
    hence the head is looked for besides it."""
    head = _head_of_chat(bindparam("b_channel"), bindparam("b_chat_id"), besides=bindparam("b_id"))
    return (
        update(_OUTBOX).where(_OUTBOX.c.id == head).values(claimed_by=_WORKER, claimed_until=_UNTIL).returning(*_SENDING)
        .add_cte(record.cte("recorded"))
    )


_SENT_AND_PASSED, _DELETED_AND_PASSED = _recorded_and_passed(_MARK_SENT), _recorded_and_passed(_DELETE)
_ENQUEUE = Prepared(lambda dialect: insert_ignoring(dialect, _OUTBOX).on_conflict_do_nothing().returning(_OUTBOX.c.id))


class OutboxRepository(Repository):
    async def enqueue(
        self, *, key: str, channel: str, chat_id: str, payload: dict, transient: bool = False,
        kind: str = Purpose.REPLY, meeting_id: int | None = None, priority: int = 0, status: str = Delivery.PENDING,
    ) -> int | None:
        """Queue a message once per key; returns its id, or None when the key was already queued."""
        values = {
            "key": key, "channel": channel, "chat_id": chat_id, "payload": payload, "status": status,
            "transient": transient, "kind": kind, "meeting_id": meeting_id, "priority": priority,
            "attempts": 0, "created_at": utcnow(),
        }
        return (await self.core(_ENQUEUE(self.session), values)).scalar_one_or_none()

    async def pending_for_chat(self, channel: str, chat_id: str) -> Sequence[Outbox]:
        stmt = (
            select(Outbox)
            .where(Outbox.channel == channel, Outbox.chat_id == chat_id, Outbox.status == Delivery.PENDING)
            .order_by(col(Outbox.id))
        )
        return (await self.session.exec(stmt)).all()

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
                Outbox.status == Delivery.PENDING,
                col(Outbox.id) == _HEAD_OF_EACH_CHAT,
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
        return (await self.core(_CLAIM, params)).first()

    async def next_claimed(self, channel: str, chat_id: str, worker: str, now: datetime) -> Row | None:
        """The chat's next message, when `worker`'s claim on the chat still holds."""
        row = (await self.core(_NEXT, {"b_channel": channel, "b_chat_id": chat_id})).first()
        if row is None or row.claimed_by != worker or row.claimed_until is None or row.claimed_until <= now:
            return None
        return row

    async def pass_claim(self, channel: str, chat_id: str, worker: str, until: datetime) -> Row | None:
        """Hand the claim on to the chat's new oldest pending message (in the transaction that sent the
        last) and return it; None when there is none: the chat is done."""
        params = {"b_channel": channel, "b_chat_id": chat_id, "worker": worker, "until": until}
        return (await self.core(_PASS_CLAIM, params)).first()

    async def delivered(self, outbox_id: int, *, forget: bool, channel: str, chat_id: str, worker: str, until: datetime) -> Row | None:
        """A message went out: it is recorded as sent (deleted when `forget`), and the chat's claim
        passes to its next message, which is returned (None: the chat is done). On PostgreSQL this is
        one statement, atomic by itself (`Database.write(..., autocommit=True)`); on SQLite, where a
        statement costs no round trip, the two plain ones (SQLite has no writing CTE either)."""
        if dialect_of(self.session) != "postgresql":
            await (self.delete(outbox_id) if forget else self.mark_sent(outbox_id))
            return await self.pass_claim(channel, chat_id, worker, until)
        params: dict[str, Any] = {"b_id": outbox_id, "b_channel": channel, "b_chat_id": chat_id, "worker": worker, "until": until}
        if not forget:
            params["now"] = utcnow()
        return (await self.core(_DELETED_AND_PASSED if forget else _SENT_AND_PASSED, params)).first()

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
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == Delivery.PENDING, col(Outbox.claimed_by) == worker)
            .values(claimed_by=None, claimed_until=None)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

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
        stmt = select(Outbox.key).where(Outbox.kind == Purpose.ANSWER, Outbox.status == Delivery.SENT, col(Outbox.key).like("answer:%"))
        sent = {key.split(":")[1] for key in (await self.session.exec(stmt)).all()}
        return len(sent & set(refs))

    async def answers_not_delivered(self, refs: list[str]) -> set[str]:
        """Those of these submissions whose answer is set aside (unreachable) or gave up (failed)."""
        if not refs:
            return set()
        stmt = select(Outbox.key).where(Outbox.kind == Purpose.ANSWER, col(Outbox.status).in_((Delivery.UNREACHABLE, Delivery.FAILED)), col(Outbox.key).like("answer:%"))
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
            status = Delivery.PENDING if Delivery.PENDING in statuses else statuses[0]
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def requeue_failed(self) -> int:
        stmt = update(Outbox).where(col(Outbox.status) == Delivery.FAILED).values(status=Delivery.PENDING, attempts=0, next_attempt_at=None, **UNCLAIMED)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def revive_chat(self, channel: str, chat_id: str, kinds: tuple[str, ...]) -> int:
        """Set-aside messages of these kinds go out again (the person wrote: the chat works again)."""
        stmt = (
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == Delivery.UNREACHABLE, col(Outbox.kind).in_(kinds))
            .values(status=Delivery.PENDING, attempts=0, next_attempt_at=None, **UNCLAIMED)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def mark_chat_unreachable(self, channel: str, chat_id: str, error: str) -> None:
        stmt = (
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id, col(Outbox.status) == Delivery.PENDING)
            .values(status=Delivery.UNREACHABLE, last_error=error, **UNCLAIMED)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def mark(self, outbox_id: int, *, status: str, error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "attempts": Outbox.attempts + 1, "last_error": error, **UNCLAIMED}
        if status == Delivery.SENT:
            values["sent_at"] = utcnow()
        await self.session.exec(update(Outbox).where(col(Outbox.id) == outbox_id).values(**values))  # type: ignore[call-overload]

    async def mark_sent(self, outbox_id: int) -> None:
        await self.core(_MARK_SENT, {"b_id": outbox_id, "now": utcnow()})

    async def delete(self, outbox_id: int) -> None:
        await self.core(_DELETE, {"b_id": outbox_id})

    async def retry_later(self, outbox_id: int, error: str, at: datetime) -> None:
        stmt = (
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(attempts=Outbox.attempts + 1, last_error=error, next_attempt_at=at)
        )
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def delete_delivered_before(self, cutoff: datetime) -> int:
        stmt = delete(Outbox).where(col(Outbox.status).in_((Delivery.SENT, Delivery.FAILED)), col(Outbox.created_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def forget_chat(self, channel: str, chat_id: str) -> None:
        """Drop a resident's messages (they carry their name and questions) when they erase their data."""
        await self.session.exec(delete(Outbox).where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id))  # type: ignore[call-overload]

