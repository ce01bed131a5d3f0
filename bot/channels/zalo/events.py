"""Zalo bot updates → core events. Its identifiers are already strings; dates are in milliseconds."""

from __future__ import annotations

from typing import Any

from bot.channels.downloads import photo_at
from bot.channels.payload import identifier, part
from bot.domain.messages import Event, Kind, typed_event

CHANNEL = "zalo"
TEXT = "message.text.received"
IMAGE = "message.image.received"


def unwrap(body: Any) -> dict | None:
    """A webhook delivery comes bare or wrapped in {"ok", "result"}; a poll's result is bare."""
    if isinstance(body, dict) and "result" in body and "message" not in body:
        body = body["result"]
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        return None
    return body


def chat_and_key(update: dict) -> tuple[str, str] | None:
    """The chat an update belongs to and the key it is recognised by when delivered twice."""
    message = part(update, "message")
    chat, message_id = identifier(part(message, "chat").get("id")), identifier(message.get("message_id"))
    if not chat or not message_id:
        return None
    return chat, message_id


def from_update(update: dict) -> Event | None:
    message = part(update, "message")
    sender, chat = part(message, "from"), part(message, "chat")
    user_id, chat_id = identifier(sender.get("id")), identifier(chat.get("id"))
    if sender.get("is_bot") or not user_id or not chat_id:
        return None
    base = dict(
        channel=CHANNEL,
        user_id=user_id,
        chat_id=chat_id,
        update_id=identifier(message.get("message_id")),
        private=str(chat.get("chat_type", "PRIVATE")).upper() == "PRIVATE",
    )
    name = update.get("event_name")
    text = message.get("text")
    # One sample in Zalo's docs has no event_name: a message with text is a text message.
    if (name == TEXT or name is None) and isinstance(text, str) and text.strip():
        return typed_event(text, **base)
    if name == IMAGE:
        return image_event(message, base)
    return Event(kind=Kind.UNSUPPORTED, **base)


def image_event(message: dict, base: dict) -> Event:
    """A photo: "unsupported" where the bot reads text, but a staff flow may take its file (downloaded
    from `photo_url` only then); its caption is its text."""
    caption = message.get("caption")
    file = photo_at(message.get("photo_url"), base.get("update_id") or "zalo")
    return Event(kind=Kind.UNSUPPORTED, text=caption if isinstance(caption, str) else "", file=file, **base)
