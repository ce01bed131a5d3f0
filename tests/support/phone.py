"""A resident's phone in Telegram tests: types, taps, and reads what the bot sent, via the Bot API double."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from bot.channels.telegram.client import BotAPI
from bot.channels.telegram.runner import TelegramBot
from bot.channels.telegram.transport import TelegramTransport
from bot.conversation.engine import Conversation
from bot.delivery.limits import Limits
from bot.delivery.sender import Sender
from storage.db import Database
from tests.support.botapi_double import BotAPIDouble, SimUser


@asynccontextmanager
async def running_bot(db: Database, double: BotAPIDouble, clock=None) -> AsyncIterator[TelegramBot]:
    """The real bot (its own Bot API client), polling the double, inside the test's event loop."""
    bot = BotAPI(double.token, double.base_url)
    conversation = Conversation(db, clock=clock) if clock else Conversation(db)
    # Test residents answer within milliseconds, which no person does: the per-chat pace that
    # protects real chats would only slow these tests down (tests/integration/test_delivery.py checks it).
    limits = Limits(chat_per_second=1000, chat_burst=1000, per_second=1000)
    telegram = TelegramBot(bot, conversation, Sender(db, {"telegram": TelegramTransport(bot)}, {"telegram": limits}))
    stop = asyncio.Event()
    task = asyncio.create_task(telegram.run(stop))
    try:
        yield telegram
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await bot.close()


@dataclass
class Phone:
    double: BotAPIDouble
    user: SimUser

    @property
    def chat_id(self) -> int:
        return self.user.id

    def send(self, text: str) -> dict:
        return self.double.send_text(self.user, text)

    async def expect(self, *fragments: str, timeout: float = 15) -> dict:
        """Read the bot's next messages until one contains every fragment; return it."""
        seen = []
        deadline = self.double.deadline(timeout)
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise AssertionError(f"no message with {fragments!r}; got: {[m.get('text', '')[:80] for m in seen]}")
            try:
                message = await self.double.next_message(self.user, timeout=remaining)
            except AssertionError:
                raise AssertionError(f"no message with {fragments!r}; got: {[m.get('text', '')[:80] for m in seen]}") from None
            seen.append(message)
            text = message.get("text", "")
            if all(f in text for f in fragments):
                return message

    async def say(self, text: str, *expected: str) -> dict:
        self.send(text)
        return await self.expect(*expected)

    def find_button(self, label: str) -> tuple[dict, str]:
        """The newest bot message that still shows a button whose label contains `label`."""
        for message in reversed(self.double.messages(self.user)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        return message, button["callback_data"]
        raise AssertionError(f"no button {label!r} on screen")

    async def tap(self, label: str, *expected: str) -> str | None:
        """Press a button; waits for the answer to the press (and for `expected`, if given)."""
        message, data = self.find_button(label)
        update = self.double.press(self.user, message, data)
        toast = await self.double.wait_answered(update)
        if expected:
            await self.expect(*expected)
        return toast

    def keyboard(self) -> list[str]:
        """The reply keyboard the phone shows now (the last one the bot set)."""
        for message in reversed(self.double.messages(self.user)):
            markup = message.get("reply_keyboard")
            if markup is not None:
                return [b["text"] for row in markup.get("keyboard", []) for b in row]
        return []
