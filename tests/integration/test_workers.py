"""Several workers on one PostgreSQL database: the queue, the inbox and the clock shared, not duplicated.

Each "worker" here is a Sender, an Inbox or a Schedule of its own, with its own connections, in
one test process; tests/e2e/test_workers_process.py runs real worker processes.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from datetime import timedelta

import pytest

from bot.channels.telegram.client import BotAPI
from bot.channels.telegram.transport import TelegramTransport
from bot.conversation.engine import Claim, Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.limits import Limits
from bot.delivery.sender import Sender
from bot.domain.messages import Event, Kind, Reply
from bot.services.outbox import enqueue
from storage.db import Database
from storage.locks import ChatLocks, elected
from storage.models import Outbox, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.support import pg
from tests.support.botapi_double import BotAPIDouble
from tests.support.eventually import eventually


@pytest.fixture
async def pg_db():
    name = pg.create()
    database = Database(pg.url(name))
    try:
        yield database
    finally:
        await database.dispose()
        pg.drop(name)


class Counting(TelegramTransport):
    """A worker's transport that remembers what it delivered."""

    def __init__(self, bot, channel: str = "telegram") -> None:
        super().__init__(bot, channel)
        self.delivered: list[tuple[str, str]] = []

    async def deliver(self, chat_id, reply, attachment=None) -> None:
        await super().deliver(chat_id, reply, attachment)
        self.delivered.append((chat_id, reply.text or ""))


async def queue(db: Database, chats: list[str], per_chat: int) -> None:
    async with UnitOfWork(db) as uow:
        for n in range(per_chat):
            for chat in chats:
                await enqueue(uow, key=f"t:{chat}:{n}", channel="telegram", chat_id=chat, reply=Reply(text=f"Tin {n + 1}/{per_chat}"), purpose="notice")
        await uow.commit()


async def all_sent(db: Database, total: int, timeout: float = 60) -> None:
    async def sent() -> bool:
        return len([r for r in await rows(db, Outbox) if r.status == "sent"]) >= total

    await eventually(sent, timeout=timeout, what=f"{total} sent")


async def test_two_workers_send_each_message_once_in_order_and_keep_the_rate_together(pg_db: Database, double: BotAPIDouble):
    limit = 20
    double.enforce_limits(per_second=limit, chat_per_second=1000, chat_burst=1000)
    users = [double.user(first_name=f"Dân {i}") for i in range(80)]
    for u in users:
        double.send_text(u, "/start")
    chats = [str(u.id) for u in users]
    await queue(pg_db, chats, per_chat=2)
    bots = [BotAPI(double.token, double.base_url) for _ in range(2)]
    transports = [Counting(b) for b in bots]
    limits = Limits(per_second=limit, chat_per_second=1000, chat_burst=1000)
    senders = [
        Sender(pg_db, {"telegram": t}, {"telegram": limits}, poll_interval=0.1, worker=f"w{n}", shared_rate=True) for n, t in enumerate(transports)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    try:
        await all_sent(pg_db, 160)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for b in bots:
            await b.close()
    # Both worked, and between them every message went exactly once…
    assert all(t.delivered for t in transports)
    delivered = Counter(d for t in transports for d in t.delivered)
    assert len(delivered) == 160 and set(delivered.values()) == {1}
    # …in order within each chat, whichever worker sent it…
    for u in users:
        assert [m["text"] for m in double.messages(u) if m["text"].startswith("Tin")] == ["Tin 1/2", "Tin 2/2"]
    # …at the one bot's rate, not twice it: no 429, and no second over the limit. (How close to the
    # limit they keep is speed, measured by `python -m bench outbound`, not by a timed test here,
    # where the other tests running at once take the CPU.)
    assert [r for r in double.rejections if r.error_code == 429] == []
    # Two workers' wake-ups jitter by milliseconds (more on a busy machine), so a single second may
    # see a message more than its share; over two seconds they stay within the limit (one process
    # alone keeps every second exact: test_delivery.py).
    assert double.max_rate(2.0) <= 2 * limit + 1


async def test_a_dead_workers_claim_lapses_and_another_worker_sends_its_messages(pg_db: Database, double: BotAPIDouble):
    [u] = [double.user(first_name="An")]
    double.send_text(u, "/start")
    await queue(pg_db, [str(u.id)], per_chat=2)
    async with UnitOfWork(pg_db) as uow:
        # A worker claimed the chat and died before sending anything.
        assert await uow.outbox.claim_due("telegram", utcnow(), 10, "dead", utcnow() + timedelta(seconds=1.5)) == [str(u.id)]
        await uow.commit()
    bot = BotAPI(double.token, double.base_url)
    live = Sender(pg_db, {"telegram": TelegramTransport(bot)}, poll_interval=0.1, worker="live")
    stop = asyncio.Event()
    task = asyncio.create_task(live.run(stop))
    try:
        await asyncio.sleep(0.8)  # deliberate: within the dead worker's 1.5 s claim, nothing may arrive
        assert double.messages(u) == []  # the claim still holds: nobody else writes to that chat
        await all_sent(pg_db, 2, timeout=20)
    finally:
        stop.set()
        await task
        await bot.close()
    assert [m["text"] for m in double.messages(u)] == ["Tin 1/2", "Tin 2/2"]


async def test_a_reply_waits_for_the_worker_that_holds_the_chat(pg_db: Database, double: BotAPIDouble):
    [u] = [double.user(first_name="Bình")]
    double.send_text(u, "/start")
    chat = str(u.id)
    await queue(pg_db, [chat], per_chat=1)
    async with UnitOfWork(pg_db) as uow:
        await uow.outbox.claim_due("telegram", utcnow(), 10, "other", utcnow() + timedelta(minutes=2))
        await uow.commit()
    bot = BotAPI(double.token, double.base_url)
    try:
        mine = Sender(pg_db, {"telegram": TelegramTransport(bot)}, worker="mine")
        assert await mine.flush_chat("telegram", chat) is True  # nothing sent: the other worker's to send
        assert double.messages(u) == []
        [row] = await rows(pg_db, Outbox)
        assert (row.status, row.claimed_by) == ("pending", "other")
    finally:
        await bot.close()


async def test_two_inboxes_handle_each_chats_updates_once_and_in_order(pg_db: Database):
    handled: list[tuple[str, str, int]] = []

    def handler(name: str):
        async def handle(payload: dict) -> None:
            await asyncio.sleep(0.01)  # long enough for the other worker to try the same chat
            handled.append((name, payload["chat"], payload["n"]))

        return handle

    inboxes = [Inbox(pg_db, {"telegram": handler(name)}) for name in ("a", "b")]
    chats = [f"c{i}" for i in range(6)]

    async def put(chat_list: list[str], numbers: range) -> None:
        for n in numbers:
            for chat in chat_list:
                await inboxes[n % 2].put("telegram", f"{chat}:{n}", chat, {"chat": chat, "n": n})

    await put(chats[:3], range(4))
    await inboxes[0].pass_once()  # worker a takes the first three chats…
    await put(chats[3:], range(4))
    await put(chats[:3], range(4, 8))  # …whose next updates arrive, at either worker, while a is busy
    await inboxes[1].pass_once()  # worker b can take only the other three
    await put(chats[3:], range(4, 8))

    async def all_handled() -> bool:
        await asyncio.gather(*(box.pass_once() for box in inboxes))
        return len(handled) == 48

    await eventually(all_handled, what="48 updates handled")
    for box in inboxes:
        await asyncio.gather(*box._tasks)
        await box.locks.close()
    assert len(handled) == 48
    for chat in chats:
        assert [n for _, c, n in handled if c == chat] == list(range(8))
    assert {name for name, _, _ in handled} == {"a", "b"}  # both took part
    async with UnitOfWork(pg_db, readonly=True) as uow:
        assert await uow.inbox.chats() == []  # nothing left for a worker to take


async def test_a_chat_lock_is_freed_when_its_workers_connection_dies(pg_db: Database):
    first, second = ChatLocks(pg_db), ChatLocks(pg_db)
    try:
        assert await first.acquire("inbox:telegram:1")
        assert not await second.acquire("inbox:telegram:1")
        assert not await first.acquire("inbox:telegram:1")  # not twice by the same worker either
        await first.close()  # the worker's connection is gone, as when its process is killed
        assert await second.acquire("inbox:telegram:1")
    finally:
        await first.close()
        await second.close()


async def test_one_worker_is_elected_for_each_tick(pg_db: Database):
    async with UnitOfWork(pg_db) as one, UnitOfWork(pg_db) as two:
        assert await elected(one.session, "schedule.tick")
        assert not await elected(two.session, "schedule.tick")
        assert await elected(two.session, "schedule.purge")  # another job is another lock
        await one.commit()  # the lock goes with the transaction
        async with UnitOfWork(pg_db) as three:
            assert await elected(three.session, "schedule.tick")


async def test_a_restarted_worker_frees_at_once_the_chats_a_dead_worker_of_this_machine_claimed(pg_db: Database, double: BotAPIDouble):
    [u] = [double.user(first_name="Cường")]
    double.send_text(u, "/start")
    await queue(pg_db, [str(u.id)], per_chat=1)
    dead = f"{socket.gethostname()[:32]}:{2**22 + 1}:0"  # above Linux's largest pid: no such process
    elsewhere = "another-host:1:0"
    async with UnitOfWork(pg_db) as uow:
        await uow.outbox.claim_due("telegram", utcnow(), 10, dead, utcnow() + timedelta(minutes=2))
        await uow.commit()
    bot = BotAPI(double.token, double.base_url)
    try:
        sender = Sender(pg_db, {"telegram": TelegramTransport(bot)}, worker="new")
        assert await sender.recover() == 1
        [row] = await rows(pg_db, Outbox)
        assert row.claimed_by is None
        async with UnitOfWork(pg_db) as uow:  # a worker on another machine cannot be checked: its claim lapses
            await uow.outbox.claim_due("telegram", utcnow(), 10, elsewhere, utcnow() + timedelta(minutes=2))
            await uow.commit()
        assert await sender.recover() == 0
    finally:
        await bot.close()


async def test_a_shared_rate_of_thousands_a_second_still_sends(pg_db: Database):
    from bot.delivery.limits import RateLimiter
    from storage.workers import SharedSlots

    limiter = RateLimiter(Limits(per_second=100_000, chat_per_second=1000, chat_burst=1000), SharedSlots(pg_db), "telegram")
    # A slot a hundredth of a millisecond long is never met to the microsecond: it must send anyway.
    await asyncio.wait_for(asyncio.gather(*(limiter.acquire(str(n)) for n in range(50))), timeout=10)


async def test_the_transaction_that_queues_a_reply_claims_the_chat_for_the_worker_that_sends_it(meeting_db: Database):
    conversation = Conversation(meeting_db)
    start = Event(channel="telegram", user_id="1001", chat_id="1001", update_id="71", private=True, language="vi",
                  kind=Kind.COMMAND, text="/start", command="start")
    handled = await conversation.handle(start, claim=Claim("worker-a", utcnow() + timedelta(seconds=150)))
    pending = [r for r in await rows(meeting_db, Outbox) if r.chat_id == "1001" and r.status == "pending"]
    assert len(pending) >= 2  # the greeting and the consent question
    assert handled.claimed and handled.head is not None and handled.head.id == min(r.id for r in pending)
    assert [r.claimed_by for r in sorted(pending, key=lambda r: r.id)][0] == "worker-a"
    async with UnitOfWork(meeting_db) as uow:
        # Another worker's scan, right after the commit, leaves the chat to the worker that claimed it.
        assert await uow.outbox.claim_due("telegram", utcnow(), 10, "worker-b", utcnow() + timedelta(seconds=150)) == []
        await uow.commit()
    again = await conversation.handle(start, claim=Claim("worker-a", utcnow() + timedelta(seconds=150)))
    assert again.outcome.duplicate and not again.claimed  # a redelivery queues and claims nothing


async def test_one_inbox_keeps_a_chats_order_between_handling_at_once_and_storing(db: Database):
    handled: list[int] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def handle(payload: dict) -> None:
        if payload["n"] == 1:
            first_started.set()
            await release.wait()  # the chat is busy while the next updates arrive
        handled.append(payload["n"])

    # What a stopped process had stored and not handled yet goes before what arrives after a restart.
    await Inbox(db, {"telegram": handle}).put("telegram", "u0", "c", {"n": 0})
    inbox = Inbox(db, {"telegram": handle})
    assert await inbox.take("telegram", "u1", "c", {"n": 5}) is True  # stored behind 0, not handled at once
    assert handled == []
    await inbox.pass_once()
    await asyncio.gather(*inbox._tasks)
    assert handled == [0, 5]

    handled.clear()
    first_started.clear()
    release.clear()
    first = asyncio.create_task(inbox.take("telegram", "u2", "c", {"n": 1}))
    await first_started.wait()
    assert await inbox.take("telegram", "u3", "c", {"n": 2})  # busy: stored for the chat's turn
    assert await inbox.take("telegram", "u9", "other", {"n": 9})  # another chat is not held up
    release.set()
    await first
    assert await inbox.take("telegram", "u4", "c", {"n": 3})  # 2 is waiting or being handled: 3 goes after it

    async def both_handled() -> bool:
        if handled.count(2) and handled.count(3):
            return True
        await inbox.pass_once()
        return False

    await eventually(both_handled, what="updates 2 and 3 handled")
    await asyncio.gather(*inbox._tasks)
    assert [n for n in handled if n != 9] == [1, 2, 3] and handled.count(9) == 1
    assert await inbox.take("telegram", "u5", "c", {"n": 4}) and handled[-1] == 4  # idle again: handled at once
    await inbox.locks.close()
    async with UnitOfWork(db, readonly=True) as uow:
        assert await uow.inbox.chats() == []  # nothing left for a worker to take


async def test_a_pooled_connection_the_server_ended_while_idle_is_replaced_before_use(pg_db: Database, monkeypatch):
    """Connections are not pinged at every checkout (that cost three round trips each): one that sat
    idle is, and a dead one is replaced, so the update that needs it does not fail."""
    import asyncpg
    from sqlalchemy import text

    import storage.db

    monkeypatch.setattr(storage.db, "IDLE_BEFORE_PING", 0.0)  # any idle connection counts as idle
    async with pg_db.engine.connect() as conn:  # the pool now holds one connection, idle
        await conn.execute(text("SELECT 1"))
    name = pg_db.engine.url.database
    admin = await asyncpg.connect(pg.url("postgres"))
    try:  # as a server restart would: every session of the database ends
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()

    async def record(connection) -> bool:  # noqa: ANN001
        return bool((await connection.execute(text("SELECT count(*) FROM outbox"))).scalar() == 0)

    assert await pg_db.write(record)
