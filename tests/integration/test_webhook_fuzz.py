"""Malformed webhook bodies: each gets an answer under 500 and at most one log line, with no traceback
and nothing of the body in it. Refused bodies get a 4xx and exactly one line. A Telegram update that
carries its update_id but cannot be read is answered 200 and dropped (one line): Telegram re-sends
anything else, and holds the chat's later updates back behind it."""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.registry import PATHS
from bot.channels.telegram.client import BotAPI
from bot.channels.telegram.runner import TelegramBot
from bot.channels.telegram.transport import TelegramTransport
from bot.channels.webhook import build_app
from bot.channels.zalo.api import ZaloBotAPI
from bot.channels.zalo.runner import ZaloBot
from bot.channels.zalo.transport import ZaloTransport
from bot.channels.zalo_oa.api import OAClient
from bot.channels.zalo_oa.runner import ZaloOA
from bot.channels.zalo_oa.transport import ZaloOATransport
from bot.conversation.engine import Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.sender import Sender
from storage.models import Inbound
from tests.conftest import rows
from tests.support.zalo_double import ZaloBotDouble, ZaloOADouble, oa_signature

SECRET = "s3cret-s3cret"
PERSONAL = "Nguyễn Văn Bí 0912345678"  # must never reach the log
USER = {"id": 7, "is_bot": False, "first_name": PERSONAL}
DEEP = b"[" * 200_000 + b"]" * 200_000  # json.loads: RecursionError
NESTED = json.dumps({"update_id": 90, "x": json.loads("[" * 500 + "]" * 500)}).encode()  # parses, but no update is this deep

# Bodies that are wrong for every channel: not JSON, not an object, nested beyond reason, not UTF-8.
COMMON: list[bytes] = [
    b"", b" ", b"{", b"null", b"[]", b"42", b'"x"', b"true", DEEP, NESTED, b"\xff\xfe\xfa\x00{", b"\x80\x81",
    b'{"update_id": 1' + b"9" * 5000 + b"}", "{\"message\": \"\ud800\"}".encode("utf-8", "surrogatepass"),
]


def body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


TELEGRAM: list[bytes] = COMMON + [body(v) for v in (
    {}, {"update_id": "1"}, {"update_id": True}, {"update_id": 10**40}, {"update_id": -5}, {"update_id": None},
    {"update_id": 2, "callback_query": {"id": "q", "from": USER, "chat_instance": "c", "data": 5}},
    {"update_id": 3, "callback_query": {"id": "q", "chat_instance": "c", "data": "c:y"}},  # no "from"
    {"update_id": 4, "callback_query": {"id": "q", "from": USER, "chat_instance": "c", "message": "oops", "data": "c:y"}},
    {"update_id": 5, "callback_query": "c:y"},
    {"update_id": 6, "message": {"message_id": 1, "date": 0, "from": USER, "text": PERSONAL}},  # no chat
    {"update_id": 7, "message": PERSONAL},
    {"update_id": 8, "message": {"message_id": 1, "date": 0, "chat": "x", "text": PERSONAL}},
    {"update_id": 9, "message": {"message_id": 1, "date": 0, "chat": {"id": 10**70, "type": "private"}, "from": USER, "text": PERSONAL}},
    {"update_id": 10, "message": {"message_id": 1, "date": 0, "chat": {"id": [1], "type": "private"}, "from": USER, "text": PERSONAL}},
    {"update_id": 11, "message": {"message_id": "x", "date": "yesterday", "chat": {"id": 1, "type": "private"}, "from": "me", "text": 5}},
    {"update_id": 12, "edited_message": {"chat": {"id": {"id": 1}}}},
    {"update_id": 13, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "from": USER, "contact": "0912345678"}},
)]

ZALO: list[bytes] = COMMON + [body(v) for v in (
    {}, {"result": 5}, {"ok": True, "result": "x"}, {"message": PERSONAL}, {"message": []},
    {"event_name": "message.text.received", "message": {"chat": "x", "message_id": "m1", "text": PERSONAL}},
    {"message": {"chat": {"id": ["a"]}, "message_id": {"a": 1}, "text": PERSONAL}},
    {"message": {"chat": {"id": True}, "message_id": True}},
    {"message": {"chat": {"id": 10**40}, "message_id": "m2"}},
    {"message": {"chat": {"id": "c" * 500}, "message_id": "m3"}},
    {"ok": True, "result": {"message": {"chat": {"id": "c1"}, "message_id": 10**40}}},
)]


def oa_bodies(app_id: str) -> list[tuple[bytes, str | None]]:
    """(body, timestamp to sign it with: None for unsigned) — signed ones pass the signature and test what follows."""
    now = str(int(time.time() * 1000))

    def signed(value: dict) -> tuple[bytes, str]:
        return body(value), str(value.get("timestamp", ""))

    event = {"app_id": app_id, "timestamp": now, "event_name": "user_send_text"}
    return [(b, None) for b in COMMON] + [
        (body({"app_id": app_id}), None),
        signed({"app_id": app_id, "timestamp": "²"}),
        signed({"app_id": app_id, "timestamp": "①①①"}),
        signed({"app_id": app_id, "timestamp": "１７００００００００００００"}),
        signed({"app_id": app_id, "timestamp": 10**40}),
        signed({"app_id": [app_id], "timestamp": now}),
        signed({**event, "sender": PERSONAL, "message": {"msg_id": "m1", "text": PERSONAL}}),
        signed({**event, "sender": {"id": ["u"]}, "message": {"msg_id": "m2", "text": PERSONAL}}),
        signed({**event, "sender": {"id": "u1"}, "message": PERSONAL}),
        signed({**event, "sender": {"id": "u1"}, "message": {"msg_id": {"x": 1}, "text": PERSONAL}}),
        signed({**event, "sender": {"id": "u" * 300}, "message": {"msg_id": "m3", "text": PERSONAL}}),
        signed({**event, "event_name": "follow", "sender": {"id": 10**40}}),
        signed({**event, "event_name": ["follow"], "sender": {"id": "u2"}}),
    ]


@asynccontextmanager
async def listener(db, double) -> AsyncIterator[tuple[str, ZaloOADouble]]:
    """Every channel's webhook on one free port, as `doithoai run --webhook` serves them."""
    async with ZaloBotDouble() as zb, ZaloOADouble() as oa_double:
        inbox = Inbox(db)
        bot = BotAPI(double.token, double.base_url)
        api = ZaloBotAPI(zb.token, zb.base_url)
        client = OAClient(db, app_id=oa_double.app_id, secret_key=oa_double.secret_key, api_url=oa_double.api_url,
                          oauth_url=oa_double.oauth_url, access_token=oa_double.access_token, refresh_token=oa_double.refresh_token)
        sender = Sender(db, {"telegram": TelegramTransport(bot), "zalo": ZaloTransport(api), "zalo_oa": ZaloOATransport(client)})
        conversation = Conversation(db)
        app = build_app(db, secret=SECRET, telegram=TelegramBot(bot, conversation, sender, inbox),
                        zalo=ZaloBot(api, conversation, sender, inbox), zalo_oa=ZaloOA(client, conversation, sender, inbox))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", oa_double  # type: ignore[union-attr]
        finally:
            await runner.cleanup()
            await inbox.locks.close()
            await bot.close()
            await api.close()
            await client.close()


def problems(caplog: pytest.LogCaptureFixture, status: int) -> list[str]:
    found = []
    if status >= 500:
        found.append(f"status {status}")
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records):
        found.append("a traceback was logged")
    if len(lines) > 1 or (status >= 400 and len(lines) != 1):
        found.append(f"{len(lines)} log lines: {[r.getMessage() for r in lines]}")
    if any(word in r.getMessage() for r in caplog.records for word in ("Nguyễn", "0912345678")):
        found.append("personal data in the log")
    return found


@pytest.mark.parametrize("channel", ["telegram", "zalo", "zalo_oa"])
async def test_malformed_bodies_get_a_4xx_and_one_log_line(meeting_db, double, caplog, channel):
    caplog.set_level(logging.INFO)
    failures = []
    async with listener(meeting_db, double) as (server, oa_double), aiohttp.ClientSession() as http:
        url = server + PATHS[channel]
        if channel == "zalo_oa":
            cases = [(raw, {"X-ZEvent-Signature": oa_signature(oa_double.app_id, raw, stamp, oa_double.secret_key)} if stamp is not None else {})
                     for raw, stamp in oa_bodies(oa_double.app_id)]
        else:
            header = "X-Telegram-Bot-Api-Secret-Token" if channel == "telegram" else "X-Bot-Api-Secret-Token"
            cases = [(raw, {header: SECRET}) for raw in (TELEGRAM if channel == "telegram" else ZALO)]
        for raw, headers in cases:
            for content_type in ("application/json", "text/plain; charset=latin-1"):
                caplog.clear()
                async with http.post(url, data=raw, headers={**headers, "Content-Type": content_type}) as response:
                    status = response.status
                found = problems(caplog, status)
                if found:
                    failures.append(f"{raw[:80]!r} ({content_type}): {'; '.join(found)}")
    assert failures == []
    assert await rows(meeting_db, Inbound) == []  # nothing of these waits to be handled later
