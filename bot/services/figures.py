"""The numbers staff watch: how many questions each meeting in reach has, and one meeting's figures
by village, topic, status, mode, channel and satisfaction. Only what the actor may see is counted:
every row comes through the secretariat's search."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from bot.domain.submissions import STATUSES, Status, followup_open, is_live
from bot.services.access import meetings_in_reach
from bot.services.secretariat import current_meeting, search
from bot.services.staff import Actor
from bot.text.formatting import collation_key
from storage.models import Commune, Meeting
from storage.repositories import SubmissionFilter, SubmissionRow
from storage.uow import UnitOfWork

FEEDBACK = ("satisfied", "unsatisfied", "none")


@dataclass(frozen=True)
class MeetingLine:
    meeting: Meeting
    commune: Commune
    count: int  # the questions the actor may see
    open: bool  # registration still open
    over: bool

    @property
    def tz(self) -> str:
        return self.commune.timezone


async def meetings_overview(uow: UnitOfWork, actor: Actor, now: datetime) -> list[MeetingLine]:
    lines = []
    for meeting, commune in await meetings_in_reach(uow, actor):
        _, count = await search(uow, actor, SubmissionFilter(meeting_id=meeting.id, limit=1))
        lines.append(MeetingLine(meeting, commune, count, open=now < meeting.registration_closes_at, over=now > meeting.ends_at))
    return lines


@dataclass(frozen=True)
class Group:
    """The questions of one village or one topic."""

    name: str
    count: int
    speak: int
    answered: int
    forwarded: int  # not answered yet: it went to a higher level, which answers later


@dataclass(frozen=True)
class Figures:
    meetings: list[tuple[Meeting, Commune]]  # those the figures can be asked for
    meeting_id: int | None  # the meeting counted; None: every meeting in reach
    total: int
    live: int  # not withdrawn: every figure below counts these, but statuses, which count all
    villages: list[Group]
    topics: list[Group]
    statuses: list[tuple[str, int]]
    speak: int
    delivered: int  # answers that reached their asker, who could then say whether they were satisfied
    feedback: list[tuple[str, int]]  # the verdicts that stand now, after any follow-up
    first_feedback: list[tuple[str, int]]  # each resident's first verdict, before any follow-up
    followups: int  # answers a resident said "chưa hài lòng" about
    followups_open: int  # of those, not yet answered again or closed
    channels: list[tuple[str, int]]


async def figures(uow: UnitOfWork, actor: Actor, meeting_id: int | None, *, now: datetime, current: bool = False) -> Figures:
    """The figures of `meeting_id` (None: every meeting in reach); with `current`, of the actor's current meeting."""
    if current:
        meeting = await current_meeting(uow, actor, now)
        meeting_id = meeting.id if meeting else None
    rows = await _every_row(uow, actor, SubmissionFilter(meeting_id=meeting_id))
    meetings = await meetings_in_reach(uow, actor)
    live = [r for r in rows if is_live(r.submission.status)]
    statuses = Counter(r.submission.status for r in rows)
    delivered = [r.submission for r in live if r.submission.delivered_revision > 0]
    feedback = Counter(s.feedback or "none" for s in delivered)
    first = Counter(s.first_feedback or "none" for s in delivered)
    channels = Counter(r.submission.channel for r in live)
    return Figures(
        meetings=meetings, meeting_id=meeting_id, total=len(rows), live=len(live),
        villages=_tally(live, lambda r: r.village), topics=_tally(live, lambda r: r.topic),
        statuses=[(s, statuses.get(s, 0)) for s in STATUSES] + [(s, n) for s, n in statuses.items() if s not in STATUSES],
        speak=sum(r.submission.wants_to_speak for r in live), delivered=len(delivered),
        feedback=[(k, feedback.get(k, 0)) for k in FEEDBACK], first_feedback=[(k, first.get(k, 0)) for k in FEEDBACK],
        followups=sum(s.followup_at is not None for s in delivered), followups_open=sum(followup_open(s) for s in delivered),
        channels=sorted(channels.items(), key=lambda kv: -kv[1]),
    )


async def _every_row(uow: UnitOfWork, actor: Actor, flt: SubmissionFilter) -> list[SubmissionRow]:
    """Every submission the actor may see under `flt`, page by page through the search."""
    out: list[SubmissionRow] = []
    while True:
        rows, total = await search(uow, actor, replace(flt, offset=len(out), limit=500))
        out += rows
        if not rows or len(out) >= total:
            return out


def _tally(rows: list[SubmissionRow], name: Callable[[SubmissionRow], str]) -> list[Group]:
    """Largest group first; groups as large in Vietnamese alphabetical order."""
    groups: dict[str, list[SubmissionRow]] = {}
    for r in rows:
        groups.setdefault(name(r), []).append(r)
    out = [
        Group(name=key, count=len(found), speak=sum(r.submission.wants_to_speak for r in found),
              answered=sum(r.submission.status == Status.ANSWERED for r in found),
              forwarded=sum(r.submission.status == Status.FORWARDED for r in found))
        for key, found in groups.items()
    ]
    return sorted(out, key=lambda g: (-g.count, collation_key(g.name)))
