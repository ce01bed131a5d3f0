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


def offers_choices(channel: str, reply: Reply) -> bool:
    """Whether delivering this message changes what a typed number picks: a text on a channel
    without buttons (a map pin or a file after a text changes nothing)."""
    return not traits(channel).buttons and bool(reply.text)


async def remember_choices(uow: UnitOfWork, channel: str, chat_id: str, reply: Reply, purpose: str) -> None:
    """The choices of the message just delivered. A direct reply replaces them (a question without
    choices clears them, so a stale "2" cannot pick from an older list); a notice or answer replaces
    them only with its own."""
    if not offers_choices(channel, reply):
        return
    choices = offered(reply)
    if choices or purpose == Purpose.REPLY:
        await uow.choices.remember(channel, chat_id, [c.to_dict() for c in choices], utcnow())
