"""The checks every service makes before it acts for a staff member: role AND commune.

They live with the services, not with the doors (console, command line, bot), so that a new door
cannot forget them. Another commune's meeting or submission is refused with `NotYours`, which the
console answers exactly as it answers a code that does not exist: staff learn nothing of what
another commune holds, not even that it exists.
"""

from __future__ import annotations

from bot.domain.errors import ServiceError
from bot.services.staff import Actor
from storage.models import Commune, Meeting, Submission, Village
from storage.uow import UnitOfWork


class Forbidden(PermissionError):
    """The actor's role does not allow this. Shown to staff as a plain refusal, without details."""


class NotYours(Forbidden):
    """Another commune's meeting, submission or village: refused as if there were no such thing."""


def may_run_meetings(actor: Actor) -> None:
    """Meeting-wide work (plans, publication, notices, exports, the queue): the secretariat and admins."""
    if not actor.may_run_meetings():
        raise Forbidden("meetings")


def works_on_submissions(actor: Actor) -> bool:
    """The secretariat, admins and answering departments work on submissions; village heads work in Telegram."""
    own = actor.staff.department if actor.staff is not None else None
    return actor.may_run_meetings() or actor.may_answer(own)


def may_work_on_submissions(actor: Actor) -> None:
    """Refused before anything is read, even where there is nothing to show. "console" is the reason
    the audit log has always given for it."""
    if not works_on_submissions(actor):
        raise Forbidden("console")


def in_reach(actor: Actor, commune_id: int) -> None:
    if not actor.may_see_commune(commune_id):
        raise NotYours(str(commune_id))


async def run_meeting(uow: UnitOfWork, actor: Actor, code: str) -> Meeting | None:
    """The meeting `code` if the actor may run it; None when there is no such meeting (each service
    says so in its own words); Forbidden for a role without meetings, NotYours for another commune's."""
    may_run_meetings(actor)
    meeting = await uow.meetings.by_code(code.strip())
    if meeting is not None:
        in_reach(actor, meeting.commune_id)
    return meeting


async def meetings_in_reach(uow: UnitOfWork, actor: Actor) -> list[tuple[Meeting, Commune]]:
    """The meetings this person may see, with their communes: their own commune's (every commune's for province staff)."""
    return [(m, c) for m, c in await uow.meetings.all() if actor.may_see_commune(m.commune_id)]


async def meeting_to_run(uow: UnitOfWork, actor: Actor, code: str, missing: type[ServiceError]) -> Meeting:
    """As `run_meeting`, with no such meeting refused as the calling service's own `missing` error."""
    meeting = await run_meeting(uow, actor, code)
    if meeting is None:
        raise missing("problem.no_meeting", code=code)
    assert meeting.id is not None
    return meeting


async def submission_in_reach(uow: UnitOfWork, actor: Actor, submission: Submission) -> None:
    """NotYours unless the submission's meeting is of the actor's commune (any, for province staff)."""
    if actor.commune_id is None:
        return
    meeting = await uow.meetings.get(submission.meeting_id)
    if meeting is None:
        raise NotYours(submission.ref)
    in_reach(actor, meeting.commune_id)


def may_act_in_village(actor: Actor, village: Village) -> bool:
    """A head for their own villages, the secretariat for its commune's; never another commune's."""
    return village.id is not None and actor.may_act_for_village(village.id) and actor.may_see_commune(village.commune_id)
