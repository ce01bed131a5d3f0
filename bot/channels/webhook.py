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
from typing import Any, Awaitable, Callable

from aiohttp import web

from bot.channels.files import FileLinks
from bot.channels.payload import Malformed, parse
from bot.channels.platform import Handler
from bot.channels.registry import PLATFORMS
from bot.services.filetypes import UNKNOWN, content_disposition, sniff
from storage.db import Database
from storage.models import Attachment
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Bigger bodies are not updates: refused before they are read.
MAX_BODY = 1024 * 1024


def _secret_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def echoed_secret(
    channel: str, header: str, secret: str, receive: Callable[[dict], Awaitable[bool]], answer: Callable[[], web.Response],
) -> Handler:
    """The handler of a webhook whose platform echoes our secret in a header (Telegram, the Zalo bot)."""

    async def handler(request: web.Request) -> web.Response:
        if not _secret_matches(request.headers.get(header), secret):
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

    return handler


def build_app(db: Database, *, secret: str | None, files: FileLinks | None = None, **bots: Any) -> web.Application:
    """The listener for these bots, given by platform (telegram=…, zalo=…, zalo_oa=…: one bot, or
    several, one per commune)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_file_headers])

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)

    for name, found in bots.items():
        if name not in PLATFORMS:
            raise TypeError(f"build_app() got an unexpected keyword argument {name!r}")
        platform = PLATFORMS[name]
        for bot in _listed(found):
            handler = platform.webhook(bot, secret)
            if handler is not None:
                app.router.add_post(platform.webhook_path(bot.channel), handler)

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


def _listed(found: object) -> list:
    """One bot, several, or none, as a list."""
    if found is None:
        return []
    return list(found) if isinstance(found, (list, tuple)) else [found]


async def serve(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> web.AppRunner:
    """`reuse_port`: several worker processes listen on one port, and the kernel shares the connections out."""
    runner = web.AppRunner(app, access_log=None)  # the access log would show who wrote when
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    log.info("webhooks listening on %s:%d", host, port)
    return runner
