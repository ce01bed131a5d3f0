"""Simulated residents registering a question: each step is an update POSTed to the bot's webhook (as
Telegram delivers it) or queued for its getUpdates, then a wait for the message that asks the next question. The
buttons pressed are read from what the bot sent, as tests/support/phone.py does."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import SECRET, BenchDouble

VILLAGES = ["Thôn Phong Lâm", "Thôn Văn Lâm", "Thôn Trúc Lâm", "Thôn Nghĩa Hy", "Thôn Lai Hà", "Thôn Đại Lương", "Thôn Long Tràng"]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Hữu", "Ngọc", "Quang", "Thanh", "Xuân"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hùng", "Lan", "Mai", "Nam"]
TOPICS = ["Kinh tế", "Chủ trương", "Xây dựng Đảng", "Quốc phòng", "Môi trường", "Đạo đức", "Vấn đề khác"]

# (what the resident does, what they do it with, a fragment of the message that asks the next question)
# "type": a text message; "tap": the inline button whose label holds it ("{village}"/"{topic}": the
# resident's own choice). The receipt ("Mã phiếu") ends it.
STEPS: list[tuple[str, str, str]] = [
    ("type", "/start", "Ông/Bà có đồng ý không?"),
    ("tap", "Đồng ý", "Đăng ký phát biểu"),
    ("type", "📝 Đăng ký phát biểu", "Bước 1/6"),
    ("type", "{name}", "Bước 2/6"),
    ("tap", "{village}", "Bước 3/6"),
    ("tap", "{topic}", "Bước 4/6"),
    ("type", "{question}", "Bước 5/6"),
    ("tap", "Chỉ cần trả lời", "Bước 6/6"),
    ("type", "Bỏ qua", "kiểm tra lại phiếu"),
    ("tap", "Gửi", "Mã phiếu"),
]


def name(n: int) -> str:
    """A full name for resident n (names have no digits: the bot refuses them)."""
    return f"{SURNAMES[n % 10]} {MIDDLE[n // 10 % 10]} {GIVEN[n // 100 % 10]}"


@dataclass
class Sample:
    step: int
    sent: float  # perf_counter when the update was handed to the HTTP client
    latency: float  # seconds until the next question arrived at the double
    ack: float  # seconds until the webhook answered 200


class Webhook:
    """Where updates go, with Telegram's manners: the secret header, at most `connections` deliveries
    at once, handed out in the order the updates were made (a FIFO gate: aiohttp's own pool gives a
    freed keep-alive connection to whoever asks next, which starves the requests already waiting),
    and a failed delivery tried again a second later."""

    def __init__(self, url: str, connections: int) -> None:
        self.url, self.connections = url, connections
        self.session: aiohttp.ClientSession | None = None
        self.gate = asyncio.Semaphore(connections)
        self.refused = 0  # deliveries answered with something other than 200 (then tried again)

    async def __aenter__(self) -> "Webhook":
        connector = aiohttp.TCPConnector(limit=self.connections)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def post(self, update: dict, url: str | None = None) -> None:
        """Deliver one update (to `url`, default the webhook's own: a further commune's bot has its own path)."""
        assert self.session is not None
        for _ in range(30):
            async with self.gate:
                try:
                    async with self.session.post(url or self.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                        await r.read()
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
            self.refused += 1
            await asyncio.sleep(1.0)
        raise RuntimeError("the webhook refused an update 30 times")


class Polled:
    """Where updates go when the bot long-polls: nowhere, the double queued each for getUpdates when it
    was made (as Telegram holds it until the bot asks)."""

    refused = 0

    async def __aenter__(self) -> "Polled":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def post(self, update: dict, url: str | None = None) -> None:
        return None


Feed = Webhook | Polled


@dataclass
class Resident:
    double: BenchDouble
    user: Any
    n: int
    rng: random.Random
    step: int = 0
    cursor: int = 0
    ref: str | None = None
    samples: list[Sample] = field(default_factory=list)
    failed: str | None = None
    url: str | None = None  # the webhook of this resident's bot, when not the default one

    @property
    def done(self) -> bool:
        return self.step >= len(STEPS) or self.failed is not None

    def _fill(self, what: str) -> str:
        return what.format(
            name=name(self.n),
            village=VILLAGES[self.n % len(VILLAGES)],
            topic=TOPICS[self.n % len(TOPICS)],
            question=f"Câu hỏi số {self.n}: đề nghị xã sửa đường liên thôn và cống thoát nước ở đầu thôn.",
        )

    def next_update(self) -> dict:
        kind, what, _ = STEPS[self.step]
        what = self._fill(what)
        if kind == "type":
            return self.double.send_text(self.user, what)
        message, data = self.double.button(self.user.id, what)
        return self.double.press(self.user, message, data)

    async def take_step(self, webhook: Feed, timeout: float) -> None:
        """One update: POST it, wait for the next question; records the latency."""
        update = self.next_update()
        expected = STEPS[self.step][2]
        sent = time.perf_counter()
        await webhook.post(update, self.url)
        ack = time.perf_counter() - sent
        try:
            message, self.cursor, at = await self.double.wait_for(self.user.id, self.cursor, expected, timeout)
        except TimeoutError:
            self.failed = f"step {self.step + 1}: no {expected!r} within {timeout:.0f} s"
            return
        self.samples.append(Sample(self.step, sent, at - sent, ack))
        if self.step == len(STEPS) - 1:
            self.ref = next((line.split(": ", 1)[1].strip() for line in message["text"].splitlines() if "Mã phiếu" in line), None)
        self.step += 1

    async def register(self, webhook: Feed, timeout: float) -> None:
        while not self.done:
            await self.take_step(webhook, timeout)
