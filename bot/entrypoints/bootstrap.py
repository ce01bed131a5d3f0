"""Wiring for `doithoai run`: the database, the conversation core, one sender and one inbox, and
every bot that has credentials (Telegram, the Zalo bot, the Zalo OA; the settings' own and each
further commune's) in one process. bot/entrypoints/workers.py runs several such processes on one port."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from bot.channels.files import FileLinks
from bot.channels.platform import revealed
from bot.channels.registry import PLATFORMS, platform
from bot.channels.webhook import build_app, serve
from bot.conversation.engine import Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.limits import Limits
from bot.delivery.sender import Sender
from bot.delivery.transport import Transport
from bot.domain.channels import commune_code
from bot.domain.errors import ServiceError
from bot.entrypoints.schedule import Schedule
from bot.entrypoints.settings import CommunesFileError, Settings
from storage.db import Database, is_sqlite
from storage.schema import ensure_current
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic's schema check, the scheduler's runs and each HTTP request are noise at INFO.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in ("alembic", "apscheduler", "aiohttp.access"):
        logging.getLogger(name).setLevel(quiet)


class NoChannel(ServiceError, RuntimeError):
    """Nothing to run: no channel has credentials, or webhooks lack their address and secret."""


def configured_channels(settings: Settings) -> list[str]:
    try:
        return [spec.channel for spec in settings.bots()]
    except CommunesFileError as exc:
        raise NoChannel("problem.run.communes_file", detail=str(exc)) from None


def check(settings: Settings, webhook: bool, workers: int = 1) -> list[str]:
    """The channels to start, or `NoChannel` saying which setting is missing."""
    channels = configured_channels(settings)
    if not channels:
        raise NoChannel("problem.run.no_channel")
    platforms = [platform(c) for c in channels]
    if webhook and any(p.registers_webhook for p in platforms) and not (settings.webhook_base_url and settings.webhook_secret):
        raise NoChannel("problem.run.webhook_settings")
    if settings.webhook_base_url and any(p.links_files for p in platforms) and not settings.files_secret:
        raise NoChannel("problem.run.files_secret")
    if webhook and settings.webhook_base_url and not settings.webhook_base_url.startswith("https://"):
        raise NoChannel("problem.run.https")
    if workers > 1 and not webhook:
        raise NoChannel("problem.run.workers_webhook")
    if workers > 1 and is_sqlite(settings.database_url):
        raise NoChannel("problem.run.workers_postgresql")
    return channels


async def check_communes(settings: Settings, db: Database) -> None:
    """Every bot serves a commune the database knows, and the settings' own bots know which one."""
    async with UnitOfWork(db, readonly=True) as uow:
        known = {c.code for c in await uow.communes.all()}
    wanted = {commune_code(c) for c in configured_channels(settings)} - {None}
    if settings.commune is not None:
        wanted.add(settings.commune)
    missing = sorted(code for code in wanted if code not in known)  # type: ignore[misc]
    if missing:
        raise NoChannel("problem.run.no_commune", codes=", ".join(missing))
    if settings.commune is None and len(known) > 1 and any(commune_code(c) is None for c in configured_channels(settings)):
        raise NoChannel("problem.run.which_commune", codes=", ".join(sorted(known)))


@dataclass
class Channels:
    """The running bots, by channel name, and what must be closed when they stop."""

    transports: dict[str, Transport] = field(default_factory=dict)
    limits: dict[str, Limits] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)


def build_channels(settings: Settings, db: Database, names: list[str], files: FileLinks | None) -> Channels:
    built = Channels()
    for spec in settings.bots():
        if spec.channel not in names:
            continue
        name = spec.channel
        connection = PLATFORMS[spec.platform].connect(name, spec.credentials, settings, db, files)
        built.transports[name] = connection.transport
        built.clients[name] = connection.client
        built.closers.append(connection.close)
        built.limits[name] = settings.limits(name)
    return built


async def run_bot(
    settings: Settings, stop: asyncio.Event | None = None, *, webhook: bool = False, host: str | None = None, port: int | None = None,
    register: bool = True, shared: bool = False,
) -> None:
    """One process: every bot, one sender, one inbox, the scheduler. `register`: set the webhooks
    and menus (a worker started by the supervisor leaves that to it); `shared`: one of several
    workers, which share the listening port and each bot's sending rate."""
    names = check(settings, webhook)
    db = Database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    files_secret = revealed(settings.files_secret)
    files = FileLinks(settings.webhook_base_url, files_secret) if settings.webhook_base_url and files_secret else None
    channels = build_channels(settings, db, names, files)
    server = None
    try:
        await ensure_current(db)
        await check_communes(settings, db)
        sender = Sender(db, channels.transports, channels.limits, shared_rate=shared)
        inbox = Inbox(db)
        conversation = Conversation(db, commune=settings.commune)
        tasks = [asyncio.create_task(sender.run(stop)), asyncio.create_task(inbox.run(stop))]
        listening = await _start_bots(channels, names, conversation, sender, inbox, settings, webhook, secret, register, stop, tasks)
        if listening:
            app = build_app(db, secret=secret, files=files, **listening)
            server = await serve(app, host or settings.webhook_host, port or settings.webhook_port, reuse_port=shared)
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


async def _start_bots(
    channels: Channels, names: list[str], conversation: Conversation, sender: Sender, inbox: Inbox, settings: Settings,
    webhook: bool, secret: str | None, register: bool, stop: asyncio.Event, tasks: list[asyncio.Task],
) -> dict[str, list]:
    """Make every bot ready, its long poll (if it polls) added to `tasks`; the bots whose webhooks
    are to listen, by platform. A platform with no long poll (the OA) listens whether or not `webhook`."""
    listening: dict[str, list] = {}
    for name in names:
        found = platform(name)
        bot = found.runner(channels.clients[name], conversation, sender, inbox, name)
        url = f"{settings.webhook_base_url}{found.webhook_path(name)}" if webhook else None
        polling = await found.start(bot, url, secret, register=register, stop=stop)
        if polling is not None:
            tasks.append(asyncio.create_task(polling))
        if webhook or not found.polls:
            listening.setdefault(found.name, []).append(bot)
    return listening


async def register_webhooks(settings: Settings) -> None:
    """Set every bot's webhook and menus once, before the workers start (they then only serve)."""
    names = check(settings, webhook=True)
    db = Database(settings.database_url)
    channels = build_channels(settings, db, names, None)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    try:
        await ensure_current(db)
        await check_communes(settings, db)
        conversation = Conversation(db, commune=settings.commune)
        sender = Sender(db, channels.transports, channels.limits)
        await _start_bots(channels, names, conversation, sender, Inbox(db), settings, True, secret, True, asyncio.Event(), [])
    finally:
        for close in channels.closers:
            await close()
        await db.dispose()
