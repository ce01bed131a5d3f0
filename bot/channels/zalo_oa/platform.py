"""The Zalo Official Account among the platforms (bot/channels/registry.py): no long poll, and a
webhook set by hand in the OA's console, whose deliveries are signed rather than carrying our secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.channels.platform import Connection, Handler, Platform, revealed

if TYPE_CHECKING:
    from bot.channels.files import FileLinks
    from bot.conversation.engine import Conversation
    from bot.delivery.inbox import Inbox
    from bot.delivery.sender import Sender
    from storage.db import Database

    from .runner import ZaloOA


class ZaloOAPlatform(Platform):
    name = "zalo_oa"
    path = "/webhook/zalo-oa"
    polls = False
    links_files = True

    def connect(self, channel: str, credentials: Any, settings: Any, db: Database, files: FileLinks | None) -> Connection:
        from .api import OAClient
        from .transport import ZaloOATransport

        client = OAClient(
            db, app_id=credentials.zalo_oa_app_id or "", secret_key=revealed(credentials.zalo_oa_secret_key) or "",
            api_url=settings.zalo_oa_api_url, oauth_url=settings.zalo_oa_oauth_url,
            access_token=revealed(credentials.zalo_oa_access_token), refresh_token=revealed(credentials.zalo_oa_refresh_token), channel=channel,
        )
        return Connection(ZaloOATransport(client, files), client, client.close)

    def runner(self, client: Any, conversation: Conversation, sender: Sender, inbox: Inbox, channel: str) -> "ZaloOA":
        from .runner import ZaloOA

        return ZaloOA(client, conversation, sender, inbox)

    def webhook(self, runner: "ZaloOA", secret: str | None) -> Handler:
        async def on_zalo_oa(request: web.Request) -> web.Response:
            status = await runner.receive(await request.read(), request.headers.get("X-ZEvent-Signature"))
            return web.json_response({"error": 0 if status == 200 else status}, status=status)

        return on_zalo_oa
