"""`kill -9` in the middle of the work, not between updates: `doithoai run` killed while it handles a
flood of registrations (long polling, and webhooks), and while it delivers a published conclusion;
then started again. Whatever Telegram was told was received is handled exactly once, every reply and
answer reaches its resident, and a message arrives twice only if it had reached Telegram but was not
yet recorded as sent when the process died (README, "The delivery queue").

Each kill lands mid-work on purpose: once a share of the work is done, a few chats' next messages are
made slow to be answered (the double stores the message, then holds the answer back), and the bot is
killed the moment the first of them has reached Telegram, so at least one message is in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from bot.services.answers import record_answer
from storage.db import Database
from storage.models import Inbound, Outbox, ProcessedUpdate, Resident, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import plan_text, rows
from tests.support import pg
from tests.support.botapi_double import BotAPIDouble
from tests.support.crowd import (
    REGISTRATION,
    InFlight,
    KilledBot,
    Registrant,
    crowd,
    full_name,
    in_flight,
    log_of,
    repeats,
    texts_of,
    without_repeats,
)
from tests.support.process import bot_env, free_port, ok, wait_listening
from tests.support.telegram_webhook import TelegramWebhook

RESIDENTS = 40
TAPPERS = 10
SECRET = "crash-webhook-secret"
STARTUP = 120  # seconds a (re)start may take on a loaded machine
CONCURRENCY = 8  # DOITHOAI_DELIVERY_CONCURRENCY's default: messages a process has in flight at most
HANG = 18.0  # under the transport's 20 s request timeout: the slow answer never makes the bot try again by itself


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path):
    """The bot's database (the test's parameter), as an operator configures it; `doithoai db upgrade` migrates it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    name = pg.create(migrated=False)
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


async def prepared(tmp_path: Path, double: BotAPIDouble, url: str, **extra: str) -> dict:
    # The flood is measured in hundreds of messages a second here: Telegram's overall limit is
    # kept by tests/integration/test_delivery.py; what counts in these tests is what survives a kill.
    env = bot_env(tmp_path, double, DOITHOAI_DATABASE_URL=url, DOITHOAI_TELEGRAM_RATE="1000", DOITHOAI_LOG_LEVEL="INFO", **extra)
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    await ok(env, "db", "upgrade")
    await ok(env, "meeting", "load", str(plan))
    return env


async def table(url: str, model) -> list:
    db = Database(url)
    try:
        return await rows(db, model)
    finally:
        await db.dispose()


def slow_down(double: BotAPIDouble, chats: list[int]) -> dict[int, int]:
    """The next message to each chat is stored, but Telegram's answer comes late: in flight until then.
    Returns how many messages each chat held before."""
    for chat in chats:
        double.hang_chat(chat, HANG, times=1, after_delivery=True)
    return {chat: len(double.messages(chat)) for chat in chats}


async def kill_when_in_flight(bot: KilledBot, double: BotAPIDouble, held: dict[int, int]) -> None:
    """kill -9 the moment one of the slowed chats' messages has reached the double."""
    await double.wait_until(lambda: any(len(double.messages(c)) > n for c, n in held.items()), timeout=60)
    await bot.kill()


def assert_repeats_within(double: BotAPIDouble, chats: list[int], flight: InFlight) -> None:
    """A message arrived twice only if it was in flight at the kill, and at most once more."""
    for (chat, text), extra in repeats(double, chats).items():
        assert extra <= flight.messages[(chat, text)], f"sent {extra + 1} times but {flight.messages[(chat, text)]} in flight: {text[:60]!r}"


def assert_refusals_within(double: BotAPIDouble, flight: InFlight) -> None:
    """Telegram refused nothing but taking buttons off twice, which only an edit in flight can cause."""
    refused = double.real_rejections()
    assert all(r.method == "editMessageReplyMarkup" and "not modified" in r.description for r in refused), refused
    assert len(refused) <= flight.edits


async def assert_registered(url: str, double: BotAPIDouble, people: list[Registrant], flight: InFlight, handled_at_kill: set[str]) -> None:
    chats = [p.user.id for p in people]
    assert_repeats_within(double, chats, flight)
    assert_refusals_within(double, flight)
    for p in people:
        # One message per step, in order: no update was lost, none handled twice.
        got = without_repeats(texts_of(double, p.user.id))
        assert len(got) == len(REGISTRATION) and all(marker in text for marker, text in zip(REGISTRATION, got)), (p.name, [t[:40] for t in got])
    # Every update was recorded as handled, once (the key is the update's own id).
    sent = {str(u["update_id"]) for p in people for u in p.updates}
    recorded = [r.update_id for r in await table(url, ProcessedUpdate) if r.channel == "telegram"]
    assert sorted(recorded) == sorted(sent)
    # A press handled just before the kill may have lost its answer (the spinner stops by itself);
    # every other press was answered.
    presses = {str(u["update_id"]): u["callback_query"]["id"] for p in people for u in p.updates if "callback_query" in u}
    unanswered = set(double.unanswered_callbacks())
    assert unanswered <= {cq for update_id, cq in presses.items() if update_id in handled_at_kill}
    # Each resident has exactly their own submission, with what they wrote.
    submissions = await table(url, Submission)
    residents = {r.id: r for r in await table(url, Resident)}
    assert len(submissions) == len(people)
    by_chat = {residents[s.resident_id].chat_id: s for s in submissions}
    for p in people:
        s = by_chat[str(p.user.id)]
        assert (s.name, s.question, s.wants_to_speak) == (p.name, p.question, False)
    assert sorted(s.ref for s in submissions) == [f"GP-{i:04d}" for i in range(1, len(people) + 1)]
    outbox = await table(url, Outbox)
    assert [r for r in outbox if r.status != "sent"] == []


Midway = Callable[[set[str], set[str], set[str]], bool]


async def flood(
    url: str, bot: KilledBot, double: BotAPIDouble, people: list[Registrant], unconfirmed: Callable[[], set[str]], midway: Midway,
    listening: Callable[[], Awaitable[None]] | None = None,
) -> tuple[InFlight, set[str]]:
    """Everyone registers at once; kill -9 mid-flood, start again, and let the flood finish. `midway`
    (unconfirmed, handled, stored update keys at the kill) says the kill caught the updates in the
    state the test is about. Returns what was in flight at the kill and the updates handled by then."""
    registering = [asyncio.create_task(p.register()) for p in people]
    try:
        # Mid-flood: a third of the replies are out, and many updates are still to come.
        total = len(people) * len(REGISTRATION)
        await double.wait_until(lambda: len(double.sent_log) >= total // 3, timeout=120)
        # Chats that have typed their whole form and wait for its replies: the next message is certain.
        busy = [p.user.id for p in people if not p.tapper and not p.done and any("Cảm ơn" in t for t in texts_of(double, p.user.id))]
        assert busy, "the flood ended before the kill"
        await kill_when_in_flight(bot, double, slow_down(double, busy[:3]))
        waiting = unconfirmed()
        handled_at_kill = {r.update_id for r in await table(url, ProcessedUpdate)}
        stored_at_kill = {r.update_key for r in await table(url, Inbound)}
        flight = await in_flight(url, double)
        assert midway(waiting, handled_at_kill, stored_at_kill), (len(waiting), len(handled_at_kill), len(stored_at_kill))
        assert 1 <= flight.total <= CONCURRENCY * bot.workers
        double.clear_faults()

        await bot.start()
        if listening is not None:
            await listening()
        await asyncio.wait_for(asyncio.gather(*registering), timeout=180)
        await double.wait_until(lambda: not unconfirmed(), timeout=60)
    finally:
        for task in registering:
            task.cancel()
        await asyncio.gather(*registering, return_exceptions=True)
        if bot.proc is not None and bot.proc.returncode is None:
            await bot.stop()
    return flight, handled_at_kill


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)  # polling is one process's job, on the embedded database
async def test_polling_bot_killed_mid_flood_loses_nothing_and_repeats_only_what_was_in_flight(tmp_path: Path, url: str):
    async with BotAPIDouble() as double:
        env = await prepared(tmp_path, double, url)
        bot = KilledBot(env, tmp_path / "run.log")
        people = crowd(double, RESIDENTS, tappers=TAPPERS)
        try:
            await bot.start()
            # Telegram holds an update until a later getUpdates confirms it. The kill came in the middle:
            # updates confirmed to Telegram and stored, but not yet handled (the hung chats' later ones).
            flight, handled = await flood(
                url, bot, double, people, lambda: {str(u["update_id"]) for u in double.pending_updates()},
                lambda waiting, handled, stored: bool(stored - handled - waiting),
            )
        finally:
            await bot.close()
        await assert_registered(url, double, people, flight, handled)
        assert await table(url, Inbound) == []  # every stored update handled, and its row deleted
    text = log_of(tmp_path / "run.log")
    assert not any(p.name in text for p in people) and "đường thôn" not in text  # no personal data in logs


@pytest.mark.parametrize("url", ["sqlite", "postgresql"], indirect=True)
async def test_webhook_bot_killed_mid_flood_loses_nothing_and_repeats_only_what_was_in_flight(tmp_path: Path, url: str):
    """One process on SQLite; on PostgreSQL two workers behind one port, all killed at once."""
    port = free_port()
    workers = ["--workers", "2"] if url.startswith("postgresql") else []
    async with BotAPIDouble() as double:
        env = await prepared(tmp_path, double, url, DOITHOAI_WEBHOOK_BASE_URL="https://doithoai.example.gov.vn", DOITHOAI_WEBHOOK_SECRET=SECRET)
        bot = KilledBot(env, tmp_path / "run.log", "--webhook", "--host", "127.0.0.1", "--port", str(port), *workers)
        people = crowd(double, RESIDENTS, tappers=TAPPERS)
        try:
            await bot.start()
            await wait_listening(port, timeout=STARTUP)
            assert double.webhook_url == "https://doithoai.example.gov.vn/webhook/telegram"
            async with TelegramWebhook(double, f"http://127.0.0.1:{port}/webhook/telegram", SECRET) as telegram:
                # The kill came in the middle: updates handled but not yet acknowledged to Telegram, others
                # not yet handled.
                flight, handled = await flood(
                    url, bot, double, people, lambda: {str(u["update_id"]) for u in telegram.unacknowledged()},
                    lambda waiting, handled, stored: bool(waiting & handled and waiting - handled),
                    lambda: wait_listening(port, timeout=STARTUP),
                )
                assert telegram.failures >= 1  # Telegram did have to send something again
        finally:
            await bot.close()
        await assert_registered(url, double, people, flight, handled)
        assert await table(url, Inbound) == []  # nothing stored and forgotten
    text = log_of(tmp_path / "run.log")
    assert not any(p.name in text for p in people) and "đường thôn" not in text


SUBMITTERS = 120


async def registered(url: str, double: BotAPIDouble, count: int) -> dict[int, str]:
    """`count` residents who registered a question each before the meeting, all answered since:
    chat id → their code. Written as the registration would leave them (tests/integration/test_conversation.py
    covers registering); a flood of them through the bot would only make this test slow."""
    now = utcnow()
    db = Database(url)
    try:
        async with UnitOfWork(db) as uow:
            meeting = await uow.meetings.by_code("GP-2026")
            assert meeting is not None and meeting.id is not None
            villages = list(await uow.communes.villages(meeting.commune_id))
            topic = (await uow.meetings.topics(meeting.id))[0]
            refs = {}
            for i in range(count):
                user = double.user(first_name=f"Dân {i}")
                resident = Resident(channel="telegram", external_id=str(user.id), chat_id=str(user.id), name=full_name(i),
                                    consented_at=now, created_at=now, state={})
                uow.residents.add(resident)
                await uow.flush()
                ref = f"GP-{await uow.communes.next_ref_number(meeting.commune_id):04d}"
                uow.submissions.add(Submission(
                    ref=ref, meeting_id=meeting.id, resident_id=resident.id, name=full_name(i), village_id=villages[i % len(villages)].id,
                    topic_id=topic.id, question=f"Câu hỏi số {i:03d}: đề nghị xã sửa đoạn đường thôn bị hỏng.", channel="telegram",
                    created_at=now,
                ))
                await uow.flush()
                await record_answer(uow, ref, text=f"Trả lời riêng cho phiếu {ref}: đường sẽ được sửa trong quý tới.", by="Phòng Kinh tế", now=now)
                refs[user.id] = ref
            await uow.commit()
    finally:
        await db.dispose()
    return refs


def answers_to(double: BotAPIDouble, chat: int) -> list[str]:
    return [t for t in texts_of(double, chat) if "Trả lời riêng cho phiếu" in t]


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
async def test_bot_killed_while_delivering_the_conclusion_sends_each_answer_once_but_what_was_in_flight(tmp_path: Path, url: str):
    async with BotAPIDouble() as double:
        env = await prepared(tmp_path, double, url)
        env["DOITHOAI_TELEGRAM_RATE"] = "50"  # answers go out over a few seconds, as they do (30 a second) in a commune
        refs = await registered(url, double, SUBMITTERS)
        chats = list(refs)
        bot = KilledBot(env, tmp_path / "run.log")
        try:
            # They have all written to the bot before (Telegram lets a bot write only to those who have).
            for chat in chats:
                double.send_text(chat, "/lichhop")
            await bot.start()
            await double.wait_until(lambda: all(texts_of(double, c) for c in chats), timeout=STARTUP)

            assert "120 câu trả lời" in await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
            await double.wait_until(lambda: sum(bool(answers_to(double, c)) for c in chats) >= SUBMITTERS // 4, timeout=120)
            # The next answers to go (past the ones that may be on their way already) are held up.
            waiting = sorted((c for c in chats if not answers_to(double, c)), key=refs.__getitem__)
            await kill_when_in_flight(bot, double, slow_down(double, waiting[10:15]))
            flight = await in_flight(url, double)
            assert 1 <= flight.total <= CONCURRENCY
            assert sum(not answers_to(double, c) for c in chats) > 0, "the answers were all out before the kill"
            double.clear_faults()

            await bot.start()
            await double.wait_until(lambda: all(answers_to(double, c) for c in chats), timeout=STARTUP)
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.stop()
            await bot.close()
    assert_repeats_within(double, chats, flight)
    assert_refusals_within(double, flight)
    for chat, ref in refs.items():
        got = answers_to(double, chat)
        # Their own answer, once; twice only if it was in flight when the bot was killed.
        assert all(f"phiếu {ref}:" in t for t in got), (ref, got)
        assert len(got) == 1 or (len(got) == 2 and flight.messages[(chat, got[0])] == 1), (ref, len(got))
    outbox = [r for r in await table(url, Outbox) if r.kind == "answer"]
    assert len(outbox) == SUBMITTERS and all(r.status == "sent" for r in outbox)
    assert all(s.delivered_revision == s.answer_revision == 1 for s in await table(url, Submission))
