"""What the sender asks of each platform's transport (bot/channels/*/transport.py), and how a
transport says a message did not go."""

from __future__ import annotations

from typing import Protocol

from bot.domain.messages import Reply
from storage.models import Attachment


class DeliveryError(Exception):
    """Why a message did not go. `unreachable`: blocked or gone; `permanent`: refused; else temporary.
    What each means for the message is decided in bot/delivery/retry.py."""

    def __init__(self, reason: str, *, permanent: bool = False, unreachable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.unreachable = unreachable
        self.retry_after = retry_after


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None:
        """Send one message; raises `DeliveryError` when it did not go."""
        ...

    def is_group(self, chat_id: str) -> bool: ...
