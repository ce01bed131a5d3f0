"""Telegram among the platforms (bot/channels/registry.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Coroutine

from aiohttp import web

from bot.channels.platform import Connection, SecretEchoingPlatform, revealed

if TYPE_CHECKING:
    from bot.channels.files import FileLinks
    from bot.conversation.engine import Conversation
    from bot.delivery.inbox import Inbox
    from bot.delivery.sender import Sender
    from storage.db import Database

    from .runner import TelegramBot


class TelegramPlatform(SecretEchoingPlatform):
    name = "telegram"
    path = "/webhook/telegram"
    secret_header = "X-Telegram-Bot-Api-Secret-Token"

    def connect(self, channel: str, credentials: Any, settings: Any, db: Database, files: FileLinks | None) -> Connection:
        from .client import BotAPI
        from .transport import TelegramTransport

        bot = BotAPI(revealed(credentials.telegram_token) or "", settings.telegram_api_url)
        return Connection(TelegramTransport(bot, channel), bot, bot.close)

    def runner(self, client: Any, conversation: Conversation, sender: Sender, inbox: Inbox, channel: str) -> "TelegramBot":
        from .runner import TelegramBot

        return TelegramBot(client, conversation, sender, inbox, channel=channel)

    async def start(
        self, runner: "TelegramBot", webhook_url: str | None, secret: str | None, *, register: bool, stop: asyncio.Event,
    ) -> Coroutine[Any, Any, None] | None:
        if webhook_url is None:
            # The poll makes itself ready (and always registers); the process's sender runs on its own.
            return runner.run(stop, send=False)
        await runner.prepare(webhook_url, secret, register=register)
        return None

    def answer(self) -> web.Response:
        return web.Response(text="ok")
