"""Many residents at once, for the crash tests (tests/e2e/test_crash_process.py): their registrations,
what the bot had in flight when it was killed, and what may therefore arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from storage.db import Database
from storage.models import Outbox
from tests.conftest import rows
from tests.support.botapi_double import BotAPIDouble, SimUser
from tests.support.process import RunningBot, command

VILLAGES = ["Thôn Phong Lâm", "Thôn Văn Lâm"]
# What a registering resident reads, one message each, in this order: anything more means an
# update was handled twice or out of turn, anything less that one was lost.
REGISTRATION = [
    "Kính chào Ông/Bà", "Ông/Bà có đồng ý không?", "Cảm ơn Ông/Bà", "Bước 1/6", "Bước 2/6", "Bước 3/6", "Bước 4/6",
    "Bước 5/6", "Bước 6/6", "Không để lại số điện thoại", "kiểm tra lại phiếu", "Mã phiếu",
]


@dataclass
class Registrant:
    """A resident who registers a question: a typist sends every step at once as typed text (a flood in a
    few updates), a tapper waits for each question and presses its buttons, as most people do."""

    double: BotAPIDouble
    user: SimUser
    name: str
    village: str
    question: str
    tapper: bool
    timeout: float = 120
    updates: list[dict] = field(default_factory=list)

    def send(self, text: str) -> None:
        self.updates.append(self.double.send_text(self.user, text))

    async def prompt(self, fragment: str) -> dict:
        """The newest bot message holding `fragment`, once there is one (a crash can only delay it)."""
        def newest() -> dict | None:
            return next((m for m in reversed(self.double.messages(self.user)) if fragment in m.get("text", "")), None)

        return await self.double.wait_until(newest, timeout=self.timeout)

    async def tap(self, fragment: str, label: str) -> None:
        message = await self.prompt(fragment)
        data = next(b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row if label in b["text"])
        self.updates.append(self.double.press(self.user, message, data))

    async def register(self) -> None:
        self.send("/start")
        await self.tap("Ông/Bà có đồng ý không?", "Đồng ý")
        steps = ["📝 Đăng ký phát biểu", self.name, self.village, "Vấn đề khác", self.question, "Chỉ cần trả lời bằng văn bản", "Bỏ qua", "✅ Gửi"]
        if not self.tapper:
            for text in steps:
                self.send(text)
        else:
            self.send(steps[0])
            await self.prompt("Bước 1/6")
            self.send(self.name)
            await self.tap("Bước 2/6", self.village)
            await self.tap("Bước 3/6", "Vấn đề khác")
            await self.prompt("Bước 4/6")
            self.send(self.question)
            await self.tap("Bước 5/6", "Chỉ cần trả lời")
            self.send("Bỏ qua")
            await self.tap("kiểm tra lại phiếu", "Gửi")
        await self.prompt("Mã phiếu")

    @property
    def done(self) -> bool:
        return any("Mã phiếu" in t for t in texts_of(self.double, self.user.id))


FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Lan", "Nam", "Phúc"]


def full_name(i: int) -> str:
    """A different name for each of 256 residents (names take letters only)."""
    return f"{FAMILY[i % 8]} {MIDDLE[i // 8 % 4]} {GIVEN[i // 32 % 8]}"


def crowd(double: BotAPIDouble, count: int, *, tappers: int) -> list[Registrant]:
    people = []
    for i in range(count):
        user = double.user(first_name=f"Dân {i}")
        people.append(Registrant(
            double, user, name=full_name(i), village=VILLAGES[i % len(VILLAGES)],
            question=f"Câu hỏi số {i:03d}: đề nghị xã sửa đoạn đường thôn bị hỏng.", tapper=i % (count // tappers) == 0 if tappers else False,
        ))
    return people


class KilledBot(RunningBot):
    """`doithoai run` in a process group of its own, so kill -9 takes the supervisor and every worker at
    once, as a power cut or the OOM killer would."""

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(*command("run", *self.args), env=self.env, stdout=out, stderr=out, start_new_session=True)

    async def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    @property
    def workers(self) -> int:
        return int(self.args[self.args.index("--workers") + 1]) if "--workers" in self.args else 1

    async def close(self) -> None:
        """Whatever happened in the test, nothing of the bot is left running."""
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()


@dataclass
class InFlight:
    """What the killed bot had handed to Telegram without recording it: queued rows still pending whose
    message the double holds. These, and only these, may arrive twice (README, "The delivery queue")."""

    messages: Counter = field(default_factory=Counter)  # (chat id, text) → how many
    edits: int = 0  # buttons taken off (a repeat is refused as "not modified", which the bot takes as done)

    @property
    def total(self) -> int:
        return sum(self.messages.values()) + self.edits


async def in_flight(url: str, double: BotAPIDouble) -> InFlight:
    """Read right after the kill: the process is gone, so neither side changes any more."""
    db = Database(url)
    try:
        pending = [r for r in await rows(db, Outbox) if r.status == "pending"]
    finally:
        await db.dispose()
    found = InFlight()
    for row in pending:
        chat = int(row.chat_id)
        if row.payload.get("retire_buttons_of"):
            message = next((m for m in double.messages(chat) if str(m["message_id"]) == str(row.payload["retire_buttons_of"])), None)
            found.edits += message is not None and message.get("edits", 0) > 0
        elif row.payload.get("text") in texts_of(double, chat):
            found.messages[(chat, row.payload["text"])] += 1
    return found


def texts_of(double: BotAPIDouble, chat: int) -> list[str]:
    return [m.get("text", "") for m in double.messages(chat)]


def repeats(double: BotAPIDouble, chats: list[int]) -> Counter:
    """(chat id, text) → how many times more than once the bot sent it."""
    found: Counter = Counter()
    for chat in chats:
        for text, n in Counter(texts_of(double, chat)).items():
            if n > 1:
                found[(chat, text)] = n - 1
    return found


def without_repeats(messages: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for text in messages:
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def log_of(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")
