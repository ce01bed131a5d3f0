"""Wiring for `doithoai run`: the database, the conversation core, one sender and one inbox, and
every channel that has credentials (Telegram, the Zalo bot, the Zalo OA) in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from bot.channels.files import FileLinks
from bot.channels.inbox import Inbox
from bot.channels.webhook import PATHS, build_app, serve
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.delivery.sender import Limits, Sender, Transport
from bot.schedule import Schedule
from storage.db import Database
from storage.schema import ensure_current

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiogram's per-update lines and Alembic's schema check are noise at INFO.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in ("aiogram.event", "alembic", "apscheduler", "aiohttp.access"):
        logging.getLogger(name).setLevel(quiet)


class NoChannel(RuntimeError):
    """Nothing to run: no channel has credentials, or webhooks lack their address and secret."""


def configured_channels(settings: Settings) -> list[str]:
    channels = []
    if settings.telegram_token is not None:
        channels.append("telegram")
    if settings.zalo_token is not None:
        channels.append("zalo")
    if settings.zalo_oa_configured:
        channels.append("zalo_oa")
    return channels


def check(settings: Settings, webhook: bool) -> list[str]:
    """The channels to start, or `NoChannel` saying which setting is missing."""
    channels = configured_channels(settings)
    if not channels:
        raise NoChannel(
            "no channel is configured: set DOITHOAI_TELEGRAM_TOKEN, DOITHOAI_ZALO_TOKEN, or the "
            "DOITHOAI_ZALO_OA_APP_ID, _SECRET_KEY and _ACCESS_TOKEN/_REFRESH_TOKEN settings"
        )
    if webhook and {"telegram", "zalo"} & set(channels) and not (settings.webhook_base_url and settings.webhook_secret):
        raise NoChannel("--webhook needs DOITHOAI_WEBHOOK_BASE_URL (the public https:// address) and DOITHOAI_WEBHOOK_SECRET")
    if webhook and settings.webhook_base_url and not settings.webhook_base_url.startswith("https://"):
        raise NoChannel("DOITHOAI_WEBHOOK_BASE_URL must start with https://: Telegram and Zalo send webhooks over HTTPS only")
    return channels


@dataclass
class Channels:
    """The running channels and what must be closed when they stop."""

    transports: dict[str, Transport] = field(default_factory=dict)
    limits: dict[str, Limits] = field(default_factory=dict)
    runners: dict[str, Any] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)


def build_channels(settings: Settings, db: Database, names: list[str], files: FileLinks | None) -> Channels:
    built = Channels()
    if "telegram" in names:
        from bot.channels.telegram.runner import make_bot
        from bot.channels.telegram.transport import TelegramTransport

        assert settings.telegram_token is not None
        bot = make_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)
        built.transports["telegram"] = TelegramTransport(bot)
        built.runners["telegram"] = bot
        built.closers.append(bot.session.close)
    if "zalo" in names:
        from bot.channels.zalo.api import ZaloBotAPI
        from bot.channels.zalo.transport import ZaloTransport

        assert settings.zalo_token is not None
        api = ZaloBotAPI(settings.zalo_token.get_secret_value(), settings.zalo_api_url)
        built.transports["zalo"] = ZaloTransport(api, files)
        built.runners["zalo"] = api
        built.closers.append(api.close)
    if "zalo_oa" in names:
        from bot.channels.zalo_oa.api import OAClient
        from bot.channels.zalo_oa.transport import ZaloOATransport

        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        client = OAClient(
            db, app_id=settings.zalo_oa_app_id or "", secret_key=secret(settings.zalo_oa_secret_key) or "",
            api_url=settings.zalo_oa_api_url, oauth_url=settings.zalo_oa_oauth_url,
            access_token=secret(settings.zalo_oa_access_token), refresh_token=secret(settings.zalo_oa_refresh_token),
        )
        built.transports["zalo_oa"] = ZaloOATransport(client, files)
        built.runners["zalo_oa"] = client
        built.closers.append(client.close)
    for name in names:
        built.limits[name] = settings.limits(name)
    return built


async def run_bot(
    settings: Settings, stop: asyncio.Event | None = None, *, webhook: bool = False, host: str | None = None, port: int | None = None,
) -> None:
    names = check(settings, webhook)
    db = Database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    files = FileLinks(settings.webhook_base_url, secret) if settings.webhook_base_url and secret else None
    channels = build_channels(settings, db, names, files)
    server = None
    try:
        await ensure_current(db)
        sender = Sender(db, channels.transports, channels.limits)
        inbox = Inbox(db)
        conversation = Conversation(db)
        tasks = [asyncio.create_task(sender.run(stop)), asyncio.create_task(inbox.run(stop))]
        telegram = zalo = oa = None
        base = settings.webhook_base_url
        if "telegram" in names:
            from bot.channels.telegram.runner import TelegramBot

            telegram = TelegramBot(channels.runners["telegram"], conversation, sender, inbox)
            if webhook:
                await telegram.prepare(f"{base}{PATHS['telegram']}", secret)
            else:
                tasks.append(asyncio.create_task(telegram.run(stop, send=False)))
        if "zalo" in names:
            from bot.channels.zalo.runner import ZaloBot

            zalo = ZaloBot(channels.runners["zalo"], conversation, sender, inbox)
            await zalo.prepare(f"{base}{PATHS['zalo']}" if webhook else None, secret)
            if not webhook:
                tasks.append(asyncio.create_task(zalo.poll(stop)))
        if "zalo_oa" in names:
            from bot.channels.zalo_oa.runner import ZaloOA

            oa = ZaloOA(channels.runners["zalo_oa"], conversation, sender, inbox)
        # The OA has no polling: its webhook listens whenever it is configured.
        if webhook or oa is not None:
            app = build_app(
                db, secret=secret, telegram=telegram if webhook else None, zalo=zalo if webhook else None, zalo_oa=oa, files=files,
            )
            server = await serve(app, host or settings.webhook_host, port or settings.webhook_port)
        log.info("running: %s%s", ", ".join(names), " (webhooks)" if webhook else "")
        schedule = Schedule(db, settings, sender)
        schedule.start()
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()  # one part failing stops the others, after the work in hand
            await asyncio.gather(*tasks, return_exceptions=True)
            schedule.stop()
        log.info("stopped cleanly")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if server is not None:
            await server.cleanup()
        for close in channels.closers:
            await close()
        await db.dispose()
