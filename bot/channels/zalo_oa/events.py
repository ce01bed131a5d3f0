"""Zalo OA webhook events: checked (signature, freshness), then turned into core events."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timezone

from bot.channels.downloads import photo_at, sound_at
from bot.channels.payload import Malformed, identifier, parse, part
from bot.domain.messages import Event, Kind, typed_event

from .api import CHANNEL

SIGNATURE_HEADER = "X-ZEvent-Signature"
# Older than this (or this far in the future) an event is a replay, not a retry.
MAX_AGE_SECONDS = 15 * 60
TEXT = "user_send_text"
# What a person can send besides text; the OA's own echoes and read receipts are not the person's.
OTHER_MESSAGES = {
    "user_send_image", "user_send_sticker", "user_send_gif", "user_send_file", "user_send_audio",
    "user_send_video", "user_send_location", "user_send_link", "user_send_business_card",
}


class Refused(Exception):
    """The request is not a genuine, fresh Zalo event for this OA."""


def signature(app_id: str, raw_body: bytes, timestamp: str, secret_key: str) -> str:
    digest = hashlib.sha256(app_id.encode() + raw_body + timestamp.encode() + secret_key.encode()).hexdigest()
    return "mac=" + digest


def verify(raw_body: bytes, header: str | None, *, app_id: str, secret_key: str, now: datetime | None = None) -> dict:
    """The event, if its signature is ours and its timestamp fresh; else `Refused` (with no detail of the body)."""
    try:
        event = parse(raw_body)
    except Malformed as exc:
        raise Refused(str(exc)) from None
    timestamp = identifier(event.get("timestamp")) or ""
    # ASCII digits only: "²" passes str.isdigit() but not int().
    if identifier(event.get("app_id")) != app_id or not re.fullmatch(r"[0-9]{1,16}", timestamp):
        raise Refused("not for this app")
    expected = signature(app_id, raw_body, timestamp, secret_key)
    if not header or not hmac.compare_digest(header.strip().encode(), expected.encode()):
        raise Refused("bad signature")
    now = now or datetime.now(timezone.utc)
    if abs(now.timestamp() - int(timestamp) / 1000) > MAX_AGE_SECONDS:
        raise Refused("stale")
    return event


def chat_and_key(event: dict) -> tuple[str, str] | None:
    """Whose chat the event belongs to, and the key a redelivery is recognised by; None to ignore it."""
    name = event.get("event_name")
    if not isinstance(name, str):
        return None
    sender = identifier(part(event, "sender").get("id"))
    if not sender:
        return None
    if name == "follow":
        return sender, f"follow:{sender}:{event.get('timestamp')}"
    if name != TEXT and name not in OTHER_MESSAGES:
        return None
    msg_id = identifier(part(event, "message").get("msg_id"))
    return (sender, msg_id) if msg_id else None


def from_event(event: dict) -> Event | None:
    found = chat_and_key(event)
    if found is None:
        return None
    user_id, key = found
    base = dict(channel=CHANNEL, user_id=user_id, chat_id=user_id, update_id=key)
    name = event.get("event_name")
    if name == "follow":
        # Following the OA is the "Start" of a chat: greet and ask for consent.
        return Event(kind=Kind.COMMAND, text="/start", command="start", **base)
    text = part(event, "message").get("text")
    if name == TEXT and isinstance(text, str) and text.strip():
        return typed_event(text, **base)
    if name == "user_send_image":
        return image_event(part(event, "message"), base)
    if name == "user_send_audio":
        return audio_event(part(event, "message"), base)
    return Event(kind=Kind.UNSUPPORTED, **base)


def audio_event(message: dict, base: dict) -> Event:
    """A voice message (`message.attachments[0]`, type "audio", its address in `payload.url`): a
    resident's question said aloud. Zalo gives no length: it is read from the bytes (bot/domain/media.py)."""
    attachments = message.get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict) else {}
    url = part(first, "payload").get("url") if first.get("type") == "audio" else None
    return Event(kind=Kind.UNSUPPORTED, file=sound_at(url, str(base.get("update_id") or "zalo-oa")), **base)


def image_event(message: dict, base: dict) -> Event:
    """A photo (`message.attachments[0]`, type "image", its address in `payload.url`): "unsupported" where
    the bot reads text, but a staff flow may take its file; the message's text, if any, is its caption."""
    attachments = message.get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict) else {}
    url = part(first, "payload").get("url") if first.get("type") == "image" else None
    text = message.get("text")
    file = photo_at(url, str(base.get("update_id") or "zalo-oa"))
    return Event(kind=Kind.UNSUPPORTED, text=text if isinstance(text, str) else "", file=file, **base)
