"""Answering one event at once, the same way on every channel.

The conversation queues its replies and claims the chat for this worker in one transaction; the
replies then go out while the chat is still held, starting from the message that transaction
claimed. No other sender sees them unclaimed in between, and no separate transaction is needed
to claim them (bot/delivery/sender.py).
"""

from __future__ import annotations

from typing import Awaitable, Callable

from bot.conversation.engine import Conversation, Handled
from bot.delivery.sender import Sender
from bot.domain.messages import Event


async def respond(
    conversation: Conversation, sender: Sender, event: Event, *, before_sending: Callable[[Handled], Awaitable[None]] | None = None,
) -> Handled:
    """Handle `event` and send its replies; `before_sending`: what the platform wants first (Telegram:
    the answer to a button press, which stops the spinner)."""
    async with sender.replying(event.channel, event.chat_id):
        handled = await conversation.handle(event, claim=sender.claim())
        if before_sending is not None:
            await before_sending(handled)
        await sender.send_reply(event.channel, event.chat_id, handled)
    return handled
