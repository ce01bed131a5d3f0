"""Core replies → Bot API calls (sendMessage, editMessageReplyMarkup, sendLocation)."""

from __future__ import annotations

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
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.core.io import Reply
from bot.delivery.sender import DeliveryError

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

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        try:
            await self._send(int(chat_id), reply)
        except TelegramRetryAfter as exc:
            raise DeliveryError("rate limited", retry_after=exc.retry_after) from None
        except TelegramForbiddenError as exc:
            raise DeliveryError(f"forbidden: {exc.message}", permanent=True) from None
        except TelegramBadRequest as exc:
            if reply.retire_buttons_of and ("not modified" in exc.message or "not found" in exc.message):
                return  # the buttons are already gone: the goal is met
            raise DeliveryError(f"bad request: {exc.message}", permanent=True) from None
        except TelegramNotFound as exc:
            raise DeliveryError(f"not found: {exc.message}", permanent=True) from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryError(f"temporary: {type(exc).__name__}") from None

    async def _send(self, chat_id: int, reply: Reply) -> None:
        if reply.retire_buttons_of:
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(reply.retire_buttons_of))
            return
        if reply.text:
            await self.bot.send_message(chat_id=chat_id, text=reply.text, reply_markup=markup(reply))
        if reply.location:
            latitude, longitude = reply.location
            await self.bot.send_location(chat_id=chat_id, latitude=latitude, longitude=longitude)
