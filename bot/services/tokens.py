"""A platform's credentials handed over by the operator, such as a Zalo OA token pair after its
refresh chain broke: the channel then uses this pair instead of the one in the settings."""

from __future__ import annotations

from datetime import datetime

from bot.services.access import Forbidden
from bot.services.staff import Actor
from storage.uow import UnitOfWork, commits


@commits
async def store_token_pair(uow: UnitOfWork, actor: Actor, channel: str, access_token: str, refresh_token: str, *, now: datetime) -> None:
    """The pair `channel` sends with from now on (its expiry unknown until the next refresh). Admins only:
    whoever holds the pair speaks as the commune."""
    if not actor.may_manage_staff():
        raise Forbidden("tokens")
    await uow.tokens.save(channel, access_token, refresh_token, None, now)
