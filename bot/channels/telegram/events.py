"""Telegram updates → core events. Identifiers become strings, as every channel's are."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message

from bot.core.io import Event, Kind

CHANNEL = "telegram"


def from_message(message: Message, update_id: int, bot_username: str | None) -> Event | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None
    base = dict(
        channel=CHANNEL,
        user_id=str(user.id),
        chat_id=str(message.chat.id),
        update_id=str(update_id),
        private=message.chat.type == "private",
        language=user.language_code,
        bot_link=f"https://t.me/{bot_username}" if bot_username else None,
    )
    if message.contact is not None:
        own = message.contact.user_id == user.id
        return Event(kind=Kind.CONTACT, phone=message.contact.phone_number, contact_is_own=own, **base)
    text = message.text
    if text is None:
        return Event(kind=Kind.UNSUPPORTED, **base)
    if text.startswith("/") and len(text) > 1:
        head, _, args = text[1:].partition(" ")
        command, _, addressee = head.partition("@")
        if addressee and bot_username and addressee.lower() != bot_username.lower():
            return None  # a command for another bot in a group
        return Event(kind=Kind.COMMAND, text=text, command=command.lower(), args=args.strip(), **base)
    return Event(kind=Kind.TEXT, text=text, **base)


def from_callback(query: CallbackQuery, update_id: int) -> Event:
    message = query.message
    chat_id = str(message.chat.id) if message is not None else str(query.from_user.id)
    private = message is None or message.chat.type == "private"
    return Event(
        channel=CHANNEL,
        kind=Kind.BUTTON,
        user_id=str(query.from_user.id),
        chat_id=chat_id,
        update_id=str(update_id),
        data=query.data or "",
        # Only a message that still shows buttons has any to retire (Telegram refuses a no-op edit).
        message_ref=str(message.message_id) if message is not None and getattr(message, "reply_markup", None) else None,
        private=private,
        language=query.from_user.language_code,
    )
