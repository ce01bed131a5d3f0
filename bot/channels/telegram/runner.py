"""Telegram's bot: long polling with per-chat order, and each update handed to the conversation.

The Bot API is called through a small client of our own (client.py), and an update maps straight
from Telegram's JSON to the conversation's `Event` (events.py). The event goes to `respond()`:
routing by feature happens once, in the conversation (bot/conversation/engine.py), which must route
a Zalo message exactly as a Telegram one. aiogram's `Router` per feature would route a second time,
for one platform only, and its middlewares would hand handlers a session and a resident that the
conversation already opens itself in the update's one transaction.

aiogram's own `start_polling` confirms updates as soon as it has read them and runs them as
unordered tasks, so a crash loses what it had read. Here a batch is stored in the inbox before its
offset is confirmed, and the next poll goes out at once: chats run concurrently, each chat's
updates one after another in the order Telegram sent them, and a crash loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from bot.channels.polling import long_poll
from bot.conversation.engine import Conversation, Handled
from bot.delivery.inbox import Inbox
from bot.delivery.respond import respond
from bot.delivery.sender import Sender
from bot.domain import staff as staff_words
from bot.domain.messages import Event
from bot.text.catalogue import LANGUAGES, Translator
from storage.uow import UnitOfWork

from .client import BotAPI, BotAPIError, Conflict, NetworkError, Unauthorized
from .events import CHANNEL, chat_of, read_update

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
ALLOWED_UPDATES = ["message", "callback_query"]
ANSWER_TIMEOUT = 10  # a button press's answer: the app stops its spinner by itself after a while anyway
# (command, catalogue key of its description) per language, registered with setMyCommands.
_KEYS = ("start", "dangky", "lichhop", "cauhoi", "huy", "trogiup", "tatthongbao", "batthongbao", "xoadulieu")
COMMAND_MENU = {
    "vi": list(zip(_KEYS, _KEYS)),
    "en": list(zip(("start", "register", "meeting", "my", "cancel", "help", "notices_off", "notices_on", "forget"), _KEYS)),
}


SETUP_TIMEOUT = 30


class TelegramBot:
    def __init__(self, bot: BotAPI, conversation: Conversation, sender: Sender, inbox: Inbox | None = None, *, channel: str = CHANNEL) -> None:
        self.bot = bot
        # This bot among the deployment's bots ("telegram", or "telegram:TP" for commune TP's).
        self.channel = channel
        self.conversation = conversation
        self.sender = sender
        self.username: str | None = None
        # Webhook deliveries and polled batches alike go through the inbox (bot/delivery/inbox.py).
        self.inbox = inbox if inbox is not None else Inbox(conversation.db)
        self.inbox.register(channel, self.handle_raw)

    async def receive(self, body: dict) -> bool:
        """Store a webhook delivery in the inbox; False when it is not an update."""
        update_id = body.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int) or not 0 <= update_id < 2**63:
            return False
        try:
            event, _ = read_update(body, self.username)  # what is stored has Telegram's shape, read as it will be handled
        except (KeyError, TypeError, ValueError):
            # Telegram re-sends an update until it gets a 2xx, holding back the chat's later ones: one
            # it sent that we cannot read is acknowledged and dropped, not refused.
            log.warning("a Telegram update that could not be read was dropped")
            return True
        if event is None:
            return True  # a kind of update not asked for, or a bot's message: nothing to answer, nothing to keep
        await self.inbox.take(self.channel, str(update_id), event.chat_id, body)
        return True

    async def handle_raw(self, payload: dict) -> None:
        """One stored update, as Telegram sent it: a message or a button press, as the conversation's
        event; other kinds of update are not asked for."""
        try:
            event, callback_id = read_update(payload, self.username, self.bot)
        except (KeyError, TypeError, ValueError):
            log.warning("a stored Telegram update could not be read; dropped")
            return
        if event is not None:
            await self.handle(event, callback_id=callback_id)

    async def handle(self, event: Event, callback_id: str | None = None) -> None:
        if event.channel != self.channel:
            event = replace(event, channel=self.channel)

        async def answer_press(handled: Handled) -> None:
            # A redelivered press was answered the first time (or has expired since): answering again is refused.
            if callback_id is None or handled.outcome.duplicate:
                return
            # Every button press is answered, or the resident's app shows a spinner for a while.
            params = {"callback_query_id": callback_id}
            if handled.outcome.toast:
                params["text"] = handled.outcome.toast
            try:
                await self.bot.call("answerCallbackQuery", params, timeout=ANSWER_TIMEOUT)
            except BotAPIError as exc:
                log.warning("answerCallbackQuery failed: %s", exc.description)

        await respond(self.conversation, self.sender, event, before_sending=answer_press)

    async def prepare(self, webhook_url: str | None = None, secret: str | None = None, *, register: bool = True) -> None:
        """Learn the bot's name; `register`: also set (or remove) the webhook and the command menus
        (with several workers, the supervisor does that once and the workers only learn the name)."""
        self.username = await self.bot.username(timeout=SETUP_TIMEOUT)
        if not register:
            return
        if webhook_url:
            hook: dict[str, Any] = {"url": webhook_url, "allowed_updates": ALLOWED_UPDATES}
            if secret:
                hook["secret_token"] = secret
            await self.bot.call("setWebhook", hook, timeout=SETUP_TIMEOUT)
        else:
            await self.bot.call("deleteWebhook", {"drop_pending_updates": False}, timeout=SETUP_TIMEOUT)
        for lang in LANGUAGES:
            tr = Translator(lang)
            menu: dict[str, Any] = {"commands": _commands(tr, COMMAND_MENU[lang]), "scope": {"type": "default"}}
            if lang != "vi":
                menu["language_code"] = lang  # Vietnamese is the default list; English for users whose app is set to English
            await self.bot.call("setMyCommands", menu, timeout=SETUP_TIMEOUT)
        await self._staff_commands()

    async def _staff_commands(self) -> None:
        """Village heads (and the secretariat) see their commands in their own chat's menu; residents never do."""
        tr = Translator("vi")
        commands = _commands(tr, [(c, c) for c in staff_words.COMMANDS] + COMMAND_MENU["vi"])
        async with UnitOfWork(self.conversation.db, readonly=True) as uow:
            staff = [s for s in await uow.staff.all() if s.telegram_id and s.role in staff_words.COMMAND_ROLES]
        for member in staff:
            try:
                scope = {"type": "chat", "chat_id": int(member.telegram_id)}  # type: ignore[arg-type]
                await self.bot.call("setMyCommands", {"commands": commands, "scope": scope}, timeout=SETUP_TIMEOUT)
            except BotAPIError as exc:  # they have not opened the bot yet: their menu comes at the next start
                log.info("no command menu for a staff chat yet: %s", exc.description)

    async def run(self, stop: asyncio.Event, *, send: bool = True) -> None:
        """Poll until `stop` is set, each batch stored in the inbox before the next poll confirms it;
        the updates in hand are finished before returning, the rest stay stored for the next start.
        With `send`, also run the sender's background loop (when no other channel in the process does)."""
        await self.prepare()
        self.inbox.register(self.channel, self.handle_raw, polled=True)
        left = await self.inbox.resume(self.channel)
        log.info("polling Telegram as @%s%s", self.username, f" ({left} updates left from before)" if left else "")
        retry = asyncio.create_task(self.sender.run(stop) if send else stop.wait())
        offset: int | None = None

        async def fetch() -> list[dict]:
            return await self._get_updates(offset, POLL_TIMEOUT)

        async def handle(updates: list[dict]) -> None:
            nonlocal offset
            if updates:
                await self.inbox.accept(self.channel, [(str(u["update_id"]), chat_of(u), u) for u in updates])
                offset = updates[-1]["update_id"] + 1

        try:
            await long_poll(stop, fetch, handle, _passing)
            if offset is not None:
                # Confirm the last batch so a restart does not replay it (replays are harmless, just wasteful).
                await self._get_updates(offset, 0, limit=1)
        finally:
            stop.set()
            await self.inbox.settle()
            await retry

    async def _get_updates(self, offset: int | None, timeout: int, *, limit: int | None = None) -> list[dict]:
        """getUpdates, its updates as Telegram sent them: stored as they are, and read once, when handled."""
        params: dict[str, Any] = {"timeout": timeout, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            params["offset"] = offset
        if limit is not None:
            params["limit"] = limit
        result = await self.bot.call("getUpdates", params, timeout=timeout + 30)
        if not isinstance(result, list):
            raise NetworkError("getUpdates", "answered without a list of updates")
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]


def _passing(exc: Exception) -> bool:
    """A failed getUpdates: polling goes on after a pause, unless the token is no longer valid."""
    if isinstance(exc, Unauthorized):
        return False
    if isinstance(exc, Conflict):
        log.error("another process is polling this bot: %s", exc.description)
    else:  # the network comes and goes; keep polling
        log.warning("getUpdates failed: %s", type(exc).__name__)
    return True


def _commands(tr: Translator, menu: list[tuple[str, str]]) -> list[dict[str, str]]:
    """A setMyCommands list: each command with its description (a catalogue key) in `tr`'s language."""
    return [{"command": command, "description": tr(f"commands.{key}")} for command, key in menu]
