"""The delivery queue as staff see it, in the console and at the command line alike, and send again what failed."""

from __future__ import annotations

from bot.domain.channels import commune_code
from bot.services.access import Forbidden, may_run_meetings
from bot.services.staff import Actor
from storage.uow import UnitOfWork, commits


async def queue_counts(uow: UnitOfWork, actor: Actor, *, home_commune: str | None = None) -> list[tuple[str | None, str, str, int]]:
    """(meeting code, kind, state, count), sorted, for the actor's commune (every commune for province staff).

    A message of no meeting (a reply, a village notice) belongs to the commune of the bot it goes
    out on: "telegram:TP" is TP's, and a bot named without a commune serves `home_commune`
    (DOITHOAI_COMMUNE), or the database's only commune."""
    may_run_meetings(actor)
    own = await uow.communes.get(actor.commune_id) if actor.commune_id is not None else None
    home = await uow.communes.resolve(home_commune) if own is not None else None
    totals: dict[tuple[str | None, str, str], int] = {}
    for code, meeting_commune, channel, kind, state, count in await uow.outbox.counts_by_origin():
        if own is not None:
            if meeting_commune is not None:
                mine = meeting_commune == own.id
            else:
                bot_commune = commune_code(channel)
                mine = bot_commune == own.code if bot_commune else home is not None and home.id == own.id
            if not mine:
                continue
        totals[(code, kind, state)] = totals.get((code, kind, state), 0) + count
    return sorted(((code, kind, state, n) for (code, kind, state), n in totals.items()), key=lambda r: (r[0] or "", r[1], r[2]))


@commits
async def retry_failed(uow: UnitOfWork, actor: Actor) -> int:
    """Queue every failed message again; how many. The queue is every commune's: only staff who see
    every commune may retry it."""
    may_run_meetings(actor)
    if actor.commune_id is not None:
        raise Forbidden("outbox")
    return await uow.outbox.requeue_failed()
