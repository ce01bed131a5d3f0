"""Queueing outbound messages: the one way anything is sent, from a flow, a service or the scheduler.

A message is split here, before it is stored, into parts a platform accepts (text length,
one call each), so a retry re-sends only the part that failed and never a whole series.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.channels import traits
from bot.domain.choices import numbered, offered
from bot.domain.messages import Reply
from bot.domain.outbox import PRIORITY, Delivery, Purpose
from storage.uow import UnitOfWork


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text on paragraph boundaries, then lines, then words; never mid-word if avoidable."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0)
        if cut < limit // 2:
            cut = max(window.rfind("\n"), window.rfind(" "))
        if cut < limit // 4:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        chunks.append(rest)
    return chunks


def parts(reply: Reply, channel: str) -> list[Reply]:
    """One platform call each: long text in pieces (buttons and keyboard on the last), then the map pin or file."""
    out: list[Reply] = []
    text = reply.text
    if text and not traits(channel).buttons:
        # Choices become a numbered list in the text before it is measured and cut; the last part
        # keeps the buttons so that what the chat can answer is known once it is delivered.
        text = numbered(text, offered(reply))
    if text:
        pieces = split_text(text, traits(channel).text_limit)
        plain = Reply()
        out += [replace(plain, text=piece) for piece in pieces[:-1]]
        out.append(replace(reply, text=pieces[-1], location=None, document=None))
        if reply.location:
            out.append(Reply(location=reply.location))
        if reply.document:
            out.append(Reply(document=reply.document))
        return out
    return [reply]


async def enqueue(
    uow: UnitOfWork,
    *,
    key: str,
    channel: str,
    chat_id: str,
    reply: Reply,
    purpose: Purpose = Purpose.REPLY,
    meeting_id: int | None = None,
    transient: bool = False,
    held: bool = False,
) -> list[int]:
    """Queue `reply` once per key (a key already queued is skipped); returns the new outbox ids.
    `held`: the chat cannot be reached now; the message waits until the person writes again."""
    ids = []
    for n, part in enumerate(parts(reply, channel)):
        part_key = key if n == 0 else f"{key}#{n}"
        if part.retire_buttons_of:
            # A message's buttons are taken off once: a double tap must not ask the platform twice.
            part_key = f"retire:{channel}:{chat_id}:{part.retire_buttons_of}"
        outbox_id = await uow.outbox.enqueue(
            key=part_key,
            channel=channel,
            chat_id=chat_id,
            payload=part.to_payload(),
            transient=transient,
            kind=purpose,
            meeting_id=meeting_id,
            priority=PRIORITY.get(purpose, 10),
            status=Delivery.UNREACHABLE if held else Delivery.PENDING,
        )
        if outbox_id is not None:
            ids.append(outbox_id)
    return ids
