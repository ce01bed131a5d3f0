"""Keeping the consent text's promise: erasure on request (/xoadulieu), and personal data gone at most 12 months after the meeting.

Submissions of meetings that ended longer ago lose their name and phone (the question stays,
anonymised, for the record: the asker's own name and phone written inside it are covered too); residents with nothing left to receive are deleted; delivered
messages, which quote names and questions, are dropped once they are a month old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from bot.domain.disclosure import Masker, Person
from bot.domain.media import PHOTO, VOICE, draft_files
from storage.models import Resident, Submission
from storage.repositories.files import Removed
from storage.uow import UnitOfWork, commits

RETENTION = timedelta(days=365)
# A resident's own files: what they said and showed. An answer's files are the commune's and stay.
OWN = (VOICE, PHOTO)
DELIVERED_MESSAGES_KEPT = timedelta(days=30)
PROCESSED_UPDATES_KEPT = timedelta(days=7)


@commits
async def forget(uow: UnitOfWork, resident: Resident) -> int:
    """/xoadulieu: the resident's name, phone and chat identity go now; their questions stay on the
    meeting's record, anonymised. Returns how many questions were anonymised."""
    assert resident.id is not None
    # A form in progress holds kept files (a voice question, photos) that no submission has yet.
    await uow.files.drop_stashed(draft_files((resident.state or {}).get("draft")))
    mine = [row.submission for row in await uow.submissions.by_resident(resident.id)]
    await uow.files.remove([f.id for f in await uow.files.of([s.id for s in mine], None) if f.role in OWN])  # type: ignore[misc]
    _cover_own(mine, Person(resident.name, resident.phone))
    count = await uow.submissions.anonymise_for(resident.id)
    # Queued messages carry the resident's name and questions: they go too.
    await uow.outbox.forget_chat(resident.channel, resident.chat_id)
    # The last list the chat was shown (Zalo) can hold their name ("Dùng tên …").
    await uow.choices.forget(resident.channel, resident.chat_id)
    await uow.residents.delete(resident)
    return count


async def _drop_forms_past_deadline(uow: UnitOfWork, now: datetime) -> Removed:
    """Forms never sent whose meeting's registration has closed can never be sent: their recordings
    and photos go, and the form with them (the resident would be told the deadline passed anyway)."""
    files: list[int] = []
    for resident in await uow.residents.with_open_form():
        if (resident.state or {}).get("flow") != "register":
            continue  # another conversation in progress (a follow-up's question): no form, no files
        meeting = await uow.meetings.get(resident.state.get("meeting_id")) if isinstance(resident.state.get("meeting_id"), int) else None
        if meeting is None or meeting.registration_closes_at < now:
            files += draft_files((resident.state or {}).get("draft"))
            resident.state = {}
    return await uow.files.drop_stashed(files)


def _cover_own(submissions: Iterable[Submission], *people: Person) -> None:
    """Residents sign their questions ("Tôi là Nguyễn Văn An, 0912 345 678…"): once the name and phone
    go, so do they inside the question and the follow-up, or the record would keep them after all.
    Only the asker's own (numbers staff or others wrote, such as a hotline, stay)."""
    for s in submissions:
        mask = Masker([*people, Person(s.name, s.phone)])
        s.question = mask(s.question, any_number=False)
        if s.followup_text:
            s.followup_text = mask(s.followup_text, any_number=False)


@dataclass
class PurgeReport:
    submissions_anonymised: int
    residents_deleted: int
    messages_deleted: int
    files_removed: int = 0  # residents' voice questions and photos
    bytes_removed: int = 0


@commits
async def purge_expired(uow: UnitOfWork, now: datetime) -> PurgeReport:
    """Anonymise and delete what is past its retention. Commits."""
    cutoff = now - RETENTION
    left = await _drop_forms_past_deadline(uow, now)
    expiring = await uow.submissions.to_anonymise_ended_before(cutoff)
    _cover_own(expiring)
    removed = await uow.files.remove([f.id for f in await uow.files.of([s.id for s in expiring], None) if f.role in OWN])  # type: ignore[misc]
    anonymised = await uow.submissions.anonymise_ended_before(cutoff)
    residents = await uow.residents.delete_inactive(cutoff)
    messages = await uow.outbox.delete_delivered_before(now - DELIVERED_MESSAGES_KEPT)
    await uow.updates.forget_before(now - PROCESSED_UPDATES_KEPT)
    # The last list a chat was shown on Zalo: its labels can hold a name ("Dùng tên …").
    await uow.choices.forget_before(now - DELIVERED_MESSAGES_KEPT)
    return PurgeReport(anonymised, residents, messages, removed.files + left.files, removed.bytes + left.bytes)
