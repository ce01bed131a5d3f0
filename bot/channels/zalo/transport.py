"""Core replies → Zalo bot calls. Choices are already numbered in the text (bot/services/outbox.py)."""

from __future__ import annotations

import logging

from bot.channels.files import FileLinks
from bot.channels.zalo.api import ZaloAPIError, ZaloBotAPI
from bot.delivery.transport import DeliveryError
from bot.domain.messages import Reply
from bot.services.filetypes import sniff
from storage.models import Attachment

log = logging.getLogger(__name__)


def delivery_error(exc: ZaloAPIError) -> DeliveryError:
    """Zalo publishes no error table; these follow the Bot API's HTTP-like codes."""
    reason = f"zalo {exc.code}: {exc.description}"
    if exc.code == 429:
        return DeliveryError(reason, retry_after=1.0)
    if exc.code == 403 or (exc.code in (400, 404) and "not found" in exc.description.lower()):
        return DeliveryError(reason, unreachable=True)  # blocked the bot, or the chat is gone
    if exc.code in (0, 408) or exc.code >= 500:
        return DeliveryError(reason)
    return DeliveryError(reason, permanent=True)


def map_link(location: tuple[float, float]) -> str:
    latitude, longitude = location
    return f"📍 https://www.google.com/maps?q={latitude:.6f},{longitude:.6f}"


class ZaloTransport:
    def __init__(self, api: ZaloBotAPI, files: FileLinks | None = None) -> None:
        self.api = api
        self.channel = api.channel
        self.files = files

    def is_group(self, chat_id: str) -> bool:
        return False  # Zalo bots cannot be added to groups

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        try:
            await self._send(chat_id, reply, attachment)
        except ZaloAPIError as exc:
            raise delivery_error(exc) from None

    async def _send(self, chat_id: str, reply: Reply, attachment: Attachment | None) -> None:
        if reply.retire_buttons_of:
            return  # no buttons here to take off
        if reply.text:
            await self.api.call("sendMessage", chat_id=chat_id, text=reply.text)
        if reply.location:
            await self.api.call("sendMessage", chat_id=chat_id, text=map_link(reply.location))
        if attachment is not None:
            await self._file(chat_id, attachment)

    async def _file(self, chat_id: str, attachment: Attachment) -> None:
        # The bot sends photos by address only and no other files: both go as links to our own server.
        if self.files is None:
            log.info("a file for a zalo chat was left out: DOITHOAI_WEBHOOK_BASE_URL is not set")
            return
        url = self.files.url(attachment)
        kind = sniff(attachment.data)  # as /files/ will serve it, whatever type was stored with it
        if kind is not None and kind.inline:
            await self.api.call("sendPhoto", chat_id=chat_id, photo=url)
        else:
            await self.api.call("sendMessage", chat_id=chat_id, text=f"📎 {attachment.filename}: {url}")
