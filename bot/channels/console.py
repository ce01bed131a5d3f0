"""The console channel behind `doithoai demo`: the same core, a chat in the terminal.

Inline buttons are numbered [1], [2]…; menu buttons are lettered [a], [b]…; typing the
number or letter presses it.
"""

from __future__ import annotations

import asyncio
import itertools
import string
from typing import Callable, TextIO

from bot.conversation.engine import Conversation, Handled
from bot.delivery.respond import respond
from bot.delivery.sender import Sender
from bot.domain.messages import Button, Event, KeyButton, Kind, Reply, number, split_command, typed_event
from bot.text.catalogue import Translator
from storage.models import Attachment

CHANNEL = "console"
USER = "demo-user"


class ConsoleTransport:
    channel = CHANNEL

    def __init__(self, out: TextIO, tr: Translator) -> None:
        self.out = out
        self.tr = tr
        self.buttons: list[Button] = []
        self.buttons_message: str | None = None
        self.keyboard: list[KeyButton] = []
        self._ids = itertools.count(1)

    def is_group(self, chat_id: str) -> bool:
        return False

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        if reply.retire_buttons_of:
            if reply.retire_buttons_of == self.buttons_message:
                self.buttons, self.buttons_message = [], None
            return
        message_id = str(next(self._ids))
        lines = []
        if reply.text:
            lines.append("\n🤖 " + reply.text.replace("\n", "\n   "))
        if reply.location:
            lines.append("   " + self.tr("demo.location", lat=reply.location[0], lon=reply.location[1]))
        if attachment is not None:
            lines.append("   " + self.tr("demo.file", name=attachment.filename, size=len(attachment.data)))
        if reply.buttons:
            self.buttons = [b for row in reply.buttons for b in row]
            self.buttons_message = message_id
            lines.append("   " + self.tr("demo.buttons") + ": " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(self.buttons, 1)))
        if reply.remove_keyboard:
            self.keyboard = []
        if reply.keyboard is not None:
            self.keyboard = [b for row in reply.keyboard for b in row]
        if self.keyboard and reply.keyboard is not None:
            lines.append("   " + self.tr("demo.keyboard") + ": " + "  ".join(f"[{string.ascii_lowercase[i]}] {b.label}" for i, b in enumerate(self.keyboard)))
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


class ConsoleChat:
    def __init__(self, conversation: Conversation, sender: Sender, transport: ConsoleTransport, ask: Callable[[str], str]) -> None:
        self.conversation = conversation
        self.sender = sender
        self.transport = transport
        self.ask = ask
        self._updates = itertools.count(1)

    def to_event(self, line: str) -> Event | None:
        base = dict(channel=CHANNEL, user_id=USER, chat_id=USER, update_id=f"demo-{next(self._updates)}", language="vi")
        typed = line.strip()
        t = self.transport
        chosen = number(typed)
        if chosen is not None and t.buttons and 1 <= chosen <= len(t.buttons):
            button = t.buttons[chosen - 1]
            return Event(kind=Kind.BUTTON, data=button.data, message_ref=t.buttons_message, **base)
        letters = string.ascii_lowercase[: len(t.keyboard)]
        if len(typed) == 1 and typed in letters:
            key = t.keyboard[letters.index(typed)]
            if key.request_contact:
                phone = self.ask(self.transport.tr("demo.contact_prompt"))
                return Event(kind=Kind.CONTACT, phone=phone.strip(), **base)
            return Event(kind=Kind.TEXT, text=key.label, **base)
        if split_command(typed) is not None:
            return typed_event(typed, **base)
        if not typed:
            return None
        return Event(kind=Kind.TEXT, text=line.rstrip("\n"), **base)

    async def send(self, line: str) -> None:
        event = self.to_event(line)
        if event is None:
            return
        async def toast(handled: Handled) -> None:
            if handled.outcome.toast and event.kind == Kind.BUTTON:
                self.transport.out.write(f"   ({handled.outcome.toast})\n")

        await respond(self.conversation, self.sender, event, before_sending=toast)

    async def run(self, prompt: str = "\n👤 › ") -> None:
        while True:
            try:
                line = await asyncio.to_thread(self.ask, prompt)
            except EOFError:
                return
            if line.strip().lower() in ("/thoat", "/quit", "/exit"):
                return
            await self.send(line)
