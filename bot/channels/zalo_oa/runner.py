"""The Zalo OA: verified webhook events are stored in the inbox at once (Zalo wants an answer
within about two seconds), then handled in order per chat like every other channel's."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bot.conversation.engine import Conversation
from bot.delivery.inbox import Inbox
from bot.delivery.respond import respond
from bot.delivery.sender import Sender

from .api import OAClient
from .events import Refused, chat_and_key, from_event, verify

log = logging.getLogger(__name__)


class ZaloOA:
    def __init__(self, client: OAClient, conversation: Conversation, sender: Sender, inbox: Inbox) -> None:
        self.client = client
        self.channel = client.channel
        self.conversation = conversation
        self.sender = sender
        self.inbox = inbox
        inbox.register(self.channel, self.handle_update)

    async def receive(self, raw_body: bytes, signature: str | None, now: datetime | None = None) -> int:
        """Check and store one webhook delivery; the HTTP status to answer with."""
        try:
            event = verify(raw_body, signature, app_id=self.client.app_id, secret_key=self.client.secret_key, now=now)
        except Refused as exc:
            log.warning("Zalo OA webhook refused: %s", exc)
            return 403
        found = chat_and_key(event)
        if found is None:
            return 200  # an event that is not a person writing (a read receipt, the OA's own echo)
        chat_id, key = found
        if not await self.inbox.take(self.channel, key, chat_id, event, unless_handled=True):
            log.info("Zalo OA webhook: a replayed event was dropped")
            return 409
        return 200

    async def handle_update(self, event: dict) -> None:
        found = from_event(event)
        if found is None:
            return
        await respond(self.conversation, self.sender, replace(found, channel=self.channel))
