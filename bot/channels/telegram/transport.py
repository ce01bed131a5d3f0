"""Core replies → Bot API calls (sendMessage, editMessageReplyMarkup, sendLocation, sendDocument)."""

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
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.core.io import Reply
from bot.delivery.sender import DeliveryError
from storage.models import Attachment

from .events import CHANNEL


def markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if reply.buttons:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=b.label, callback_data=b.data) for b in row] for row in reply.buttons]
        )
    if reply.keyboard is not None:
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=b.label, request_contact=b.request_contact or None) for b in row] for row in reply.keyboard],
            resize_keyboard=True,
            one_time_keyboard=reply.one_time_keyboard or None,
            is_persistent=not reply.one_time_keyboard or None,
        )
    if reply.remove_keyboard:
        return ReplyKeyboardRemove(remove_keyboard=True)
    return None


class TelegramTransport:
    channel = CHANNEL
    # A send that takes longer is abandoned and retried later (with backoff), not waited on for a minute.
    REQUEST_TIMEOUT = 20

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

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
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(reply.retire_buttons_of), request_timeout=timeout)
            return
        if reply.text:
            await self.bot.send_message(chat_id=chat_id, text=reply.text, reply_markup=markup(reply), request_timeout=timeout)
        if reply.location:
            latitude, longitude = reply.location
            await self.bot.send_location(chat_id=chat_id, latitude=latitude, longitude=longitude, request_timeout=timeout)
        if attachment is not None:
            document = BufferedInputFile(attachment.data, filename=attachment.filename)
            await self.bot.send_document(chat_id=chat_id, document=document, request_timeout=timeout)
