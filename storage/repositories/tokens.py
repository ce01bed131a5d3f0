"""The access tokens a channel refreshes and shares between workers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from storage.models import ChannelToken
from storage.repositories.base import Repository, insert_ignoring_conflict


class TokenRepository(Repository):
    async def get(self, channel: str, *, for_update: bool = False) -> ChannelToken | None:
        """`for_update`: hold the row until commit, so workers refreshing at once take turns."""
        stmt = select(ChannelToken).where(ChannelToken.channel == channel)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def seed(self, channel: str, access_token: str, refresh_token: str, now: datetime) -> None:
        """The settings' first pair, unless a pair is stored already (another worker may seed at the same moment)."""
        values = {"channel": channel, "access_token": access_token, "refresh_token": refresh_token, "updated_at": now}
        await self.session.exec(insert_ignoring_conflict(self.session, ChannelToken, values))  # type: ignore[call-overload]

    async def save(self, channel: str, access_token: str, refresh_token: str, expires_at: datetime | None, now: datetime) -> None:
        row = await self.session.get(ChannelToken, channel)
        if row is None:
            self.session.add(ChannelToken(channel=channel, access_token=access_token, refresh_token=refresh_token, expires_at=expires_at, updated_at=now))
        else:
            row.access_token, row.refresh_token, row.expires_at, row.updated_at = access_token, refresh_token, expires_at, now
