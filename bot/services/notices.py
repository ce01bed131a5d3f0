"""Meeting notices and reminders: `doithoai announce`, the scheduled ones, and plan changes.

What is due is computed from the meeting and recorded in `notice_run` in the same transaction
as the messages it queues, so each scheduled notice fires exactly once: a restart neither loses
nor repeats one, and one that fell due while the bot was down goes out when it comes back,
as long as it still makes sense (a reminder of a passed deadline does not).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Container

from bot.domain import validation as textrules
from bot.domain.channels import translator
from bot.domain.errors import ServiceError
from bot.domain.messages import Reply
from bot.domain.outbox import Delivery, Purpose
from bot.domain.submissions import is_live
from bot.services.access import Forbidden, may_act_in_village, meeting_to_run
from bot.services.calendar import deadline_reminder_due, eve_reminder_due, meeting_ics, notice_due
from bot.services.filetypes import file_name, sniff
from bot.services.meetings import card as meeting_card
from bot.services.outbox import enqueue
from bot.services.staff import staff_address
from bot.text.catalogue import Translator
from bot.text.formatting import when
from storage.models import Attachment, Commune, Meeting, NoticeRun, Resident, Village
from storage.uow import UnitOfWork, commits

if TYPE_CHECKING:
    from bot.services.staff import Actor

NOTICE, DEADLINE, EVE = "notice", "deadline_reminder", "eve_reminder"
VILLAGE_NOTICE_MAX = 3500
# A village notice's photo or file. Telegram lets a bot download files of up to 20 MB and send photos of up to 10 MB.
NOTICE_FILE_MAX = 10 * 1024 * 1024
# A village head hears how a notice goes once it has taken this long, and again now and then (_progress_slot).
PROGRESS_AFTER = timedelta(minutes=1)


class NoticeError(ServiceError, ValueError):
    """A notice that cannot be sent; the problem says why."""


@dataclass(frozen=True)
class Change:
    """What a reloaded plan changed in a meeting that residents are registered for."""

    starts_at: tuple[datetime, datetime] | None = None
    venue: tuple[str, str] | None = None


def _reachable(resident: Resident) -> bool:
    return resident.notices and resident.unreachable_at is None


async def registrants(uow: UnitOfWork, meeting: Meeting) -> list[Resident]:
    """Everyone with a live (not withdrawn) submission for the meeting, once each."""
    assert meeting.id is not None
    ids = {s.resident_id for s in await uow.submissions.for_meeting(meeting.id) if is_live(s.status) and s.resident_id}
    return [r for r in await uow.residents.by_ids(sorted(ids)) if _reachable(r)]  # type: ignore[arg-type]


async def villagers(uow: UnitOfWork, meeting: Meeting) -> list[Resident]:
    """Consented residents of the invited villages who want notices."""
    assert meeting.id is not None
    village_ids = [v.id for v in await uow.meetings.invited_villages(meeting.id)]
    return [r for r in await uow.residents.in_villages(village_ids) if _reachable(r)]  # type: ignore[arg-type]


async def _calendar_file(uow: UnitOfWork, meeting: Meeting, commune: Commune, now: datetime) -> int:
    tr = Translator("vi")
    data = meeting_ics(
        uid=f"{meeting.code}@doithoai",
        title=meeting.title,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        venue=meeting.venue,
        description=tr("notice.ics_description", commune=commune.name, host=meeting.host or commune.name),
        tz=commune.timezone,
        latitude=meeting.latitude,
        longitude=meeting.longitude,
        organizer_name=commune.name,
        alarm_text=tr("calendar.alarm"),
        now=now,
    )
    attachment = uow.meetings.add(Attachment(filename=f"{meeting.code}.ics", mime_type="text/calendar", data=data, created_at=now))
    await uow.flush()
    assert attachment.id is not None
    return attachment.id


def notice_text(meeting: Meeting, commune: Commune, tr: Translator, extra: str | None) -> str:
    agenda = meeting.agenda or tr("notice.agenda_default", host=meeting.host or commune.name)
    text = tr("notice.head", commune=commune.name) + "\n\n" + meeting_card(meeting, commune, tr) + "\n📝 " + agenda
    if extra:
        text += "\n\n" + extra.strip()
    return text + "\n\n" + tr("notice.tail")


@dataclass(frozen=True)
class Queued:
    """How many residents a notice reaches, and how many messages that makes (a notice is its text,
    the map pin and the calendar file: several messages to each resident)."""

    residents: int = 0
    messages: int = 0


async def _queue_notice(uow: UnitOfWork, meeting: Meeting, *, now: datetime, text: str | None = None, key: str | None = None) -> Queued:
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None and meeting.id is not None
    if text is not None:  # what staff typed is judged before the meeting's state: they fix it either way
        try:
            text = textrules.block(text)
        except textrules.BadText as exc:
            raise NoticeError("problem.notice.bad_text", reason=exc.problem) from None
    if now > meeting.ends_at:
        raise NoticeError("problem.notice.over", code=meeting.code)
    # The same notice (same text) is sent once; a notice with new text is a new notice.
    key = key or "manual-" + hashlib.sha256((text or "").strip().encode()).hexdigest()[:12]
    recipients = {r.id: r for r in await villagers(uow, meeting) + await registrants(uow, meeting)}
    ics = await _calendar_file(uow, meeting, commune, now) if recipients else None
    location = (meeting.latitude, meeting.longitude) if meeting.latitude is not None and meeting.longitude is not None else None
    residents = messages = 0
    for resident in recipients.values():
        tr = translator(resident.language, resident.channel)
        reply = Reply(text=notice_text(meeting, commune, tr, text), location=location, document=ics)
        ids = await enqueue(
            uow, key=f"notice:{meeting.code}:{key}:{resident.channel}:{resident.chat_id}", channel=resident.channel,
            chat_id=resident.chat_id, reply=reply, purpose=Purpose.NOTICE, meeting_id=meeting.id,
        )
        residents += bool(ids)
        messages += len(ids)
    return Queued(residents, messages)


@commits
async def announce(uow: UnitOfWork, actor: "Actor", meeting_code: str, *, now: datetime, text: str | None = None) -> Queued:
    """Queue the meeting notice to the invited villages and everyone registered, for those who run
    the meeting's commune; audited. Commits."""
    from bot.services.staff import audit

    meeting = await meeting_to_run(uow, actor, meeting_code, NoticeError)
    queued = await _queue_notice(uow, meeting, now=now, text=text)
    # The log keeps the text residents read, as _queue_notice cleaned it: the console's form sends line
    # breaks as CRLF and a terminal as LF, and the same notice must leave the same row at either door.
    sent = textrules.block(text) if text is not None else None
    await audit(uow, actor, "meeting.announce", f"meeting {meeting.code}",
                after={"residents": queued.residents, "messages": queued.messages, "text": sent or None}, now=now)
    return queued


@dataclass(frozen=True)
class AnnouncePreview:
    meeting: Meeting
    commune: Commune
    residents: int
    villages: list[str]
    over: bool  # the meeting has ended: no notice can go


async def announce_preview(uow: UnitOfWork, actor: "Actor", meeting_code: str, *, now: datetime) -> AnnouncePreview:
    """Who the notice would reach, for the page staff confirm it on."""
    meeting = await meeting_to_run(uow, actor, meeting_code, NoticeError)
    assert meeting.id is not None
    people = {r.id for r in await villagers(uow, meeting) + await registrants(uow, meeting)}
    invited = await uow.meetings.invited_villages(meeting.id)
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    return AnnouncePreview(meeting=meeting, commune=commune, residents=len(people), villages=[v.name for v in invited],
                           over=now > meeting.ends_at)


async def _deadline_reminder(uow: UnitOfWork, meeting: Meeting, commune: Commune) -> int:
    """To residents who started a form for this meeting and have not sent it."""
    queued = 0
    for resident in await uow.residents.with_open_form():
        state = resident.state or {}
        if state.get("meeting_id") != meeting.id or not _reachable(resident):
            continue
        tr = translator(resident.language, resident.channel)
        text = tr("reminder.deadline", deadline=when(meeting.registration_closes_at, commune.timezone, tr))
        queued += bool(
            await enqueue(
                uow, key=f"reminder:{meeting.code}:deadline:{resident.channel}:{resident.chat_id}", channel=resident.channel,
                chat_id=resident.chat_id, reply=Reply(text=text), purpose=Purpose.REMINDER, meeting_id=meeting.id,
            )
        )
    return queued


async def _eve_reminder(uow: UnitOfWork, meeting: Meeting, commune: Commune) -> int:
    """The day before: time, place and their own codes, to everyone registered."""
    assert meeting.id is not None
    refs: dict[int, list[str]] = {}
    for s in await uow.submissions.for_meeting(meeting.id):
        if is_live(s.status) and s.resident_id:
            refs.setdefault(s.resident_id, []).append(s.ref)
    queued = 0
    for resident in await registrants(uow, meeting):
        tr = translator(resident.language, resident.channel)
        text = tr(
            "reminder.eve",
            title=meeting.title,
            start=when(meeting.starts_at, commune.timezone, tr),
            venue=meeting.venue,
            refs=", ".join(refs.get(resident.id, [])),  # type: ignore[arg-type]
        )
        location = (meeting.latitude, meeting.longitude) if meeting.latitude is not None and meeting.longitude is not None else None
        queued += bool(
            await enqueue(
                uow, key=f"reminder:{meeting.code}:eve:{resident.channel}:{resident.chat_id}", channel=resident.channel,
                chat_id=resident.chat_id, reply=Reply(text=text, location=location), purpose=Purpose.REMINDER, meeting_id=meeting.id,
            )
        )
    return queued


def due_times(meeting: Meeting, commune: Commune, holidays: Container[date]) -> dict[str, datetime]:
    tz = commune.timezone
    return {
        NOTICE: notice_due(meeting.starts_at, tz, holidays),
        DEADLINE: deadline_reminder_due(meeting.registration_closes_at, tz),
        EVE: eve_reminder_due(meeting.starts_at, tz),
    }


def _still_useful(kind: str, meeting: Meeting, now: datetime) -> bool:
    """A notice that fell due while the bot was down still goes out, unless its moment has passed."""
    if kind == DEADLINE:
        return now < meeting.registration_closes_at
    return now < meeting.starts_at


@commits
async def run_due(uow: UnitOfWork, now: datetime, holidays: Container[date]) -> list[tuple[str, str, int]]:
    """Fire every scheduled notice that is due and has not fired; returns (meeting, kind, recipients). Commits."""
    fired = []
    for meeting, commune in await uow.meetings.upcoming(now):
        assert meeting.id is not None
        done = await uow.notices.fired(meeting.id)
        for kind, due in due_times(meeting, commune, holidays).items():
            if kind in done or now < due:
                continue
            if not _still_useful(kind, meeting, now):
                # Recorded so it is not looked at again, and visible in the log as skipped.
                await uow.notices.record(NoticeRun(meeting_id=meeting.id, kind=kind, fired_at=now, recipients=-1))
                continue
            if kind == NOTICE:
                count = (await _queue_notice(uow, meeting, now=now, key="scheduled")).residents
            elif kind == DEADLINE:
                count = await _deadline_reminder(uow, meeting, commune)
            else:
                count = await _eve_reminder(uow, meeting, commune)
            await uow.notices.record(NoticeRun(meeting_id=meeting.id, kind=kind, fired_at=now, recipients=count))
            fired.append((meeting.code, kind, count))
    return fired


async def tell_change(uow: UnitOfWork, meeting: Meeting, change: Change, now: datetime) -> Queued:
    """A reloaded plan moved the meeting or its venue: tell everyone registered, old and new."""
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    residents = messages = 0
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for resident in await registrants(uow, meeting):
        tr = translator(resident.language, resident.channel)
        lines = [tr("change.head", title=meeting.title)]
        if change.starts_at:
            old, new = change.starts_at
            lines.append(tr("change.time", old=when(old, commune.timezone, tr), new=when(new, commune.timezone, tr)))
        if change.venue:
            lines.append(tr("change.venue", old=change.venue[0], new=change.venue[1]))
        lines.append(tr("change.tail"))
        ids = await enqueue(
            uow, key=f"change:{meeting.code}:{stamp}:{resident.channel}:{resident.chat_id}", channel=resident.channel,
            chat_id=resident.chat_id, reply=Reply(text="\n\n".join(lines)), purpose=Purpose.CHANGE, meeting_id=meeting.id,
        )
        residents += bool(ids)
        messages += len(ids)
    return Queued(residents, messages)


async def village_recipients(uow: UnitOfWork, village_ids: list[int]) -> list[Resident]:
    return [r for r in await uow.residents.in_villages(village_ids) if _reachable(r)]


async def keep_notice_file(uow: UnitOfWork, *, filename: str, mime_type: str, data: bytes, now: datetime) -> int:
    """Store the photo or file a village head attaches to a notice; it stays until every copy is delivered."""
    if not data or len(data) > NOTICE_FILE_MAX:
        raise NoticeError("problem.notice.file_size", mb=NOTICE_FILE_MAX // (1024 * 1024))
    kind = sniff(data)  # the claimed `mime_type` is the sender's word only
    if kind is None:
        raise NoticeError("problem.notice.file_kind")
    attachment = uow.meetings.add(Attachment(filename=file_name(filename, kind), mime_type=kind.mime, data=data, created_at=now))
    await uow.flush()
    assert attachment.id is not None
    return attachment.id


async def drop_notice_file(uow: UnitOfWork, attachment_id: int) -> None:
    """A notice's file that was never sent: the head cancelled the notice or sent another file instead."""
    attachment = await uow.session.get(Attachment, attachment_id)
    if attachment is not None:
        await uow.meetings.delete(attachment)


@commits
async def notify_villages(
    uow: UnitOfWork, actor: "Actor", village_ids: list[int], text: str, *, sender: str, now: datetime, attachment_id: int | None = None,
) -> int:
    """A staff notice to the consented residents of chosen villages (a head: only their own), with an optional
    photo or file (`keep_notice_file`) sent after the text. Returns how many are queued."""
    from bot.services.staff import audit

    try:
        text = textrules.block(text)
    except textrules.BadText as exc:
        raise NoticeError("problem.notice.bad_text", reason=exc.problem) from None
    if not village_ids or any(not actor.may_act_for_village(v) for v in village_ids):
        raise Forbidden("villages")
    if not 5 <= len(text) <= VILLAGE_NOTICE_MAX:
        raise NoticeError("problem.notice.length", max=VILLAGE_NOTICE_MAX)
    villages = {v: await uow.meetings.village(v) for v in village_ids}
    if any(v is None for v in villages.values()):
        raise NoticeError("problem.notice.no_village")
    if any(not actor.may_see_commune(v.commune_id) for v in villages.values() if v is not None):
        raise Forbidden("villages")  # another commune's
    attachment = await uow.session.get(Attachment, attachment_id) if attachment_id is not None else None
    if attachment_id is not None and attachment is None:
        raise NoticeError("problem.notice.no_file")
    batch = uuid.uuid4().hex[:12]
    recipients = await village_recipients(uow, village_ids)
    for resident in recipients:
        tr = translator(resident.language, resident.channel)
        village = villages[resident.village_id]  # type: ignore[index]
        reply = Reply(text=tr("vh.notice_to_residents", village=village.name, head=sender, text=text), document=attachment_id)  # type: ignore[union-attr]
        # With a file, the text goes under this key and the file under "…#1" (outbox.parts).
        await enqueue(uow, key=f"village-notice:{batch}:{resident.channel}:{resident.chat_id}", channel=resident.channel,
                      chat_id=resident.chat_id, reply=reply, purpose=Purpose.VILLAGE_NOTICE)
    names = [v.name for v in villages.values() if v is not None]
    staff_id = actor.staff.id if actor.staff else None
    await audit(uow, actor, "village.notice", "village " + ", ".join(names),
                after={"recipients": len(recipients), "batch": batch, "text": text, "staff_id": staff_id,
                       "attachment": attachment.filename if attachment else None}, now=now)
    return len(recipients)


def _secretariat_only(actor: "Actor") -> None:
    """The console's notice form is the secretariat's and admins'; village heads send theirs from Telegram."""
    if not actor.may_run_meetings():
        raise Forbidden("notices")


async def secretariat_villages(uow: UnitOfWork, actor: "Actor") -> list[Village]:
    """The villages the console's notice form offers: the active ones of every commune with a meeting, within the actor's reach."""
    _secretariat_only(actor)
    communes = dict.fromkeys(commune.id for _, commune in await uow.meetings.all())  # in the meetings' order, each once
    villages = [v for found in (await uow.communes.villages_of(list(communes))).values() for v in found if v.active]  # type: ignore[arg-type]
    return [v for v in villages if may_act_in_village(actor, v)]


async def secretariat_notice(uow: UnitOfWork, actor: "Actor", village_ids: list[int], text: str, *, sender: str, now: datetime) -> int:
    """`notify_villages` from the console's form, which only the secretariat and admins may send. Commits (notify_villages does)."""
    _secretariat_only(actor)
    return await notify_villages(uow, actor, village_ids, text, sender=sender, now=now)


def _progress_slot(elapsed: timedelta) -> int | None:
    """Which progress message is due for a batch this old: none in its first minute, then one after
    1, 3, 7, 15, 31… minutes. Numbered, so each goes once even across restarts; spaced ever wider,
    so a batch stuck behind one slow chat does not flood its sender."""
    minutes, slot = PROGRESS_AFTER.total_seconds() / 60, None
    while elapsed >= timedelta(minutes=minutes):
        slot = 0 if slot is None else slot + 1
        minutes = minutes * 2 + 1
    return slot


@commits
async def report_village_notices(uow: UnitOfWork, since: datetime, *, now: datetime) -> int:
    """Tell the sender of each village notice how it goes: while it is still being delivered and has taken
    over a minute, how many have got it so far (now and then, `_progress_slot`); once nothing is left queued,
    how many got it and how many could not be reached. Outbox keys make each message go once.
    Returns how many messages were queued."""
    queued = 0
    for entry in await uow.staff.audit_since("village.notice", since):
        after = entry.after or {}
        batch, staff_id = after.get("batch"), after.get("staff_id")
        staff = await uow.staff.get(staff_id) if staff_id else None
        address = staff_address(staff) if staff is not None else None
        if not batch or address is None:
            continue
        counts = await uow.outbox.batch_counts(f"village-notice:{batch}:")
        if not counts:
            continue
        tr = Translator("vi")
        target = entry.target.removeprefix("village ")
        sent, unreachable = counts.get(Delivery.SENT, 0), counts.get(Delivery.UNREACHABLE, 0) + counts.get(Delivery.FAILED, 0)
        if counts.get(Delivery.PENDING):
            slot = _progress_slot(now - entry.at)
            if slot is None:
                continue
            text = tr("vh.progress", target=target, sent=sent, total=sum(counts.values()), unreachable=unreachable)
            key = f"village-notice-progress:{batch}:{slot}"
        else:
            text = tr("vh.report", target=target, sent=sent, unreachable=unreachable)
            key = f"village-notice-report:{batch}"
        queued += bool(await enqueue(uow, key=key, channel=address[0], chat_id=address[1], reply=Reply(text=text), purpose=Purpose.REPLY))
    return queued
