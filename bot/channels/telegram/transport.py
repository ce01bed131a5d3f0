"""Core replies → Bot API calls: sendMessage, editMessageReplyMarkup and sendLocation as JSON,
sendPhoto and sendDocument as uploads (the first time a file goes out) or by the file id Telegram
gave back (every later time)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from bot.delivery.transport import DeliveryError
from bot.domain.messages import Reply
from storage.models import Attachment

from .client import BadRequest, BotAPI, Forbidden, NetworkError, NotFound, RetryAfter, ServerError
from .events import CHANNEL

# Images Telegram shows inline with sendPhoto; any other file (PDF, calendar, GIF…) goes with sendDocument.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


def markup(reply: Reply) -> dict[str, Any] | None:
    """The reply_markup of a reply: inline buttons, else a reply keyboard, else the keyboard taken
    away; None: none."""
    if reply.buttons:
        return {"inline_keyboard": [[{"text": b.label, "callback_data": b.data} for b in row] for row in reply.buttons]}
    if reply.keyboard is not None:
        out: dict[str, Any] = {
            "keyboard": [[{"text": b.label, **({"request_contact": True} if b.request_contact else {})} for b in row]
                         for row in reply.keyboard],
            "resize_keyboard": True,
        }
        if reply.one_time_keyboard:
            out["one_time_keyboard"] = True
        else:
            out["is_persistent"] = True
        return out
    if reply.remove_keyboard:
        return {"remove_keyboard": True}
    return None


class TelegramTransport:
    # A send that takes longer is abandoned and retried later (with backoff), not waited on for a minute.
    REQUEST_TIMEOUT = 20
    UPLOAD_TIMEOUT = 120  # a photo or file of up to 10 MB, over a commune office's line

    def __init__(self, bot: BotAPI, channel: str = CHANNEL) -> None:
        self.bot = bot
        self.channel = channel
        # attachment (id and bytes' digest) → Telegram's file id once uploaded; images Telegram refused as photos.
        # The digest: a deleted attachment's id can come back for other bytes (SQLite reuses the highest rowid).
        self._file_ids: dict[tuple[int, str], str] = {}
        self._not_photos: set[tuple[int, str]] = set()
        self._uploads: dict[tuple[int, str], asyncio.Lock] = {}  # one upload of a file at a time; the others then reuse its id

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")  # Telegram's group and channel ids are negative

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        try:
            await self._send(int(chat_id), reply, attachment)
        except RetryAfter as exc:
            raise DeliveryError("rate limited", retry_after=exc.retry_after) from None
        except Forbidden as exc:
            raise DeliveryError(f"forbidden: {exc.description}", unreachable=True) from None
        except BadRequest as exc:
            if reply.retire_buttons_of and ("not modified" in exc.description or "not found" in exc.description):
                return  # the buttons are already gone: the goal is met
            if "chat not found" in exc.description:
                raise DeliveryError(f"bad request: {exc.description}", unreachable=True) from None
            raise DeliveryError(f"bad request: {exc.description}", permanent=True) from None
        except NotFound as exc:
            raise DeliveryError(f"not found: {exc.description}", permanent=True) from None
        except NetworkError as exc:  # its description is the error's type alone, never the URL (which holds the token)
            raise DeliveryError(f"temporary: {exc.description}") from None
        except ServerError as exc:
            raise DeliveryError(f"temporary: {exc.description}") from None

    async def _send(self, chat_id: int, reply: Reply, attachment: Attachment | None) -> None:
        timeout = self.REQUEST_TIMEOUT
        if reply.retire_buttons_of:
            await self.bot.call("editMessageReplyMarkup", {"chat_id": chat_id, "message_id": int(reply.retire_buttons_of)}, timeout=timeout)
            return
        if reply.text:
            params: dict = {"chat_id": chat_id, "text": reply.text}
            shown = markup(reply)
            if shown is not None:
                params["reply_markup"] = shown
            await self.bot.call("sendMessage", params, timeout=timeout)
        if reply.location:
            latitude, longitude = reply.location
            await self.bot.call("sendLocation", {"chat_id": chat_id, "latitude": latitude, "longitude": longitude}, timeout=timeout)
        if attachment is not None:
            await self._send_file(chat_id, attachment)

    async def _send_file(self, chat_id: int, attachment: Attachment) -> None:
        """A photo with sendPhoto, anything else with sendDocument. The first send uploads the bytes; later
        ones reuse the file id Telegram gave back, so a notice to 300 residents uploads its photo once."""
        key = _key(attachment)
        if key in self._file_ids and await self._resend(chat_id, attachment):
            return
        async with self._uploads.setdefault(key, asyncio.Lock()):
            if key in self._file_ids and await self._resend(chat_id, attachment):  # uploaded meanwhile for another chat
                return
            if self._as_photo(attachment):
                try:
                    sent = await self._upload(chat_id, True, attachment)
                    photos = sent.get("photo") if isinstance(sent, dict) else None
                    if isinstance(photos, list) and photos and isinstance(photos[-1], dict) and photos[-1].get("file_id"):
                        self._file_ids[key] = photos[-1]["file_id"]  # the largest size: Telegram lists them smallest first
                    return
                except BadRequest as exc:
                    if "chat not found" in exc.description:
                        raise
                    # An image Telegram will not show as a photo (size, proportions) still goes, as a file.
                    self._not_photos.add(key)
            sent = await self._upload(chat_id, False, attachment)
            document = sent.get("document") if isinstance(sent, dict) else None
            if isinstance(document, dict) and document.get("file_id"):
                self._file_ids[key] = document["file_id"]

    def _as_photo(self, attachment: Attachment) -> bool:
        return attachment.mime_type in PHOTO_TYPES and _key(attachment) not in self._not_photos

    async def _resend(self, chat_id: int, attachment: Attachment) -> bool:
        """Send by the file id of an earlier upload; False when Telegram no longer knows it."""
        field = "photo" if self._as_photo(attachment) else "document"
        try:
            await self.bot.call(_METHOD[field], {"chat_id": chat_id, field: self._file_ids[_key(attachment)]},
                                timeout=self.REQUEST_TIMEOUT)
            return True
        except BadRequest as exc:
            if "chat not found" in exc.description:
                raise
            self._file_ids.pop(_key(attachment), None)
            return False

    async def _upload(self, chat_id: int, photo: bool, attachment: Attachment) -> Any:
        field = "photo" if photo else "document"
        return await self.bot.upload(_METHOD[field], {"chat_id": str(chat_id)}, field, attachment.filename, attachment.data,
                                     attachment.mime_type or "application/octet-stream", timeout=self.UPLOAD_TIMEOUT)


_METHOD = {"photo": "sendPhoto", "document": "sendDocument"}


def _key(attachment: Attachment) -> tuple[int, str]:
    assert attachment.id is not None
    return attachment.id, hashlib.blake2b(attachment.data, digest_size=16).hexdigest()
