"""The Bot API double's flood limits, per-chat faults and send-rate measurement.

Most tests install a fake clock on the double so token buckets can be checked
exactly, with Telegram's real figures, without waiting; the ones about client
behaviour (waiting out retry_after, timing out on a hung chat) use real time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message

from tests.doubles.test_botapi_double import FastSession, RawAPI
from tests.support.botapi_double import BotAPIDouble, RateLimits, SimUser

T0 = 1000.0
JSON_HEADERS = {"Content-Type": "application/json"}


class FakeClock:
    """Stands in for time.monotonic: time moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def double() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble() as d:
        yield d


@pytest.fixture
def clock(double: BotAPIDouble) -> FakeClock:
    fake = FakeClock()
    double.clock = fake  # before enforce_limits(): the buckets start at the fake time
    return fake


@pytest.fixture
async def bot(double: BotAPIDouble) -> AsyncIterator[Bot]:
    b = Bot(double.token, session=FastSession(api=TelegramAPIServer.from_base(double.base_url)))
    yield b
    await b.session.close()


@pytest.fixture
async def raw(double: BotAPIDouble) -> AsyncIterator[RawAPI]:
    async with aiohttp.ClientSession() as session:
        yield RawAPI(double, session)


def resident(double: BotAPIDouble) -> SimUser:
    """A user who has written to the bot, so the bot may message them."""
    u = double.user()
    double.send_text(u, "/start")
    return u


async def outcome(call: Any) -> str | int:
    """"ok", or the retry_after of a 429."""
    try:
        await call
    except TelegramRetryAfter as exc:
        return exc.retry_after
    return "ok"


# --- rate limits -------------------------------------------------------------------------


async def test_limits_are_off_by_default(double: BotAPIDouble, bot: Bot) -> None:
    an = resident(double)
    for i in range(12):
        await bot.send_message(an.id, f"tin {i}")
    assert double.limits is None and double.rejections == []
    assert len(double.messages(an)) == 12 and double.max_chat_rate(window=60) == 12


async def test_a_burst_over_the_global_limit_gets_429(
    double: BotAPIDouble, clock: FakeClock, bot: Bot, raw: RawAPI
) -> None:
    double.enforce_limits(per_second=50)
    users = [resident(double) for _ in range(60)]
    results = await asyncio.gather(*(bot.send_message(u.id, "Thông báo") for u in users), return_exceptions=True)

    refused = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert sum(isinstance(r, Message) for r in results) == 50 and len(refused) == 10
    assert {r.retry_after for r in refused} == {1}  # a token is back within 1/50 s
    assert sum(len(double.messages(u)) for u in users) == 50 == len(double.sent_log)
    assert {(r.error_code, r.description, r.injected) for r in double.rejections} == {
        (429, "Too Many Requests: retry after 1", False)
    }
    assert len(double.real_rejections()) == 10  # flood control is the bot's own doing

    status, body = await raw.call("sendMessage", chat_id=str(users[0].id), text="x")
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    clock.advance(1 / 50)  # exactly one token: refused calls took none
    await bot.send_message(users[0].id, "x")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[1].id, "x")


async def test_a_client_that_waits_retry_after_gets_through(double: BotAPIDouble, bot: Bot) -> None:
    double.enforce_limits(per_second=50)  # real clock
    users = [resident(double) for _ in range(100)]
    waits: list[int] = []

    async def deliver(chat_id: int) -> Message:
        while True:
            try:
                return await bot.send_message(chat_id, "Lịch hội nghị đã đổi")
            except TelegramRetryAfter as exc:
                waits.append(exc.retry_after)
                await asyncio.sleep(exc.retry_after)  # deliberate: what Telegram asks of a client, the behaviour under test

    started = time.monotonic()
    await asyncio.gather(*(deliver(u.id) for u in users))
    assert all(len(double.messages(u)) == 1 for u in users)
    assert waits and set(waits) == {1}
    assert 1 <= time.monotonic() - started < 5
    # A token bucket lets a full bucket plus a second's refill through in one second.
    assert 50 <= double.max_rate(1.0) <= 100


async def test_a_private_chat_tolerates_a_short_burst_but_not_a_sustained_rate(
    double: BotAPIDouble, clock: FakeClock, bot: Bot
) -> None:
    double.enforce_limits()  # Telegram's figures: 1/s per chat, bursts of 3
    an, binh = resident(double), resident(double)

    steady = [await outcome(bot.send_message(an.id, "nhanh")) for _ in range(4)]
    for _ in range(5):
        clock.advance(1.0)
        steady.append(await outcome(bot.send_message(an.id, "mỗi giây một tin")))
    assert steady == ["ok", "ok", "ok", 1] + ["ok"] * 5

    sustained: list[str | int] = []
    for _ in range(10):
        sustained.append(await outcome(bot.send_message(binh.id, "hai tin mỗi giây")))
        clock.advance(0.5)
    # The burst allowance carries 2/s for a while, then every other message is refused.
    assert sustained == ["ok"] * 5 + [1, "ok", 1, "ok", 1]
    assert len(double.messages(binh)) == 7


async def test_a_group_gets_twenty_messages_a_minute(double: BotAPIDouble, clock: FakeClock, bot: Bot) -> None:
    double.enforce_limits()
    group = double.group()
    for i in range(20):  # the private-chat burst of 3 does not apply to groups
        await bot.send_message(group.id, f"tin {i + 1}")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(group.id, "tin 21")
    assert info.value.retry_after == 3  # one token every 60/20 s
    clock.advance(2.0)
    assert await outcome(bot.send_message(group.id, "tin 21")) == 1
    an = resident(double)
    await bot.send_message(an.id, "the group's bucket is its own")
    clock.advance(1.0)
    await bot.send_message(group.id, "tin 21")
    assert len(double.messages(group)) == 21


async def test_only_calls_that_send_or_edit_messages_count(double: BotAPIDouble, clock: FakeClock, bot: Bot) -> None:
    double.enforce_limits(per_second=1, chat_per_second=None, group_per_minute=None)
    an = resident(double)
    ok = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="ok")]])
    sent = await bot.send_message(an.id, "một", reply_markup=ok)
    query_id = double.press(an, sent, "ok")["callback_query"]["id"]

    await bot.get_me()
    await bot.get_updates()
    await bot.send_chat_action(an.id, "typing")
    await bot.set_my_commands([BotCommand(command="start", description="Bắt đầu")])
    await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_text("hai", chat_id=an.id, message_id=sent.message_id)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_location(an.id, 21.0, 105.8)
    clock.advance(1.0)
    await bot.edit_message_text("hai", chat_id=an.id, message_id=sent.message_id)
    assert [s.method for s in double.sent_log] == ["sendMessage", "editMessageText"]


async def test_a_call_the_method_refuses_uses_no_token(double: BotAPIDouble, clock: FakeClock, bot: Bot) -> None:
    double.enforce_limits(per_second=1)
    an, binh = resident(double), resident(double)
    double.block(binh)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(binh.id, "bị chặn")
    await bot.send_message(an.id, "vẫn còn lượt")
    assert [(r.error_code, r.injected) for r in double.real_rejections()] == [(403, False)]


async def test_limits_from_the_constructor_changed_and_switched_off() -> None:
    clock = FakeClock()
    async with BotAPIDouble(limits={"per_second": 1, "chat_per_second": None}, clock=clock) as d:
        assert d.limits == RateLimits(per_second=1, chat_per_second=None)
        bot = Bot(d.token, session=FastSession(api=TelegramAPIServer.from_base(d.base_url)))
        an = resident(d)
        await bot.send_message(an.id, "1")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(an.id, "2")
        assert d.enforce_limits(None) is None and d.limits is None
        await bot.send_message(an.id, "2")
        assert d.enforce_limits(RateLimits(per_second=1), chat_burst=5) == RateLimits(per_second=1, chat_burst=5)
        await bot.send_message(an.id, "3")  # new limits start with full buckets
        await bot.session.close()

        with pytest.raises(TypeError):
            d.enforce_limits({"per_secnd": 1})
        with pytest.raises(ValueError):
            d.enforce_limits(None, per_second=3)
        with pytest.raises(ValueError):
            RateLimits(per_second=0)
        with pytest.raises(ValueError):
            RateLimits(chat_burst=0)


# --- per-chat faults ------------------------------------------------------------------------


async def test_fail_chat_refuses_that_chat_only(double: BotAPIDouble, bot: Bot, raw: RawAPI) -> None:
    an, binh = resident(double), resident(double)
    double.fail_chat(an, 403, times=2)
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
            await bot.send_message(an.id, "x")
    await bot.send_message(binh.id, "other chats are unaffected")
    await bot.send_message(an.id, "the two failures are used up")

    double.fail_chat(an, 400)  # until cleared
    for _ in range(3):
        with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
            await bot.send_message(an.id, "x")
    await bot.send_chat_action(an.id, "typing")  # not a sending call
    status, body = await raw.call("sendMessage", chat_id=str(an.id))  # validation still comes first
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")

    double.fail_chat(binh, 500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(binh.id, "x")
    double.fail_chat(an, 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(an.id, "x")
    assert info.value.retry_after == 7

    double.clear_faults(an)
    await bot.send_message(an.id, "cleared")
    with pytest.raises(TelegramServerError):
        await bot.send_message(binh.id, "x")
    double.clear_faults()
    await bot.send_message(binh.id, "all cleared")

    real = double.real_rejections()
    assert [(r.error_code, r.description) for r in real] == [(400, "Bad Request: message text is empty")]
    assert sum(r.injected for r in double.rejections) == 8
    assert len(double.sent_log) == 4  # refused calls are not logged


async def test_fail_next_refusals_are_marked_injected(double: BotAPIDouble, bot: Bot) -> None:
    double.fail_next("getMe", error_code=502)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    assert double.rejections[-1].injected and double.real_rejections() == []


async def test_hang_chat_exercises_client_timeouts(double: BotAPIDouble, bot: Bot) -> None:
    an, binh = resident(double), resident(double)
    impatient = Bot(double.token, session=FastSession(api=TelegramAPIServer.from_base(double.base_url), timeout=0.15))
    try:
        double.hang_chat(an, 0.4)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(an.id, "không chờ được")
        await impatient.send_message(binh.id, "other chats answer at once")
        await asyncio.sleep(0.4)  # past the hang: the abandoned call was never processed
        assert double.messages(an) == []

        started = time.monotonic()
        await bot.send_message(an.id, "chờ được")  # a patient client gets its answer late
        assert time.monotonic() - started >= 0.4

        double.clear_faults(an)
        double.hang_chat(an, 0.4, times=1, after_delivery=True)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(an.id, "đã gửi, không biết")
        # A lost answer: the client gave up, yet the message was sent.
        assert [m["text"] for m in double.messages(an)] == ["chờ được", "đã gửi, không biết"]
        started = time.monotonic()
        await impatient.send_message(an.id, "times=1 is used up")
        assert time.monotonic() - started < 0.15
        assert double.rejections == []
    finally:
        await impatient.session.close()


async def test_stop_cuts_a_hang_short(double: BotAPIDouble, bot: Bot) -> None:
    an = resident(double)
    double.hang_chat(an, 30)
    pending = asyncio.create_task(bot.send_message(an.id, "treo"))
    await asyncio.sleep(0.1)  # deliberate: time for the call to reach the double and hang (a hang shows nothing to wait on)
    started = time.monotonic()
    await double.stop()
    assert time.monotonic() - started < 0.5
    await asyncio.gather(pending, return_exceptions=True)


# --- measurement -------------------------------------------------------------------------------


async def test_sent_log_and_max_rates(double: BotAPIDouble, clock: FakeClock, bot: Bot) -> None:
    an, binh = resident(double), resident(double)
    assert double.max_rate() == 0 and double.max_chat_rate() == 0
    first = None
    for at, chat in [(0.0, an), (0.1, an), (0.2, an), (0.5, binh)]:
        clock.now = T0 + at
        sent = await bot.send_message(chat.id, "tin")
        first = first or sent
    assert first is not None
    clock.now = T0 + 1.15
    await bot.edit_message_text("đã sửa", chat_id=an.id, message_id=first.message_id)
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(999, "no such chat")  # refused: not logged
    await bot.send_chat_action(an.id, "typing")  # not a sending call: not logged
    for at in (2.0, 2.5):
        clock.now = T0 + at
        await bot.send_message(binh.id, "tin")

    assert double.sent_log == [
        (T0 + 0.0, an.id, "sendMessage"),
        (T0 + 0.1, an.id, "sendMessage"),
        (T0 + 0.2, an.id, "sendMessage"),
        (T0 + 0.5, binh.id, "sendMessage"),
        (T0 + 1.15, an.id, "editMessageText"),
        (T0 + 2.0, binh.id, "sendMessage"),
        (T0 + 2.5, binh.id, "sendMessage"),
    ]
    assert double.max_rate() == 4  # 0.0, 0.1, 0.2, 0.5
    assert double.max_rate(window=0.15) == 2
    assert double.max_rate(window=10) == 7
    assert double.max_chat_rate() == 3  # an's first three
    assert double.max_chat_rate(chat=binh) == 2  # 2.0 and 2.5
    assert double.max_chat_rate(window=2.0, chat=an) == 4
    with pytest.raises(ValueError):
        double.max_rate(window=0)


async def test_control_api_for_limits_faults_and_rates(double: BotAPIDouble, raw: RawAPI) -> None:
    base = f"{double.base_url}/_double"
    an = resident(double)

    async def post(name: str, body: Any) -> tuple[int, Any]:
        async with raw.session.post(f"{base}/{name}", data=json.dumps(body), headers=JSON_HEADERS) as resp:
            return resp.status, await resp.json()

    async def get(name: str, **query: str) -> Any:
        async with raw.session.get(f"{base}/{name}", params=query) as resp:
            return (await resp.json())["result"]

    status, body = await post("limits", {"per_second": 1, "chat_per_second": None})
    assert status == 200 and body["result"]["per_second"] == 1 and body["result"]["chat_per_second"] is None
    assert (await get("limits"))["chat_burst"] == 3
    assert (await post("limits", {"per_secnd": 1}))[0] == 400

    assert (await post("fail_chat", {"chat_id": an.id, "error_code": 403, "times": 1}))[0] == 200
    codes = [(await raw.call("sendMessage", chat_id=str(an.id), text="x"))[0] for _ in range(3)]
    assert codes == [403, 200, 429]
    assert [r["injected"] for r in await get("rejections")] == [True, False]

    await post("limits", None)  # JSON null: limits off
    assert await get("limits") is None
    await post("hang_chat", {"chat_id": an.id, "seconds": 30})
    await post("clear_faults", {})
    assert (await raw.call("sendMessage", chat_id=str(an.id), text="y"))[0] == 200

    log = await get("sent_log")
    assert [(e["chat_id"], e["method"]) for e in log] == [(an.id, "sendMessage")] * 2
    assert await get("rates", window="60") == {"window": 60.0, "max_rate": 2, "max_chat_rate": 2}
