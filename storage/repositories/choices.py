"""What a chat on a channel without buttons was last offered to choose from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col

from storage.models import ChatChoice
from storage.repositories.base import Repository


class ChoiceRepository(Repository):
    """What a chat on a channel without buttons was last offered to choose from."""

    async def get(self, channel: str, chat_id: str) -> list[dict]:
        row = await self.session.get(ChatChoice, (channel, chat_id))
        return list(row.choices) if row is not None else []

    async def remember(self, channel: str, chat_id: str, choices: list[dict], now: datetime) -> None:
        row = await self.session.get(ChatChoice, (channel, chat_id))
        if row is None:
            self.session.add(ChatChoice(channel=channel, chat_id=chat_id, choices=choices, shown_at=now))
        else:
            row.choices, row.shown_at = list(choices), now

    async def forget(self, channel: str, chat_id: str) -> None:
        await self.session.exec(delete(ChatChoice).where(col(ChatChoice.channel) == channel, col(ChatChoice.chat_id) == chat_id))  # type: ignore[call-overload]

    async def forget_before(self, cutoff: datetime) -> int:
        stmt = delete(ChatChoice).where(col(ChatChoice.shown_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

