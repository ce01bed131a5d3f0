"""What a chat on a channel without buttons can answer with a number, recorded with each delivery.

Recorded when a message is delivered, not when it is queued, in the delivery's own commit: a typed
answer is read against what the person actually saw last (bot/domain/choices.py).
"""

from __future__ import annotations

from bot.domain.channels import traits
from bot.domain.choices import offered
from bot.domain.messages import Reply
from bot.domain.outbox import Purpose
from storage.models import utcnow
from storage.uow import UnitOfWork


async def remember_choices(uow: UnitOfWork, channel: str, chat_id: str, reply: Reply, purpose: str) -> None:
    """The choices of the message just delivered. A direct reply replaces them (a question without
    choices clears them, so a stale "2" cannot pick from an older list); a notice or answer replaces
    them only with its own."""
    if traits(channel).buttons or not reply.text:  # a map pin or a file after a text changes nothing
        return
    choices = offered(reply)
    if choices or purpose == Purpose.REPLY:
        await uow.choices.remember(channel, chat_id, [c.to_dict() for c in choices], utcnow())
