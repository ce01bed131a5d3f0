"""The Zalo bot: long polling (one update a call) or webhook deliveries, both through the inbox.

getUpdates hands each update out once: it is stored in the inbox before anything else, so a
crash right after a poll loses nothing, and each chat's updates are handled in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.channels.polling import long_poll
from bot.conversation.engine import Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.respond import respond
from bot.delivery.sender import Sender

from .api import ZaloAPIError, ZaloBotAPI
from .events import chat_and_key, from_update, unwrap

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
NO_UPDATE = 408  # the long poll ended with nothing new


class ZaloBot:
    def __init__(self, api: ZaloBotAPI, conversation: Conversation, sender: Sender, inbox: Inbox) -> None:
        self.api = api
        self.channel = api.channel
        self.conversation = conversation
        self.sender = sender
        self.inbox = inbox
        inbox.register(self.channel, self.handle_update)

    async def receive(self, body: object) -> bool:
        """One webhook delivery; False when it is not a Zalo update at all."""
        return await self._receive(body)

    async def _receive(self, body: object) -> bool:
        found = _read(body)
        if found is None:
            return False
        key, chat_id, update = found
        await self.inbox.take(self.channel, key, chat_id, update)
        return True

    async def handle_update(self, update: dict) -> None:
        event = from_update(update)
        if event is None:
            return
        await respond(self.conversation, self.sender, replace(event, channel=self.channel))

    async def prepare(self, webhook_url: str | None = None, secret: str | None = None, *, register: bool = True) -> None:
        me = await self.api.call("getMe")
        log.info("Zalo bot %s ready", (me or {}).get("account_name", ""))
        if not register:
            return
        if webhook_url:
            await self.api.call("setWebhook", url=webhook_url, secret_token=secret)
        else:
            await self.api.call("deleteWebhook")  # getUpdates does not work while a webhook is set

    async def poll(self, stop: asyncio.Event) -> None:
        """Long-poll until `stop` is set; the updates in hand are finished, the rest stay stored."""
        self.inbox.register(self.channel, self.handle_update, polled=True)
        await self.inbox.resume(self.channel)
        try:
            await long_poll(stop, self._fetch, self._store, _passing)
        finally:
            await self.inbox.settle()

    async def _fetch(self) -> list:
        """The next update, or none when the long poll ended with nothing new."""
        try:
            return [await self.api.call("getUpdates", request_timeout=POLL_TIMEOUT + 10, timeout=str(POLL_TIMEOUT))]
        except ZaloAPIError as exc:
            if exc.code == NO_UPDATE:
                return []
            raise

    async def _store(self, updates: list) -> None:
        # getUpdates hands an update out once: stored before anything else is tried.
        items = []
        for update in updates:
            found = _read(update)
            if found is None:
                log.warning("Zalo getUpdates returned something that is not an update; skipped")
            else:
                items.append(found)
        if items:
            await self.inbox.accept(self.channel, items)


def _read(body: object) -> tuple[str, str, dict] | None:
    """(update key, chat, update) of a Zalo update, or None when it is not one."""
    update = unwrap(body)
    found = chat_and_key(update) if update is not None else None
    if update is None or found is None:
        return None
    chat_id, key = found
    return key, chat_id, update


def _passing(exc: Exception) -> bool:
    """A failed getUpdates: polling goes on after a pause, unless the token is refused. The client
    turns every network failure into a ZaloAPIError: anything else is a bug, which must show rather than loop."""
    if not isinstance(exc, ZaloAPIError) or exc.code == 401:
        return False
    log.warning("Zalo getUpdates failed: %s", exc.code)
    return True
