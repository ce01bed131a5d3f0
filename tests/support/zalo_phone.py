"""Residents on Zalo in tests: the real channel code against the Zalo doubles over HTTP on 127.0.0.1.

`ZaloPhone` (Zalo bot) and `OAPhone` (Zalo OA) read like tests/support/phone.py's Telegram
`Phone`: `say` types and waits for a reply, `choose` picks from the last numbered list by
typing its number, `expect` reads the bot's messages until one contains every fragment.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from aiohttp import web

from bot.channels.registry import PATHS
from bot.channels.webhook import build_app
from bot.channels.zalo.api import ZaloBotAPI
from bot.channels.zalo.runner import ZaloBot
from bot.channels.zalo.transport import ZaloTransport
from bot.channels.zalo_oa.api import OAClient
from bot.channels.zalo_oa.runner import ZaloOA
from bot.channels.zalo_oa.transport import ZaloOATransport
from bot.conversation.engine import Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.limits import Limits
from bot.delivery.sender import Sender
from storage.db import Database
from tests.support.zalo_double import OAUser, ZaloBotDouble, ZaloOADouble, ZaloUser

# Simulated residents answer within milliseconds: the per-chat pace for real people would only slow tests.
FAST = Limits(chat_per_second=1000, chat_burst=1000, per_second=1000)
NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.M)


@asynccontextmanager
async def running_zalo(db: Database, double: ZaloBotDouble, clock=None, links=None) -> AsyncIterator[ZaloBot]:
    """The Zalo bot channel long-polling the double, inside the test's event loop; with `links`
    (bot/channels/files.py FileLinks), files go out as links they sign, as deployed."""
    api = ZaloBotAPI(double.token, double.base_url)
    conversation = Conversation(db, clock=clock) if clock else Conversation(db)
    sender = Sender(db, {"zalo": ZaloTransport(api, links) if links is not None else ZaloTransport(api)}, {"zalo": FAST})
    inbox = Inbox(db, poll_interval=0.2)
    bot = ZaloBot(api, conversation, sender, inbox)
    await bot.prepare()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(t) for t in (bot.poll(stop), inbox.run(stop), sender.run(stop))]
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        await api.close()


@dataclass
class RunningOA:
    channel: ZaloOA
    url: str  # where the double posts its events
    client: OAClient


@asynccontextmanager
async def running_oa(db: Database, double: ZaloOADouble, clock=None, links=None) -> AsyncIterator[RunningOA]:
    """The Zalo OA channel: its webhook served on a free port, its sender talking to the double; with
    `links`, files go out as links they sign, as deployed."""
    client = OAClient(
        db, app_id=double.app_id, secret_key=double.secret_key, api_url=double.api_url, oauth_url=double.oauth_url,
        access_token=double.access_token, refresh_token=double.refresh_token,
    )
    conversation = Conversation(db, clock=clock) if clock else Conversation(db)
    sender = Sender(db, {"zalo_oa": ZaloOATransport(client, links) if links is not None else ZaloOATransport(client)}, {"zalo_oa": FAST})
    inbox = Inbox(db, poll_interval=0.2)
    oa = ZaloOA(client, conversation, sender, inbox)
    runner = web.AppRunner(build_app(db, secret=None, zalo_oa=oa))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(t) for t in (inbox.run(stop), sender.run(stop))]
    try:
        yield RunningOA(oa, f"http://127.0.0.1:{port}{PATHS['zalo_oa']}", client)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        await runner.cleanup()
        await client.close()


@dataclass
class _Reader(ABC):
    """A simulated resident on either Zalo double (both have `next_message(user, timeout)`)."""

    seen: list[dict] = field(default_factory=list)
    double: Any = None
    user: Any = None

    @property
    def chat_id(self) -> str:
        assert self.user is not None
        return self.user.id

    async def _next(self, timeout: float) -> dict:
        assert self.double is not None and self.user is not None
        return await self.double.next_message(self.user, timeout=timeout)

    async def expect(self, *fragments: str, timeout: float = 15) -> dict:
        """Read the bot's next messages until one contains every fragment; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got: list[str] = []
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no message with {fragments!r}; got: {got}")
            try:
                message = await self._next(remaining)
            except AssertionError:
                raise AssertionError(f"no message with {fragments!r}; got: {got}") from None
            self.seen.append(message)
            text = message.get("text", "")
            got.append(text[:80])
            if all(f in text for f in fragments):
                return message

    @abstractmethod
    async def say(self, text: str, *expected: str) -> dict: ...

    async def choose(self, label: str, *expected: str) -> dict:
        """Type the number the label has in the last list."""
        return await self.say(self.number_of(label), *expected)

    def number_of(self, label: str) -> str:
        """The number a label has in the newest message that lists choices."""
        for message in reversed(self.seen):
            listed = NUMBERED.findall(message.get("text", ""))
            for number, text in listed:
                if label in text:
                    return number
            if listed:
                break
        raise AssertionError(f"no choice {label!r} in the last list")


@dataclass
class ZaloPhone(_Reader):
    double: ZaloBotDouble | None = None
    user: ZaloUser | None = None

    def send(self, text: str) -> dict:
        assert self.double is not None and self.user is not None
        return self.double.send_text(self.user, text)

    async def say(self, text: str, *expected: str) -> dict:
        self.send(text)
        return await self.expect(*expected)


@dataclass
class OAPhone(_Reader):
    double: ZaloOADouble | None = None
    user: OAUser | None = None
    url: str = ""

    async def send(self, text: str) -> int:
        assert self.double is not None and self.user is not None
        return await self.double.send_text(self.user, text, url=self.url)

    async def say(self, text: str, *expected: str) -> dict:
        status = await self.send(text)
        assert status == 200, status
        return await self.expect(*expected)


async def register_on_zalo(p: "ZaloPhone", question: str, name: str = "Nguyễn Văn An") -> dict:
    """A new resident on the Zalo bot, from consent to the receipt, typing as residents do."""
    await p.say("xin chào", "Ông/Bà có đồng ý không?")
    await p.say("1", "Cảm ơn Ông/Bà")
    await p.say("đăng ký", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.say("thon phong lam", "Bước 3/6")
    await p.say("van de khac", "Bước 4/6")
    await p.say(question, "Bước 5/6")
    await p.choose("Chỉ cần trả lời", "Bước 6/6")
    await p.say("1", "kiểm tra lại phiếu")
    return await p.say("1", "Mã phiếu")


async def oa_to_question(p: "OAPhone", name: str = "Phạm Thị Dung") -> dict:
    """A new resident on the Zalo OA, from consent to the form's question step; its message."""
    await p.say("xin chào", "Ông/Bà có đồng ý không?")
    await p.say("1", "Cảm ơn")
    await p.say("đăng ký", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.choose("Thôn Phong Lâm", "Bước 3/6")
    return await p.choose("Vấn đề khác", "Bước 4/6")


async def oa_registered(p: "OAPhone", question: str = "Khi nào nạo vét kênh mương nội đồng?") -> dict:
    """A new resident on the Zalo OA, from consent to the receipt; the receipt."""
    await oa_to_question(p)
    await p.say(question, "Bước 5/6")
    await p.choose("Chỉ cần trả lời", "Bước 6/6")
    await p.say("1", "kiểm tra lại phiếu")
    return await p.say("1", "Mã phiếu")
