"""Files that belong to a submission (storage.models.SubmissionFile): the resident's voice question and
photos, and the files sent with its answer. The bytes live in `attachment`; listings read everything
but them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import delete, func
from sqlmodel import col, select

from storage.models import Attachment, SubmissionFile
from storage.repositories.base import Repository


@dataclass(frozen=True)
class KeptFile:
    """A submission's file as listings show it, without its bytes."""

    id: int  # the SubmissionFile's
    submission_id: int
    attachment_id: int
    role: str
    position: int
    seconds: int | None
    public: bool
    filename: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class Removed:
    files: int
    bytes: int


class FileRepository(Repository):
    async def keep(self, submission_id: int, role: str, *, filename: str, mime_type: str, data: bytes, now: datetime,
                   position: int = 0, seconds: int | None = None) -> SubmissionFile:
        """Store the bytes and bind them to the submission under `role`."""
        attachment_id = await self.stash(filename=filename, mime_type=mime_type, data=data, now=now)
        return await self.bind(submission_id, attachment_id, role, now=now, position=position, seconds=seconds)

    async def stash(self, *, filename: str, mime_type: str, data: bytes, now: datetime) -> int:
        """Bytes a form in progress holds (a voice question, a photo) before there is a submission to bind them to."""
        attachment = Attachment(filename=filename, mime_type=mime_type, data=data, created_at=now)
        self.session.add(attachment)
        await self.session.flush()
        assert attachment.id is not None
        return attachment.id

    async def bind(self, submission_id: int, attachment_id: int, role: str, *, now: datetime, position: int = 0,
                   seconds: int | None = None) -> SubmissionFile:
        kept = SubmissionFile(submission_id=submission_id, attachment_id=attachment_id, role=role, position=position,
                              seconds=seconds, created_at=now)
        self.session.add(kept)
        await self.session.flush()
        return kept

    async def drop_stashed(self, attachment_ids: Sequence[int]) -> Removed:
        """A form's files that will never be sent (it was cancelled, or they were replaced); bound ones are left alone."""
        ids = [i for i in attachment_ids if isinstance(i, int)]
        if not ids:
            return Removed(0, 0)
        bound = select(SubmissionFile.attachment_id).where(col(SubmissionFile.attachment_id).in_(ids))
        loose = (col(Attachment.id).in_(ids), col(Attachment.id).not_in(bound))
        sizes = (await self.session.exec(select(func.length(Attachment.data)).where(*loose))).all()
        await self.session.exec(delete(Attachment).where(*loose))  # type: ignore[call-overload]
        return Removed(len(sizes), sum(n or 0 for n in sizes))

    async def of(self, submission_ids: Iterable[int], role: str | None = None) -> list[KeptFile]:
        """The files of these submissions (of one role), in order, without their bytes."""
        ids = list(submission_ids)
        if not ids:
            return []
        stmt = (
            select(SubmissionFile, Attachment.filename, Attachment.mime_type, func.length(Attachment.data))
            .join(Attachment, col(Attachment.id) == SubmissionFile.attachment_id)
            .where(col(SubmissionFile.submission_id).in_(ids))
            .order_by(col(SubmissionFile.submission_id), col(SubmissionFile.role), col(SubmissionFile.position), col(SubmissionFile.id))
        )
        if role is not None:
            stmt = stmt.where(SubmissionFile.role == role)
        return [KeptFile(f.id, f.submission_id, f.attachment_id, f.role, f.position, f.seconds, f.public, name, mime, size or 0)  # type: ignore[arg-type]
                for f, name, mime, size in (await self.session.exec(stmt)).all()]

    async def attachment(self, attachment_id: int) -> Attachment | None:
        return await self.session.get(Attachment, attachment_id)

    async def remove(self, file_ids: Sequence[int]) -> Removed:
        """Delete these submission files and their bytes; how many and how big."""
        if not file_ids:
            return Removed(0, 0)
        rows = (await self.session.exec(
            select(SubmissionFile.attachment_id, func.length(Attachment.data))
            .join(Attachment, col(Attachment.id) == SubmissionFile.attachment_id)
            .where(col(SubmissionFile.id).in_(list(file_ids)))
        )).all()
        await self.session.exec(delete(SubmissionFile).where(col(SubmissionFile.id).in_(list(file_ids))))  # type: ignore[call-overload]
        await self.session.exec(delete(Attachment).where(col(Attachment.id).in_([a for a, _ in rows])))  # type: ignore[call-overload]
        return Removed(len(rows), sum(size or 0 for _, size in rows))
