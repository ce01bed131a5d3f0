"""The hot path's statements straight on the driver (storage/direct.py), SQLite's and asyncpg: the
same rows and the same changes as through SQLAlchemy, and a step of the form that sends nothing
through SQLAlchemy."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from bot.conversation.engine import Conversation
from bot.domain.messages import Event, Kind
from bot.domain.outbox import Delivery
from storage.db import Database
from storage.direct import direct_of
from storage.models import Outbox, Resident, utcnow
from storage.reference import _VERSION
from storage.repositories.base import Bare, insert_ignoring
from storage.repositories.inbox import UpdateLog
from storage.repositories.outbox import (
    _CLAIM,
    _DELETE,
    _DELETED_AND_PASSED,
    _ENQUEUE,
    _MARK_SENT,
    _NEXT,
    _PASS_CLAIM,
    _SENT_AND_PASSED,
    OutboxRepository,
)
from storage.repositories.residents import _FIND_BARE, as_read
from storage.repositories.staff import StaffRepository
from storage.uow import UnitOfWork
from tests.support.core_chat import CoreChat

OUTBOX = Outbox.__table__  # type: ignore[attr-defined]


async def both_ways(db: Database, statement, params: dict, *, new_id: bool = False) -> tuple[list, list]:
    """The statement's rows and the outbox and resident tables after it, run once directly and once
    through SQLAlchemy, each in a transaction rolled back afterwards. `new_id`: it inserts, and
    PostgreSQL's sequences are not rolled back, so the new row's id is left out."""
    seen = []
    for directly in (True, False):
        async with db.engine.connect() as conn:
            async with conn.begin() as tx:
                if directly:
                    direct = direct_of(conn)
                    assert direct is not None
                    result = await direct.run(statement, params)
                    assert result is not None, "left to SQLAlchemy"
                else:
                    result = await conn.execute(statement, params)
                got = [tuple(r) for r in result.all()] if statement.is_select or getattr(statement, "_returning", None) else []
                # As stored, with no conversion: a date written in another shape would sort differently.
                outbox = [tuple(r) for r in (await conn.exec_driver_sql("SELECT * FROM outbox ORDER BY id")).all()]
                residents = [tuple(r) for r in (await conn.exec_driver_sql("SELECT * FROM resident ORDER BY id")).all()]
                await tx.rollback()
        if new_id:
            got, outbox = [len(got)], [row[1:] for row in outbox]
        seen.append((got, outbox, residents))
    return seen[0], seen[1]


async def test_each_hot_statement_gives_what_sqlalchemy_gives(chat: CoreChat, meeting_db: Database):
    db = meeting_db
    dialect = db.engine.dialect.name
    await chat.text("/dangky")  # the resident exists; a reply or two are queued and sent
    now = utcnow()
    async with db.engine.begin() as conn:
        await conn.execute(OUTBOX.insert(), [
            {"key": f"k{n}", "channel": "telegram", "chat_id": chat.user_id, "payload": {"text": f"Tin {n} — thôn Đông"},
             "status": Delivery.PENDING, "transient": False, "kind": "notice", "priority": 0, "attempts": 0, "created_at": now}
            for n in range(3)
        ])
        first = (await conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == "k0"))).scalar_one()
    chat_of = {"b_channel": "telegram", "b_chat_id": chat.user_id}
    until = now + timedelta(minutes=2)
    cases = [
        (_FIND_BARE, {"channel": "telegram", "external_id": chat.user_id}),
        (_FIND_BARE, {"channel": "telegram", "external_id": "nobody"}),
        (_VERSION, {}),
        (StaffRepository._IS_STAFF, {"telegram_id": chat.user_id}),
        (_NEXT, chat_of),
        (_CLAIM, {**chat_of, "now": now, "worker": "w1", "until": until}),
        (_PASS_CLAIM, {**chat_of, "worker": "w2", "until": until}),
        (_MARK_SENT, {"b_id": first, "now": now}),
        (_DELETE, {"b_id": first}),
        (_ENQUEUE.build(dialect), {
            "key": "k9", "channel": "telegram", "chat_id": chat.user_id, "payload": {"text": "Xin chào", "buttons": [[{"label": "1"}]]},
            "status": Delivery.PENDING, "transient": True, "kind": "reply", "meeting_id": None, "priority": 0, "attempts": 0, "created_at": now,
        }),
        (_ENQUEUE.build(dialect), {  # a key queued before: nothing returned, nothing changed
            "key": "k1", "channel": "telegram", "chat_id": chat.user_id, "payload": {}, "status": Delivery.PENDING, "transient": True,
            "kind": "reply", "meeting_id": None, "priority": 0, "attempts": 0, "created_at": now,
        }),
    ]
    if dialect == "postgresql":  # SQLite has no writing CTE: there the two statements above do this
        second = first + 1
        cases += [
            (_SENT_AND_PASSED, {**chat_of, "b_id": first, "now": now, "worker": "w3", "until": until}),
            (_DELETED_AND_PASSED, {**chat_of, "b_id": second, "worker": "w3", "until": until}),
        ]
    for statement, params in cases:
        directly, through_sqlalchemy = await both_ways(db, statement, params, new_id="key" in params)
        assert directly == through_sqlalchemy, str(statement)
    # The rows read directly have the types SQLAlchemy gives: aware datetimes, JSON decoded.
    async with db.engine.connect() as conn:
        await conn.begin()
        row = (await direct_of(conn).run(_CLAIM, {**chat_of, "now": now, "worker": "w1", "until": until})).first()  # type: ignore[union-attr]
        assert row.claimed_until.tzinfo is not None and row.payload == {"text": "Tin 0 — thôn Đông"}
        assert row._mapping["id"] == row.id == row[0]


async def test_a_delivery_is_recorded_and_the_claim_passed_on_in_one_write(meeting_db: Database):
    """On PostgreSQL one statement outside any transaction (each of BEGIN and COMMIT would be a round
    trip); on SQLite two. Either way: the message sent (or forgotten), the chat's next one claimed and
    returned, and nothing left open."""
    db = meeting_db
    now, until = utcnow(), utcnow() + timedelta(minutes=2)
    async with db.engine.begin() as conn:
        await conn.execute(OUTBOX.insert(), [
            {"key": f"d{n}", "channel": "telegram", "chat_id": "42", "payload": {"text": f"Tin {n}"}, "status": Delivery.PENDING,
             "transient": n == 1, "kind": "reply", "priority": 0, "attempts": 0, "created_at": now, "claimed_by": "w" if n == 0 else None,
             "claimed_until": until if n == 0 else None}
            for n in range(3)
        ])
        ids = [(await conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == f"d{n}"))).scalar_one() for n in range(3)]

    def record(outbox_id: int, forget: bool):
        async def job(conn):
            return await OutboxRepository(Bare(conn)).delivered(outbox_id, forget=forget, channel="telegram", chat_id="42", worker="w", until=until)
        return job

    following = await db.write(record(ids[0], False), autocommit=True)
    assert (following.id, following.claimed_by, following.payload) == (ids[1], "w", {"text": "Tin 1"})
    following = await db.write(record(ids[1], True), autocommit=True)  # a transient reply: forgotten once sent
    assert following.id == ids[2]
    assert await db.write(record(ids[2], False), autocommit=True) is None  # the chat is done
    async with db.engine.connect() as conn:  # another connection sees it all: committed
        rows = (await conn.execute(select(OUTBOX.c.key, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.claimed_by)
                                   .where(OUTBOX.c.chat_id == "42").order_by(OUTBOX.c.id))).all()
    assert [tuple(r) for r in rows] == [("d0", Delivery.SENT, 1, None), ("d2", Delivery.SENT, 1, None)]


async def test_an_error_is_raised_as_sqlalchemy_would_raise_it_without_the_values(meeting_db: Database):
    dialect = meeting_db.engine.dialect.name
    values = {"key": None, "channel": "telegram", "chat_id": "1", "payload": {"text": "Nguyễn Văn A, 0912345678"}, "status": "pending",
              "transient": False, "kind": "reply", "meeting_id": None, "priority": 0, "attempts": 0, "created_at": utcnow()}
    async with meeting_db.engine.connect() as conn:
        await conn.begin()
        try:
            await direct_of(conn).run(_ENQUEUE.build(dialect), values)  # type: ignore[union-attr]
        except DBAPIError as exc:
            assert "null" in str(exc).lower() and "0912345678" not in str(exc)
        else:
            raise AssertionError("a row without its key was stored")


async def test_statements_it_cannot_run_unchanged_are_left_to_sqlalchemy(meeting_db: Database):
    dialect = meeting_db.engine.dialect.name
    async with meeting_db.engine.connect() as conn:
        await conn.begin()
        direct = direct_of(conn)
        assert direct is not None
        # An IN list is expanded at execution; `attempts` has a Python-side default to fill in.
        assert await direct.run(select(OUTBOX).where(OUTBOX.c.id.in_([1, 2]))) is None
        bare = insert_ignoring(dialect, OUTBOX).on_conflict_do_nothing()
        assert await direct.run(bare, {"key": "x", "channel": "t", "chat_id": "1", "payload": {}, "status": "pending", "transient": False,
                                 "kind": "reply", "priority": 0, "created_at": utcnow()}) is None
        # And the repositories then run them through SQLAlchemy, on the same connection.
        assert await UpdateLog(Bare(conn)).first_time("telegram", "u1")  # type: ignore[arg-type]


async def test_a_step_of_the_form_sends_nothing_through_sqlalchemy(chat: CoreChat, meeting_db: Database):
    db = meeting_db
    await chat.text("/dangky")
    async with UnitOfWork(db, readonly=True) as uow:  # the villages the next step lists, read once per process
        commune = await uow.reference.commune(None)
        meeting = await uow.reference.current_meeting(commune.id, utcnow())  # type: ignore[union-attr,arg-type]
        await uow.reference.invited_villages(meeting.id)  # type: ignore[union-attr,arg-type]
    through_sqlalchemy: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        through_sqlalchemy.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        handled = await Conversation(db).handle(
            Event(channel="telegram", user_id=chat.user_id, chat_id=chat.user_id, update_id="step-1", private=True,
                  language="vi", kind=Kind.TEXT, text="Nguyễn Văn An"),
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert "Bước 2/6" in handled.outcome.replies[0].text
    # The transaction is begun and committed through SQLAlchemy; every statement in it went straight to the driver.
    assert [s for s in through_sqlalchemy if not s.startswith("BEGIN")] == [], "\n".join(through_sqlalchemy)
    async with db.engine.connect() as conn:
        state = (await conn.execute(select(Resident.__table__.c.state))).scalar_one()  # type: ignore[attr-defined]
    assert "Nguyễn Văn An" in str(state)


def test_a_resident_made_from_its_row_is_the_one_the_constructor_makes():
    values = {
        "id": 7, "channel": "telegram", "external_id": "1001", "chat_id": "1001", "language": "vi", "name": "Nguyễn Thị Bình",
        "phone": "0912345678", "consented_at": utcnow(), "village_id": 3, "notices": True, "unreachable_at": None,
        "state": {"flow": "register", "data": {"name": "Nguyễn Thị Bình"}}, "created_at": utcnow(),
    }
    quick, made = as_read(dict(values)), Resident(**values)
    assert quick.model_dump() == made.model_dump() and repr(quick) == repr(made)
    quick.name = "Trần Văn Cường"  # and it changes as any resident does
    assert quick.name == "Trần Văn Cường" and quick.model_dump()["name"] == "Trần Văn Cường"


def test_a_utc_time_is_stored_and_read_on_sqlite_as_the_dialect_itself_would():
    from datetime import datetime, timezone

    from sqlalchemy.dialects.sqlite import DATETIME

    from storage.models import UTCDateTime

    dialect = Database("sqlite:///unused.db").engine.sync_engine.dialect
    ours = UTCDateTime().dialect_impl(dialect)
    to_db, from_db = ours.bind_processor(dialect), ours.result_processor(dialect, None)
    theirs_to_db, theirs_from_db = DATETIME().bind_processor(dialect), DATETIME().result_processor(dialect, None)
    hanoi = timezone(timedelta(hours=7))
    for moment in (datetime(2026, 6, 11, 8, 0, tzinfo=hanoi), datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc)):
        stored = to_db(moment)
        assert stored == theirs_to_db(moment.astimezone(timezone.utc).replace(tzinfo=None))
        assert from_db(stored) == moment and from_db(stored).tzinfo == timezone.utc
    assert from_db("2026-06-11 01:00:00") == theirs_from_db("2026-06-11 01:00:00").replace(tzinfo=timezone.utc)  # SQLite's own CURRENT_TIMESTAMP
    assert to_db(None) is None and from_db(None) is None
    try:
        to_db(datetime(2026, 6, 11, 8, 0))
    except ValueError:
        pass
    else:
        raise AssertionError("a time without its zone was stored")


async def test_a_kind_of_update_that_needed_a_session_starts_with_one_but_staff_do_not_teach_it(conv: Conversation, meeting_db: Database):
    from bot.services.staff import OPERATOR, add_staff

    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Ông Đỗ Văn Tiến", role="village_head", telegram_id="900", villages=["Thôn Phong Lâm"], actor=OPERATOR, now=utcnow())
        await uow.commit()
    head = CoreChat(conv, user_id="900")
    await head.text("Chào")  # staff: their update needed a session because of who they are
    assert conv._needed_session == set()
    resident = CoreChat(conv)
    await resident.text("/start")
    await resident.press("Đồng ý")  # a new resident is stored: that needs one, every time
    assert conv._needed_session == {(Kind.BUTTON, "Consent", "y")}
    await resident.text("/dangky")
    await resident.text("Nguyễn Văn An")  # a step of the form does not
    assert conv._needed_session == {(Kind.BUTTON, "Consent", "y")}
