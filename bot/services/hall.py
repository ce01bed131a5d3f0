"""The meeting day in the hall: the speakers' list, questions from the floor, answers given on the
spot, and the view a projector shows. The rules are bot/domain/hall.py's.

Every entry point checks that the actor runs meetings of the meeting's commune (the secretariat, an
admin) and audits what it changed; the console and the command line only call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain import validation as textrules
from bot.domain.errors import ServiceError
from bot.domain.hall import HALL, HallCounts, Place, Turn, called, counts, grouped_by_topic, in_order, moved, turn_of
from bot.domain.submissions import is_live
from bot.services.access import meeting_to_run
from bot.services.answers import answer_with_duplicates
from bot.services.secretariat import visible
from bot.services.staff import Actor, audit
from bot.services.submissions import Registration, register
from storage.models import Commune, Meeting, Submission
from storage.uow import UnitOfWork, commits

# The projector shows the speaker at the microphone and this many after them.
NEXT_SHOWN = 2


class HallError(ServiceError, ValueError):
    """What the secretary asked cannot be done in the hall; the problem says why."""


@dataclass(frozen=True)
class Speaker:
    submission: Submission
    village: str
    topic: str
    turn: Turn


@dataclass(frozen=True)
class SpeakersList:
    meeting: Meeting
    commune: Commune
    speakers: list[Speaker]  # in the order they are called
    counts: HallCounts
    villages: list[tuple[int, str]]  # for the floor-question form
    topics: list[tuple[int, str]]

    @property
    def closed(self) -> bool:
        return self.meeting.speakers_closed_at is not None

    @property
    def at_microphone(self) -> Speaker | None:
        return next((s for s in self.speakers if s.turn == Turn.CALLED), None)

    @property
    def next_up(self) -> list[Speaker]:
        """Who is called next, in order (nobody once the list is closed)."""
        return [] if self.closed else [s for s in self.speakers if s.turn == Turn.WAITING][:NEXT_SHOWN]


async def _meeting(uow: UnitOfWork, actor: Actor, code: str) -> Meeting:
    return await meeting_to_run(uow, actor, code, HallError)


def _on_list(s: Submission) -> bool:
    return is_live(s.status) and (s.wants_to_speak or s.channel == HALL)


async def _ordered(uow: UnitOfWork, meeting: Meeting) -> tuple[list[Submission], list[Submission]]:
    """The list's submissions in order, and every live submission of the meeting."""
    live = [s for s in await uow.submissions.for_meeting(meeting.id) if is_live(s.status)]  # type: ignore[arg-type]
    listed = {s.id: s for s in live if _on_list(s)}
    order = in_order(Place(s.id, s.hall_position, s.created_at) for s in listed.values())  # type: ignore[arg-type]
    return [listed[p.id] for p in order], live


async def speakers(uow: UnitOfWork, actor: Actor, code: str) -> SpeakersList:
    meeting = await _meeting(uow, actor, code)
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    ordered, live = await _ordered(uow, meeting)
    # Retired villages and topics still name what was filed under them; the form offers the others,
    # as floor_question accepts them.
    villages = await uow.meetings.invited_villages(meeting.id, active_only=False)  # type: ignore[arg-type]
    topics = await uow.meetings.topics(meeting.id, active_only=False)  # type: ignore[arg-type]
    village_names, topic_names = {v.id: v.name for v in villages}, {t.id: t.name for t in topics}
    listed = [Speaker(s, village_names.get(s.village_id, ""), topic_names.get(s.topic_id, ""), turn_of(s.hall_status)) for s in ordered]
    return SpeakersList(
        meeting=meeting, commune=commune, speakers=listed,
        counts=counts([(s.submission.channel, s.turn, s.submission.answered_in_hall) for s in listed],
                      [(s.channel, s.answered_in_hall) for s in live]),
        villages=[(v.id, v.name) for v in villages if v.active],  # type: ignore[misc]
        topics=[(t.id, t.name) for t in topics if t.active],  # type: ignore[misc]
    )


async def _listed(uow: UnitOfWork, actor: Actor, code: str, ref: str) -> tuple[Meeting, Submission, list[Submission]]:
    meeting = await _meeting(uow, actor, code)
    submission = await visible(uow, actor, ref)
    ordered, _ = await _ordered(uow, meeting)
    if submission not in ordered:  # the list is of this meeting alone
        raise HallError("problem.hall.not_listed", ref=ref, code=meeting.code)
    return meeting, submission, ordered


def _place(ordered: list[Submission], order: list[int]) -> None:
    """Give the list's submissions the places `order` (their ids) says."""
    by_id = {s.id: s for s in ordered}
    for position, sid in enumerate(order, start=1):
        by_id[sid].hall_position = position


@commits
async def move(uow: UnitOfWork, actor: Actor, code: str, ref: str, *, to: int, now: datetime) -> Submission:
    """Put `ref` at place `to` (1 is first) of the list; everyone else keeps their order around it."""
    meeting, submission, ordered = await _listed(uow, actor, code, ref)
    before = ordered.index(submission) + 1
    order = moved([s.id for s in ordered], submission.id, to - 1)  # type: ignore[arg-type]
    _place(ordered, order)
    await audit(uow, actor, "hall.move", f"submission {submission.ref}", before={"place": before},
                after={"place": order.index(submission.id) + 1}, now=now)  # type: ignore[arg-type]
    return submission


@commits
async def group_by_topic(uow: UnitOfWork, actor: Actor, code: str, *, now: datetime) -> list[str]:
    """The chair wants speakers on the same matter one after another: those still waiting are grouped
    by topic, in the meeting's order of topics. Returns the codes in their new order; audited."""
    meeting = await _meeting(uow, actor, code)
    ordered, _ = await _ordered(uow, meeting)
    rank = {t.id: n for n, t in enumerate(await uow.meetings.topics(meeting.id, active_only=False))}  # type: ignore[arg-type]
    order = grouped_by_topic([(s.id, turn_of(s.hall_status), rank.get(s.topic_id, len(rank))) for s in ordered])  # type: ignore[misc]
    _place(ordered, order)
    refs = [s.ref for s in sorted(ordered, key=lambda s: s.hall_position or 0)]
    await audit(uow, actor, "hall.group", f"meeting {meeting.code}", before=[s.ref for s in ordered], after=refs, now=now)
    return refs


@commits
async def set_turn(uow: UnitOfWork, actor: Actor, code: str, ref: str, turn: Turn, *, now: datetime) -> Submission:
    """Call a speaker (whoever is at the microphone has then spoken), or mark them spoken, absent or waiting."""
    meeting, submission, ordered = await _listed(uow, actor, code, ref)
    if turn == Turn.CALLED and meeting.speakers_closed_at is not None:
        raise HallError("problem.hall.closed", code=meeting.code)
    before = turn_of(submission.hall_status)
    if turn == Turn.CALLED:
        _place(ordered, called([(s.id, turn_of(s.hall_status)) for s in ordered], submission.id))  # type: ignore[misc,arg-type]
        for other in ordered:
            if other.id != submission.id and turn_of(other.hall_status) == Turn.CALLED:
                other.hall_status = Turn.SPOKE
                await audit(uow, actor, "hall.turn", f"submission {other.ref}", before={"turn": Turn.CALLED},
                            after={"turn": Turn.SPOKE}, now=now)
    submission.hall_status = turn
    await audit(uow, actor, "hall.turn", f"submission {submission.ref}", before={"turn": before}, after={"turn": turn}, now=now)
    return submission


@commits
async def close_list(uow: UnitOfWork, actor: Actor, code: str, *, closed: bool = True, now: datetime) -> Meeting:
    """The chair ends the speakers' list (or opens it again, a mistake undone); whoever is at the microphone finishes."""
    meeting = await _meeting(uow, actor, code)
    before = meeting.speakers_closed_at
    meeting.speakers_closed_at = (before or now) if closed else None
    if before != meeting.speakers_closed_at:
        await audit(uow, actor, "hall.close" if closed else "hall.reopen", f"meeting {meeting.code}", now=now)
    return meeting


@commits
async def floor_question(
    uow: UnitOfWork, actor: Actor, code: str, *, name: str, village_id: int | None, topic_id: int | None, question: str,
    now: datetime,
) -> Submission:
    """A resident who did not register spoke: what they asked becomes a submission with its own code
    (channel "tại hội nghị"), on the list as having spoken."""
    meeting = await _meeting(uow, actor, code)
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None and meeting.id is not None
    try:
        name, question = textrules.line(name or ""), textrules.block(question or "")
    except textrules.BadText as exc:
        raise HallError("problem.hall.bad_text", reason=exc.problem) from None
    if textrules.name_problem(name) is not None:
        raise HallError("problem.hall.name", least=textrules.NAME_MIN, most=textrules.NAME_MAX)
    if textrules.question_problem(question) is not None:
        raise HallError("problem.hall.question", least=textrules.QUESTION_MIN, most=textrules.QUESTION_MAX)
    if village_id not in {v.id for v in await uow.meetings.invited_villages(meeting.id)}:
        raise HallError("problem.hall.village")
    if topic_id not in {t.id for t in await uow.meetings.topics(meeting.id)}:
        raise HallError("problem.hall.topic")
    assert village_id is not None and topic_id is not None
    submission = await register(
        uow, meeting, commune, Registration(name=name, village_id=village_id, topic_id=topic_id, question=question, wants_to_speak=True),
        platform=HALL, entered_by=actor, now=now,
    )
    submission.hall_status = Turn.SPOKE
    return submission


@commits
async def hall_answer(
    uow: UnitOfWork, actor: Actor, code: str, ref: str, *, text: str | None, by: str | None, forward_to: str | None = None,
    expected_by: date | None = None, now: datetime,
) -> Submission:
    """What the chair or a department said in the hall, recorded as the question's answer (or that it
    was forwarded, with the date to expect news). Published with the rest: whoever asked by chat gets it then."""
    meeting = await _meeting(uow, actor, code)
    submission = await visible(uow, actor, ref)
    if submission.meeting_id != meeting.id:
        raise HallError("problem.hall.not_listed", ref=ref, code=meeting.code)
    before: dict[str, Any] = {"answer": submission.answer, "answered_by": submission.answered_by, "in_hall": submission.answered_in_hall}
    if by is None or not by.strip():
        raise HallError("problem.hall.who_answered", ref=submission.ref)
    # Those asking the same (marked duplicates of it) get the same answer, as secretariat.answer gives it.
    await answer_with_duplicates(uow, submission, text=text, by=by, forward_to=forward_to, expected_by=expected_by, now=now)
    # Forwarded in the hall: the hall could not settle it, and it counts as to be answered later.
    submission.answered_in_hall = submission.forwarded_to is None
    await audit(uow, actor, "hall.answer", f"submission {submission.ref}", before=before,
                after={"answer": submission.answer, "answered_by": submission.answered_by, "in_hall": submission.answered_in_hall},
                now=now)
    return submission


@dataclass(frozen=True)
class LiveView:
    """What the projector shows: names and villages only."""

    title: str
    now: tuple[str, str] | None  # (name, village) at the microphone
    next: list[tuple[str, str]]
    closed: bool
    counts: HallCounts


async def live(uow: UnitOfWork, actor: Actor, code: str) -> LiveView:
    found = await speakers(uow, actor, code)
    at = found.at_microphone

    def shown(s: Speaker) -> tuple[str, str]:
        return (s.submission.name or "", s.village)

    return LiveView(title=found.meeting.title, now=shown(at) if at else None, next=[shown(s) for s in found.next_up],
                    closed=found.closed, counts=found.counts)
