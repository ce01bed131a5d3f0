"""One HTTP listener for every channel's webhook, behind the reverse proxy that terminates TLS.

    POST /webhook/telegram   header X-Telegram-Bot-Api-Secret-Token
    POST /webhook/zalo       header X-Bot-Api-Secret-Token
    POST /webhook/zalo-oa    header X-ZEvent-Signature (SHA-256 over app id, body, timestamp, OA secret)
    GET  /files/{token}/{name}   a signed link to a file the bot sent on Zalo
    GET  /healthz

Each delivery is checked, stored in the inbox and committed before the answer: 200 means
it is safe with us. A forged or malformed request gets a 4xx and changes nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING, Awaitable, Callable

from aiohttp import web

from bot.channels.files import FileLinks
from storage.db import Database
from storage.models import Attachment
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.channels.telegram.runner import TelegramBot
    from bot.channels.zalo.runner import ZaloBot
    from bot.channels.zalo_oa.runner import ZaloOA

log = logging.getLogger(__name__)

PATHS = {"telegram": "/webhook/telegram", "zalo": "/webhook/zalo", "zalo_oa": "/webhook/zalo-oa"}
# Bigger bodies are not updates: refused before they are read.
MAX_BODY = 1024 * 1024


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def _json(request: web.Request) -> dict | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def build_app(
    db: Database, *, secret: str | None, telegram: "TelegramBot | None" = None, zalo: "ZaloBot | None" = None,
    zalo_oa: "ZaloOA | None" = None, files: FileLinks | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)

    def by_secret(channel: str, header: str, receive: Callable[[dict], Awaitable[bool]], answer: Callable[[], web.Response]) -> None:
        """A webhook whose platform echoes our secret in a header (Telegram, the Zalo bot)."""

        async def handler(request: web.Request) -> web.Response:
            assert secret is not None
            if not _same(request.headers.get(header), secret):
                log.warning("%s webhook refused: wrong secret", channel)
                return web.Response(status=403)
            body = await _json(request)
            if body is None or not await receive(body):
                return web.Response(status=400)
            return answer()

        app.router.add_post(PATHS[channel], handler)

    if telegram is not None and secret:
        by_secret("telegram", "X-Telegram-Bot-Api-Secret-Token", telegram.receive, lambda: web.Response(text="ok"))
    if zalo is not None and secret:
        by_secret("zalo", "X-Bot-Api-Secret-Token", zalo.receive, lambda: web.json_response({"ok": True}))

    if zalo_oa is not None:
        async def on_zalo_oa(request: web.Request) -> web.Response:
            status = await zalo_oa.receive(await request.read(), request.headers.get("X-ZEvent-Signature"))
            return web.json_response({"error": 0 if status == 200 else status}, status=status)

        app.router.add_post(PATHS["zalo_oa"], on_zalo_oa)

    if files is not None:
        async def on_file(request: web.Request) -> web.Response:
            attachment_id = files.attachment_id(request.match_info["token"])
            if attachment_id is None:
                return web.Response(status=404)
            async with UnitOfWork(db, readonly=True) as uow:
                attachment = await uow.session.get(Attachment, attachment_id)
            if attachment is None:
                return web.Response(status=404)
            return web.Response(body=attachment.data, content_type=attachment.mime_type)

        app.router.add_get("/files/{token}/{name}", on_file)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)  # the access log would show who wrote when
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("webhooks listening on %s:%d", host, port)
    return runner
