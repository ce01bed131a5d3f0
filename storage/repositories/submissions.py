"""Submissions (the questions residents register): the console's filtered listing, exports, anonymising."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select

from storage.models import Meeting, Submission, Topic, Village
from storage.repositories.base import Repository


@dataclass(frozen=True)
class SubmissionFilter:
    """What the console's submission list is narrowed to. None means any."""

    meeting_id: int | None = None
    village_id: int | None = None
    topic_id: int | None = None
    status: str | None = None
    wants_to_speak: bool | None = None
    channel: str | None = None
    department: str | None = None
    commune_id: int | None = None
    text: str | None = None
    # The resident's verdict: FEEDBACK_FILTERS' names (bot/services/followup.py says what they mean).
    feedback: str | None = None
    offset: int = 0
    limit: int = 50

    def restricted_to(self, department: str) -> "SubmissionFilter":
        return replace(self, department=department)

    def in_commune(self, commune_id: int) -> "SubmissionFilter":
        return replace(self, commune_id=commune_id)


@dataclass(frozen=True)
class SubmissionRow:
    """A submission with the names it points to, for listings and exports."""

    submission: Submission
    meeting_code: str
    village: str
    topic: str


class SubmissionRepository(Repository):
    async def get(self, submission_id: int) -> Submission | None:
        return await self.session.get(Submission, submission_id)

    async def by_ref(self, ref: str) -> Submission | None:
        return (await self.session.exec(select(Submission).where(Submission.ref == ref))).first()

    async def for_meeting(self, meeting_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.meeting_id == meeting_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def by_resident(self, resident_id: int) -> Sequence[SubmissionRow]:
        return await self._rows(Submission.resident_id == resident_id)

    async def listing(self, meeting_code: str | None = None) -> Sequence[SubmissionRow]:
        return await self._rows(Meeting.code == meeting_code if meeting_code else None)

    async def _rows(self, where: Any, *, offset: int = 0, limit: int | None = None) -> Sequence[SubmissionRow]:
        stmt = (
            select(Submission, Meeting.code, Village.name, Topic.name)
            .join(Meeting, col(Meeting.id) == Submission.meeting_id)
            .join(Village, col(Village.id) == Submission.village_id)
            .join(Topic, col(Topic.id) == Submission.topic_id)
            .order_by(col(Submission.id))
            .offset(offset)
            .limit(limit)
        )
        if where is not None:
            stmt = stmt.where(where)
        return [SubmissionRow(s, m, v, t) for s, m, v, t in (await self.session.exec(stmt)).all()]

    async def for_village(self, village_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.village_id == village_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def duplicates_of(self, submission_id: int) -> Sequence[Submission]:
        stmt = select(Submission).where(Submission.duplicate_of_id == submission_id).order_by(col(Submission.id))
        return (await self.session.exec(stmt)).all()

    async def search(self, flt: SubmissionFilter) -> tuple[Sequence[SubmissionRow], int]:
        """A page of submissions matching the filter, and how many match in all."""
        conditions: list[Any] = []
        for column, value in (
            (Submission.meeting_id, flt.meeting_id), (Submission.village_id, flt.village_id), (Submission.topic_id, flt.topic_id),
            (Submission.status, flt.status), (Submission.wants_to_speak, flt.wants_to_speak), (Submission.channel, flt.channel),
            (Submission.department, flt.department),
        ):
            if value is not None:
                conditions.append(col(column) == value)
        if flt.feedback == "followup":  # "chưa hài lòng", not yet answered again or closed
            conditions += [col(Submission.followup_at).is_not(None), col(Submission.followup_closed_at).is_(None)]
        elif flt.feedback is not None:
            conditions.append(col(Submission.feedback) == flt.feedback)
        if flt.commune_id is not None:
            conditions.append(col(Submission.meeting_id).in_(select(Meeting.id).where(Meeting.commune_id == flt.commune_id)))
        if flt.text:
            typed = flt.text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{typed}%"
            conditions.append(or_(*(
                func.lower(column).like(like, escape="\\")
                for column in (Submission.question, Submission.ref, func.coalesce(Submission.name, ""))
            )))
        where = and_(*conditions) if conditions else None
        total_stmt = select(func.count()).select_from(Submission)
        if where is not None:
            total_stmt = total_stmt.where(where)
        total = (await self.session.exec(total_stmt)).one()
        rows = await self._rows(where, offset=flt.offset, limit=flt.limit)
        return rows, total

    async def count_for_village(self, village_id: int) -> int:
        stmt = select(func.count()).select_from(Submission).where(Submission.village_id == village_id)
        return (await self.session.exec(stmt)).one()

    async def count_for_topic(self, topic_id: int) -> int:
        stmt = select(func.count()).select_from(Submission).where(Submission.topic_id == topic_id)
        return (await self.session.exec(stmt)).one()

    async def anonymise_for(self, resident_id: int) -> int:
        stmt = (
            update(Submission)
            .where(col(Submission.resident_id) == resident_id)
            .values(resident_id=None, name=None, phone=None, anonymised=True)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def to_anonymise_ended_before(self, cutoff: datetime) -> Sequence[Submission]:
        """What `anonymise_ended_before` will anonymise: submissions of meetings ended before `cutoff` that still hold a name or phone."""
        ended = select(Meeting.id).where(col(Meeting.ends_at) < cutoff)
        stmt = select(Submission).where(
            col(Submission.anonymised).is_(False), col(Submission.meeting_id).in_(ended),
            or_(col(Submission.name).is_not(None), col(Submission.phone).is_not(None)),
        )
        return (await self.session.exec(stmt)).all()

    async def anonymise_ended_before(self, cutoff: datetime) -> int:
        ended = select(Meeting.id).where(col(Meeting.ends_at) < cutoff)
        stmt = (
            update(Submission)
            .where(col(Submission.anonymised).is_(False), col(Submission.meeting_id).in_(ended))
            .values(resident_id=None, name=None, phone=None, anonymised=True)
        )
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

