"""Broadcast benchmark: N residents, a Bot API double that enforces Telegram's limits.

Two runs in one process, against the same double:
  baseline: the usual way bots broadcast — a loop that sends to everyone as fast as it can
            (asyncio.gather over aiogram's send_message), on a sample of residents;
  doithoai: the outbox and its sender, configured at RATE messages a second, on all N.

Prints, for each: messages sent, seconds, achieved rate, the most sends the server saw in any
one second, and how many 429s it had to answer. The ratios that matter: our achieved rate over
the configured rate (close to 1, never above), our peak second over the limit (≤ 1), our 429s (0).

Meanwhile doithoai's bot (long polling, the same sender) is asked for help by a resident every
half second, each a new one: how long each waits for the reply, from handing the update to
Telegram to the reply's arrival. Goal: p99 under 2 s, while the broadcast keeps the limit busy.

    python bench/broadcast.py                 # 10,000 residents at Telegram's 30 a second (about 6 minutes)
    python bench/broadcast.py --residents 2000 --rate 30
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.exceptions import TelegramRetryAfter  # noqa: E402

from bench.common import plan_text  # noqa: E402
from bot.channels.telegram.client import BotAPI  # noqa: E402
from bot.channels.telegram.runner import TelegramBot  # noqa: E402
from bot.channels.telegram.transport import TelegramTransport  # noqa: E402
from bot.conversation.engine import Conversation  # noqa: E402
from bot.delivery.limits import Limits  # noqa: E402
from bot.delivery.sender import Sender  # noqa: E402
from bot.domain.messages import Reply  # noqa: E402
from bot.services.outbox import enqueue  # noqa: E402
from bot.services.plans import load_plan, parse_plan  # noqa: E402
from bot.services.staff import OPERATOR  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Resident, utcnow  # noqa: E402
from storage.schema import upgrade  # noqa: E402
from storage.uow import UnitOfWork  # noqa: E402
from tests.support.botapi_double import BotAPIDouble  # noqa: E402

TEXT = "📣 Thông báo của Xã Gia Phúc: mời Ông/Bà dự hội nghị đối thoại lúc 08:00 Thứ Năm, ngày 11/06/2026."


def report(name: str, sent: int, seconds: float, double: BotAPIDouble, since: int, rate_429: int, limit: float) -> None:
    window = [s.at for s in double.sent_log[since:]]
    peak = max((sum(1 for t in window if a <= t < a + 1.0) for a in window), default=0) if len(window) < 20000 else double.max_rate(1.0)
    achieved = sent / seconds if seconds else 0.0
    print(f"{name:<9} sent {sent:>6} in {seconds:7.1f} s  rate {achieved:7.1f}/s ({achieved / limit:4.2f} × limit)  "
          f"peak second {peak:>4} ({peak / limit:4.2f} × limit)  429s {rate_429}")


async def baseline(double: BotAPIDouble, chats: list[int], limit: float) -> None:
    bot = Bot(double.token, session=AiohttpSession(api=TelegramAPIServer.from_base(double.base_url)))
    since, refused = len(double.sent_log), len(double.rejections)
    started = time.monotonic()
    ok = 0

    async def one(chat: int) -> None:
        nonlocal ok
        try:
            await bot.send_message(chat_id=chat, text=TEXT)
            ok += 1
        except TelegramRetryAfter:
            pass  # the usual loop drops it, or retries blindly; either way the server said no

    await asyncio.gather(*(one(c) for c in chats))
    seconds = time.monotonic() - started
    await bot.session.close()
    rate_429 = sum(1 for r in double.rejections[refused:] if r.error_code == 429)
    report("baseline", ok, seconds, double, since, rate_429, limit)


STALLED = 60.0  # seconds without a message delivered: the run ends and says so, rather than wait for ever


async def ours(double: BotAPIDouble, chats: list[int], rate: float, talkers: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database(url)
        async with UnitOfWork(db) as uow:
            await load_plan(uow, OPERATOR, parse_plan(plan_text()), confirmed=True)
        async with UnitOfWork(db) as uow:
            now = utcnow()
            for chat in chats:
                uow.residents.add(Resident(channel="telegram", external_id=str(chat), chat_id=str(chat), consented_at=now, created_at=now, state={}))
                await enqueue(uow, key=f"bench:{chat}", channel="telegram", chat_id=str(chat), reply=Reply(text=TEXT), purpose="notice")
            await uow.commit()
        bot = BotAPI(double.token, double.base_url)
        # The residents' /start (sent so that the double lets the bot write to them) was handled long
        # ago: answering 10,000 greetings now would be 20,000 replies ahead of the broadcast.
        await bot.call("deleteWebhook", {"drop_pending_updates": True}, timeout=10)
        sender = Sender(db, {"telegram": TelegramTransport(bot)}, {"telegram": Limits(per_second=rate)}, poll_interval=0.2)
        telegram = TelegramBot(bot, Conversation(db), sender)  # runs the sender's loop too
        since, refused = len(double.sent_log), len(double.rejections)
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(telegram.run(stop))
        waits: list[float] = []

        async def ask_for_help() -> None:
            for user in talkers:
                await asyncio.sleep(0.5)
                asked = time.monotonic()
                double.send_text(user, "/trogiup")
                await double.next_message(user, timeout=120)
                waits.append(time.monotonic() - asked)

        asking = asyncio.create_task(ask_for_help())
        broadcast = set(chats)
        delivered, progressed = 0, time.monotonic()
        while delivered < len(chats):
            await asyncio.sleep(0.2)
            now_delivered = sum(1 for s in double.sent_log[since:] if s.chat_id in broadcast)
            if now_delivered > delivered:
                delivered, progressed = now_delivered, time.monotonic()
            elif time.monotonic() - progressed > STALLED:
                print(f"the broadcast stalled: {delivered} of {len(chats)} delivered, none for {STALLED:.0f} s")
                break
        seconds = time.monotonic() - started
        asking.cancel()
        stop.set()
        await task
        await bot.close()
        await db.dispose()
        rate_429 = sum(1 for r in double.rejections[refused:] if r.error_code == 429)
        report("doithoai", delivered, seconds, double, since, rate_429, rate)
        waits.sort()
        if waits:
            p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
            print(f"replies during the broadcast: {len(waits)}, p50 {waits[len(waits) // 2]:.2f} s, p99 {p99:.2f} s, "
                  f"max {waits[-1]:.2f} s (goal: p99 < 2 s: {'met' if p99 < 2 else 'NOT met'})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=30.0, help="messages a second, enforced by the double and configured in the sender")
    parser.add_argument("--baseline-sample", type=int, default=1_000)
    args = parser.parse_args()
    async with BotAPIDouble() as double:
        users = [double.user(first_name=f"Dân {i}") for i in range(args.residents)]
        for u in users:
            double.send_text(u, "/start")
        double.enforce_limits(per_second=args.rate, chat_per_second=1.0, chat_burst=3)
        print(f"{args.residents} residents, limit {args.rate:g} messages a second (enforced by the server)")
        await baseline(double, [u.id for u in users[: args.baseline_sample]], args.rate)
        await asyncio.sleep(2)  # let the server's bucket refill
        talkers = [double.user(first_name=f"Người hỏi {i}") for i in range(args.residents)]
        await ours(double, [u.id for u in users], args.rate, talkers)


if __name__ == "__main__":
    asyncio.run(main())
