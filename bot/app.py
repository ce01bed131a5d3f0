"""Wiring: the database, the conversation core, the sender and the channels, for `doithoai run`."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.channels.telegram.runner import TelegramBot, make_bot
from bot.channels.telegram.transport import TelegramTransport
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.delivery.sender import Sender
from bot.schedule import Schedule
from storage.db import Database
from storage.schema import ensure_current

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiogram's per-update lines and Alembic's schema check are noise at INFO.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in ("aiogram.event", "alembic", "apscheduler"):
        logging.getLogger(name).setLevel(quiet)


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    if settings.telegram_token is None:
        raise RuntimeError("DOITHOAI_TELEGRAM_TOKEN is not set: there is no channel to run")
    db = Database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot = make_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)
    try:
        await ensure_current(db)
        sender = Sender(db, {"telegram": TelegramTransport(bot)}, {"telegram": settings.telegram_limits()})
        telegram = TelegramBot(bot, Conversation(db), sender)
        schedule = Schedule(db, settings, sender)
        schedule.start()
        try:
            await telegram.run(stop)
        finally:
            schedule.stop()
        log.info("stopped cleanly")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await bot.session.close()
        await db.dispose()
