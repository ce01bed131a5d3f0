"""Core replies → Bot API calls: sendMessage, editMessageReplyMarkup and sendLocation as plain JSON (api.py),
sendPhoto and sendDocument (uploads) through aiogram."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, Message

from bot.delivery.transport import DeliveryError
from bot.domain.messages import Reply
from storage.models import Attachment

from . import api
from .events import CHANNEL

# Images Telegram shows inline with sendPhoto; any other file (PDF, calendar, GIF…) goes with sendDocument.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


def markup(reply: Reply) -> dict | None:
    return api.markup(
        [[(b.label, b.data) for b in row] for row in reply.buttons] if reply.buttons else None,
        [[(b.label, bool(b.request_contact)) for b in row] for row in reply.keyboard] if reply.keyboard is not None else None,
        one_time=bool(reply.one_time_keyboard), remove=bool(reply.remove_keyboard),
    )


class TelegramTransport:
    # A send that takes longer is abandoned and retried later (with backoff), not waited on for a minute.
    REQUEST_TIMEOUT = 20
    UPLOAD_TIMEOUT = 120  # a photo or file of up to 10 MB, over a commune office's line

    def __init__(self, bot: Bot, channel: str = CHANNEL) -> None:
        self.bot = bot
        self.channel = channel
        # attachment id → Telegram's file id once uploaded; images Telegram refused as photos.
        self._file_ids: dict[int, str] = {}
        self._not_photos: set[int] = set()
        self._uploads: dict[int, asyncio.Lock] = {}  # one upload of a file at a time; the others then reuse its id

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")  # Telegram's group and channel ids are negative

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        try:
            await self._send(int(chat_id), reply, attachment)
        except TelegramRetryAfter as exc:
            raise DeliveryError("rate limited", retry_after=exc.retry_after) from None
        except TelegramForbiddenError as exc:
            raise DeliveryError(f"forbidden: {exc.message}", unreachable=True) from None
        except TelegramBadRequest as exc:
            if reply.retire_buttons_of and ("not modified" in exc.message or "not found" in exc.message):
                return  # the buttons are already gone: the goal is met
            if "chat not found" in exc.message:
                raise DeliveryError(f"bad request: {exc.message}", unreachable=True) from None
            raise DeliveryError(f"bad request: {exc.message}", permanent=True) from None
        except TelegramNotFound as exc:
            raise DeliveryError(f"not found: {exc.message}", permanent=True) from None
        except TelegramServerError as exc:
            raise DeliveryError(f"temporary: {exc.message}") from None
        except (TelegramNetworkError, asyncio.TimeoutError) as exc:
            # Only the type: a network error's text can carry the request URL, and with it the token.
            raise DeliveryError(f"temporary: {type(exc).__name__}") from None

    async def _send(self, chat_id: int, reply: Reply, attachment: Attachment | None) -> None:
        timeout = self.REQUEST_TIMEOUT
        if reply.retire_buttons_of:
            await api.call(self.bot, "editMessageReplyMarkup", {"chat_id": chat_id, "message_id": int(reply.retire_buttons_of)}, timeout)
            return
        if reply.text:
            params: dict = {"chat_id": chat_id, "text": reply.text}
            shown = markup(reply)
            if shown is not None:
                params["reply_markup"] = shown
            await api.call(self.bot, "sendMessage", params, timeout)
        if reply.location:
            latitude, longitude = reply.location
            await api.call(self.bot, "sendLocation", {"chat_id": chat_id, "latitude": latitude, "longitude": longitude}, timeout)
        if attachment is not None:
            await self._send_file(chat_id, attachment)

    async def _send_file(self, chat_id: int, attachment: Attachment) -> None:
        """A photo with sendPhoto, anything else with sendDocument. The first send uploads the bytes; later
        ones reuse the file id Telegram gave back, so a notice to 300 residents uploads its photo once."""
        key = attachment.id
        assert key is not None
        if key in self._file_ids and await self._resend(chat_id, attachment):
            return
        async with self._uploads.setdefault(key, asyncio.Lock()):
            if key in self._file_ids and await self._resend(chat_id, attachment):  # uploaded meanwhile for another chat
                return
            upload = BufferedInputFile(attachment.data, filename=attachment.filename)
            if self._as_photo(attachment):
                try:
                    message = await self._send_as(chat_id, True, upload, self.UPLOAD_TIMEOUT)
                    if message.photo:
                        self._file_ids[key] = message.photo[-1].file_id
                    return
                except TelegramBadRequest as exc:
                    if "chat not found" in exc.message:
                        raise
                    # An image Telegram will not show as a photo (size, proportions) still goes, as a file.
                    self._not_photos.add(key)
                    upload = BufferedInputFile(attachment.data, filename=attachment.filename)
            message = await self._send_as(chat_id, False, upload, self.UPLOAD_TIMEOUT)
            if message.document is not None:
                self._file_ids[key] = message.document.file_id

    def _as_photo(self, attachment: Attachment) -> bool:
        return attachment.mime_type in PHOTO_TYPES and attachment.id not in self._not_photos

    async def _resend(self, chat_id: int, attachment: Attachment) -> bool:
        """Send by the file id of an earlier upload; False when Telegram no longer knows it."""
        try:
            await self._send_as(chat_id, self._as_photo(attachment), self._file_ids[attachment.id], self.REQUEST_TIMEOUT)  # type: ignore[index]
            return True
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message:
                raise
            self._file_ids.pop(attachment.id, None)  # type: ignore[arg-type]
            return False

    async def _send_as(self, chat_id: int, photo: bool, file: BufferedInputFile | str, timeout: int) -> Message:
        if photo:
            return await self.bot.send_photo(chat_id=chat_id, photo=file, request_timeout=timeout)
        return await self.bot.send_document(chat_id=chat_id, document=file, request_timeout=timeout)
