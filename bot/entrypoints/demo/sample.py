"""Sample questions for `doithoai demo --web`: a console with data in it, without a live bot.

The residents register through the real conversation core (the same flow a Telegram resident
goes through) and the secretariat's work is done through the same services the console uses,
so what a newcomer sees is what the product makes, in every state a question can be in.
"""

from __future__ import annotations

import itertools
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from bot.conversation.engine import Conversation
from bot.domain.messages import Button, Event, Kind, Reply
from bot.domain.submissions import receipt_code
from bot.services import secretariat
from bot.services.staff import OPERATOR, SECRETARIAT, add_staff, set_password
from bot.text.catalogue import Translator
from storage.db import Database
from storage.uow import UnitOfWork

CHANNEL = "telegram"
LOGIN = "thuky"


@dataclass(frozen=True)
class Sample:
    name: str
    village: str
    topic: str
    question: str
    speak: bool = True
    department: str | None = None  # assigned to an answering office
    answer: str | None = None
    by: str | None = None
    forward_to: str | None = None  # beyond the commune: forwarded, news expected in a month
    duplicate_of: str | None = None  # asks what that question asks


def samples() -> list[Sample]:
    data = tomllib.loads(resources.files("bot.entrypoints.demo").joinpath("sample.toml").read_text(encoding="utf-8"))
    return [Sample(**q) for q in data["question"]]


class _Resident:
    """One resident tapping through the core, reading the buttons the core queued for them."""

    _updates = itertools.count(1)

    def __init__(self, conversation: Conversation, user_id: str) -> None:
        self.conversation, self.user_id = conversation, user_id
        self.tr = Translator("vi")
        self.buttons: list[tuple[str, Button]] = []

    async def _send(self, **kw: object) -> None:
        event = Event(channel=CHANNEL, user_id=self.user_id, chat_id=self.user_id, update_id=f"sample-{next(self._updates)}",
                      language="vi", **kw)  # type: ignore[arg-type]
        await self.conversation.handle(event)
        async with UnitOfWork(self.conversation.db) as uow:
            for row in await uow.outbox.pending_for_chat(CHANNEL, self.user_id):
                reply = Reply.from_payload(row.payload)
                self.buttons += [(str(row.id), b) for line in reply.buttons or [] for b in line]
                # Nobody is on the other end of a sample chat: its replies count as seen.
                await uow.outbox.mark(row.id, status="sent")  # type: ignore[arg-type]
            await uow.commit()

    async def text(self, text: str) -> None:
        if text.startswith("/"):
            return await self._send(kind=Kind.COMMAND, text=text, command=text[1:])
        await self._send(kind=Kind.TEXT, text=text)

    async def press(self, label: str) -> None:
        for ref, button in reversed(self.buttons):
            if label in button.label:
                return await self._send(kind=Kind.BUTTON, data=button.data, message_ref=ref)
        raise RuntimeError(f"sample resident: no button {label!r}")

    async def register(self, s: Sample) -> None:
        await self.text("/start")
        await self.press(self.tr("consent.accept"))
        await self.text("/dangky")
        await self.text(s.name)
        await self.press(s.village)
        await self.press(s.topic)
        await self.text(s.question)
        await self.press(self.tr("form.speak_yes" if s.speak else "form.speak_no"))
        await self.text(self.tr("form.phone_skip"))
        await self.press(self.tr("review.send"))


async def fill(db: Database, now: datetime) -> tuple[str, str]:
    """The sample questions of the example meeting, each in its state; returns a secretariat login and its password."""
    conversation = Conversation(db, clock=lambda: now)
    chosen = samples()
    for number, sample in enumerate(chosen, 1):
        await _Resident(conversation, f"{900000 + number}").register(sample)
    async with UnitOfWork(db) as uow:
        for number, s in enumerate(chosen, 1):
            ref = receipt_code("GP", number)  # as the conversation gave them, in order
            if s.department:
                await secretariat.classify(uow, OPERATOR, ref, department=s.department, now=now)
            if s.answer:
                await secretariat.answer(uow, OPERATOR, ref, text=s.answer, by=s.by, now=now)
            if s.forward_to:
                await secretariat.answer(uow, OPERATOR, ref, text=None, forward_to=s.forward_to,
                                         expected_by=(now + timedelta(days=30)).date(), now=now)
            if s.duplicate_of:
                await secretariat.mark_duplicate(uow, OPERATOR, ref, s.duplicate_of, now=now)
        password = secrets.token_urlsafe(9)
        await add_staff(uow, name=Translator("vi")("demo.staff_name"), role=SECRETARIAT, login=LOGIN, commune="GP", actor=OPERATOR, now=now)
        await set_password(uow, LOGIN, password, actor=OPERATOR, now=now)
    return LOGIN, password
