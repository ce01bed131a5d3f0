"""One HTTP listener for every channel's webhook, behind the reverse proxy that terminates TLS.

    POST /webhook/telegram   header X-Telegram-Bot-Api-Secret-Token
    POST /webhook/zalo       header X-Bot-Api-Secret-Token
    POST /webhook/zalo-oa    header X-ZEvent-Signature (SHA-256 over app id, body, timestamp, OA secret)
    GET  /files/{token}/{name}   a signed link to a file the bot sent on Zalo
    GET  /healthz

A further commune's own bots have their commune's code after the path: /webhook/telegram/TP.

Each delivery is checked, stored in the inbox and committed before the answer: 200 means
it is safe with us. A forged or malformed request gets a 4xx, one log line (no content, no
traceback) and changes nothing. One exception: a Telegram update with its update_id that cannot be
read otherwise is answered 200 and dropped (logged), because Telegram re-sends anything else and
holds back the updates after it.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

from aiohttp import web

from bot.channels.files import FileLinks
from bot.channels.payload import Malformed, parse
from bot.services.filetypes import UNKNOWN, content_disposition, sniff
from storage.db import Database
from storage.models import Attachment
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.channels.telegram.runner import TelegramBot
    from bot.channels.zalo.runner import ZaloBot
    from bot.channels.zalo_oa.runner import ZaloOA

log = logging.getLogger(__name__)

PATHS = {"telegram": "/webhook/telegram", "zalo": "/webhook/zalo", "zalo_oa": "/webhook/zalo-oa"}


def webhook_path(channel: str) -> str:
    """Where a bot's webhook is served: "telegram" → /webhook/telegram, "telegram:TP" → /webhook/telegram/TP."""
    kind, _, code = channel.partition(":")
    return PATHS[kind] + (f"/{code}" if code else "")


# Bigger bodies are not updates: refused before they are read.
MAX_BODY = 1024 * 1024


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def build_app(
    db: Database, *, secret: str | None, telegram: "Iterable[TelegramBot] | TelegramBot | None" = None,
    zalo: "Iterable[ZaloBot] | ZaloBot | None" = None, zalo_oa: "Iterable[ZaloOA] | ZaloOA | None" = None,
    files: FileLinks | None = None,
) -> web.Application:
    """The listener for these bots (one of each kind, or several: one per commune)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_file_headers])

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
            try:
                body = parse(await request.read())
            except Malformed as exc:
                log.warning("%s webhook refused: %s", channel, exc)
                return web.Response(status=400)
            if not await receive(body):
                log.warning("%s webhook refused: not an update", channel)
                return web.Response(status=400)
            return answer()

        app.router.add_post(webhook_path(channel), handler)

    for tg in _each(telegram):
        if secret:
            by_secret(tg.channel, "X-Telegram-Bot-Api-Secret-Token", tg.receive, lambda: web.Response(text="ok"))
    for zb in _each(zalo):
        if secret:
            by_secret(zb.channel, "X-Bot-Api-Secret-Token", zb.receive, lambda: web.json_response({"ok": True}))
    for oa in _each(zalo_oa):
        app.router.add_post(webhook_path(oa.channel), _oa_handler(oa))

    if files is not None:
        async def on_file(request: web.Request) -> web.Response:
            attachment_id = files.attachment_id(request.match_info["token"])
            if attachment_id is None:
                return web.Response(status=404)
            async with UnitOfWork(db, readonly=True) as uow:
                attachment = await uow.session.get(Attachment, attachment_id)
            if attachment is None:
                return web.Response(status=404)
            # The type from the bytes against our list, not the one stored: a file kept before the list
            # existed carries the sender's claim.
            kind = sniff(attachment.data) or UNKNOWN
            return web.Response(body=attachment.data, content_type=kind.mime,
                                headers={"Content-Disposition": content_disposition(attachment.filename, kind)})

        app.router.add_get("/files/{token}/{name}", on_file)
    return app


# On every answer under /files/, found or not: these links are served on the web console's host, so
# nothing there may be sniffed into a page, and a page that got through still runs without the
# console's origin (no cookies, no script).
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox", "Cache-Control": "private, no-store"}


@web.middleware
async def _file_headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if not request.path.startswith("/files/"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # the router's own 404 and 405
        response = web.Response(status=exc.status, headers={"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None)
    response.headers.update(FILE_HEADERS)
    return response


def _each(found: object) -> list:
    if found is None:
        return []
    return list(found) if isinstance(found, (list, tuple)) else [found]


def _oa_handler(oa: "ZaloOA") -> Callable[[web.Request], Awaitable[web.Response]]:
    async def on_zalo_oa(request: web.Request) -> web.Response:
        status = await oa.receive(await request.read(), request.headers.get("X-ZEvent-Signature"))
        return web.json_response({"error": 0 if status == 200 else status}, status=status)

    return on_zalo_oa


async def serve(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> web.AppRunner:
    """`reuse_port`: several worker processes listen on one port, and the kernel shares the connections out."""
    runner = web.AppRunner(app, access_log=None)  # the access log would show who wrote when
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    log.info("webhooks listening on %s:%d", host, port)
    return runner
