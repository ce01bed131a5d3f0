"""Core replies → OA customer-service messages. Choices are numbered in the text (bot/services/outbox.py);
a short list also gets quick-reply buttons, whose taps come back as the number typed."""

from __future__ import annotations

import logging

from bot.channels.files import FileLinks
from bot.channels.zalo.transport import map_link
from bot.delivery.transport import DeliveryError
from bot.domain.choices import offered
from bot.domain.messages import Reply
from storage.models import Attachment

from .api import OUTSIDE_WINDOW, TOKEN_INVALID, OAClient, OAError

log = logging.getLogger(__name__)

MAX_BUTTONS = 5
MAX_TITLE = 100


def buttons(reply: Reply) -> list[dict]:
    choices = offered(reply)
    if not choices or len(choices) > MAX_BUTTONS:
        return []
    return [
        {"title": choice.label[:MAX_TITLE], "type": "oa.query.show", "payload": str(n)}
        for n, choice in enumerate(choices, 1)
    ]


def delivery_error(exc: OAError) -> DeliveryError:
    reason = f"zalo oa {exc.code}: {exc.message}"
    if exc.code == OUTSIDE_WINDOW:
        # Not lost: set aside until the person writes again (which reopens the window).
        return DeliveryError(reason, unreachable=True)
    if exc.code == 0:
        return DeliveryError(reason)
    if exc.code == TOKEN_INVALID:
        return DeliveryError(reason)  # the refresh failed this time; try again later
    return DeliveryError(reason, permanent=True)


class ZaloOATransport:
    def __init__(self, client: OAClient, files: FileLinks | None = None) -> None:
        self.client = client
        self.channel = client.channel
        self.files = files

    def is_group(self, chat_id: str) -> bool:
        return False

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        try:
            await self._send(chat_id, reply, attachment)
        except OAError as exc:
            raise delivery_error(exc) from None

    async def _send(self, chat_id: str, reply: Reply, attachment: Attachment | None) -> None:
        if reply.retire_buttons_of:
            return
        if reply.text:
            message: dict = {"text": reply.text}
            if quick := buttons(reply):
                message["attachment"] = {"type": "template", "payload": {"buttons": quick}}
            await self.client.send(chat_id, message)
        if reply.location:
            await self.client.send(chat_id, {"text": map_link(reply.location)})
        if attachment is not None:
            if self.files is None:
                log.info("a file for a zalo_oa chat was left out: DOITHOAI_WEBHOOK_BASE_URL is not set")
                return
            await self.client.send(chat_id, {"text": f"📎 {attachment.filename}: {self.files.url(attachment)}"})
