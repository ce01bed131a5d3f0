"""The Zalo bot among the platforms (bot/channels/registry.py)."""

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

    from .runner import ZaloBot


class ZaloBotPlatform(SecretEchoingPlatform):
    name = "zalo"
    path = "/webhook/zalo"
    secret_header = "X-Bot-Api-Secret-Token"
    links_files = True

    def connect(self, channel: str, credentials: Any, settings: Any, db: Database, files: FileLinks | None) -> Connection:
        from .api import ZaloBotAPI
        from .transport import ZaloTransport

        api = ZaloBotAPI(revealed(credentials.zalo_token) or "", settings.zalo_api_url, channel)
        return Connection(ZaloTransport(api, files), api, api.close)

    def runner(self, client: Any, conversation: Conversation, sender: Sender, inbox: Inbox, channel: str) -> "ZaloBot":
        from .runner import ZaloBot

        return ZaloBot(client, conversation, sender, inbox)

    async def start(
        self, runner: "ZaloBot", webhook_url: str | None, secret: str | None, *, register: bool, stop: asyncio.Event,
    ) -> Coroutine[Any, Any, None] | None:
        await runner.prepare(webhook_url, secret, register=register)
        return None if webhook_url else runner.poll(stop)

    def answer(self) -> web.Response:
        return web.json_response({"ok": True})
