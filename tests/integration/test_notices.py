"""Notices and reminders on their own schedule, with a clock the test controls."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from bot.conversation.engine import Conversation
from bot.domain.messages import Reply
from bot.entrypoints.schedule import Schedule
from bot.entrypoints.settings import Settings
from bot.services.notices import DEADLINE, EVE, NOTICE, Queued, announce, due_times
from bot.services.staff import OPERATOR
from storage.models import Attachment, NoticeRun, Outbox
from storage.uow import UnitOfWork
from tests.conftest import load, plan_text
from tests.support.core_chat import CoreChat

VN = timezone(timedelta(hours=7))
# Gia Phúc's real plan: Thursday 11/06/2026 08:00, registration until 15/05/2026 23:59.
STARTS = datetime(2026, 6, 11, 8, 0, tzinfo=VN)
CLOSES = datetime(2026, 5, 15, 23, 59, tzinfo=VN)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(timezone.utc)


@pytest.fixture
async def world(db):
    await load(db, plan_text(starts=STARTS, closes=CLOSES, coords=True))
    clock = Clock(datetime(2026, 5, 1, 9, 0, tzinfo=VN))
    return db, clock


async def resident(db, clock, user_id: str, *, register: bool = False, start_form: bool = False) -> CoreChat:
    chat = CoreChat(Conversation(db, clock=clock), user_id=user_id)
    await chat.text("/start")
    await chat.press("Đồng ý")
    if register:
        await chat.register(village="Thôn Văn Lâm")
    elif start_form:
        await chat.text("/dangky")
        await chat.text("Người Dở Dang")
    return chat


async def queued(db, kind: str) -> list[tuple[str, Reply]]:
    async with UnitOfWork(db, readonly=True) as uow:
        found = (await uow.session.exec(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id))).all()
    return [(o.chat_id, Reply.from_payload(o.payload)) for o in found]


def schedule(db, clock, holidays: str = "") -> Schedule:
    return Schedule(db, Settings(holidays=holidays, _env_file=None), clock=clock)


async def test_due_times_follow_working_days_holidays_and_local_time(world):
    db, _ = world
    async with UnitOfWork(db, readonly=True) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        commune = await uow.communes.get(meeting.commune_id)
    due = due_times(meeting, commune, frozenset())
    assert due[NOTICE] == datetime(2026, 6, 2, 8, 0, tzinfo=VN)  # 7 working days before Thursday 11/06
    assert due[DEADLINE] == datetime(2026, 5, 13, 8, 0, tzinfo=VN)
    assert due[EVE] == datetime(2026, 6, 10, 17, 0, tzinfo=VN)
    # A day off the government adds in between moves the notice one working day earlier.
    settings = Settings(holidays="2026-06-05", _env_file=None)
    due = due_times(meeting, commune, settings.holiday_dates([2026]))
    assert due[NOTICE] == datetime(2026, 6, 1, 8, 0, tzinfo=VN)


async def test_the_notice_goes_out_once_when_due_and_never_again(world):
    db, clock = world
    villager = await resident(db, clock, "11")  # consented, no registration, no village yet
    registrant = await resident(db, clock, "12", register=True)
    other_village_person = await resident(db, clock, "13")
    async with UnitOfWork(db) as uow:  # a poster's link put them in an invited village
        (await uow.residents.find("telegram", "11")).village_id = (await uow.meetings.invited_villages((await uow.meetings.by_code("GP-2026")).id))[0].id
        await uow.commit()

    clock.now = datetime(2026, 6, 2, 7, 59, tzinfo=VN)
    assert await schedule(db, clock).tick() == []
    clock.now = datetime(2026, 6, 2, 8, 0, tzinfo=VN)
    fired = await schedule(db, clock).tick()
    assert fired == [("GP-2026", NOTICE, 2)]
    notices = await queued(db, "notice")
    chats = {chat for chat, _ in notices}
    assert chats == {"11", "12"} and "13" not in chats
    text = next(r.text for chat, r in notices if chat == "12" and r.text)
    assert "Thứ Năm, ngày 11/06/2026, từ 08:00 đến 11:30" in text and "Hội trường Nhà Văn hoá" in text and "đối thoại" in text
    assert any(r.location == (20.45, 106.34) for _, r in notices)
    documents = [r.document for _, r in notices if r.document]
    async with UnitOfWork(db, readonly=True) as uow:
        ics = await uow.session.get(Attachment, documents[0])
    assert ics.filename == "GP-2026.ics" and b"BEGIN:VEVENT" in ics.data
    # Later ticks, and a restarted process, send nothing twice.
    clock.now += timedelta(hours=5)
    assert await schedule(db, clock).tick() == []
    assert len(await queued(db, "notice")) == len(notices)
    del villager, registrant, other_village_person


async def test_a_notice_missed_while_down_goes_out_on_return_unless_its_moment_passed(world):
    db, clock = world
    await resident(db, clock, "21", register=True)
    # The bot was down from before the notice until the eve of the meeting, 18:00.
    clock.now = datetime(2026, 6, 10, 18, 0, tzinfo=VN)
    fired = await schedule(db, clock).tick()
    assert (("GP-2026", NOTICE, 1) in fired) and (("GP-2026", EVE, 1) in fired)
    async with UnitOfWork(db, readonly=True) as uow:
        runs = {r.kind: r.recipients for r in (await uow.session.exec(select(NoticeRun))).all()}
    assert runs[DEADLINE] == -1  # the deadline had passed: its reminder was skipped, not sent late
    reminders = [r for _, r in await queued(db, "reminder") if r.text]
    assert reminders and all("ngày mai" in r.text for r in reminders)
    # After the meeting started, nothing more.
    clock.now = datetime(2026, 6, 11, 9, 0, tzinfo=VN)
    assert await schedule(db, clock).tick() == []


async def test_deadline_reminder_only_to_unfinished_forms(world):
    db, clock = world
    await resident(db, clock, "31", start_form=True)
    await resident(db, clock, "32", register=True)
    await resident(db, clock, "33")
    clock.now = datetime(2026, 5, 13, 8, 5, tzinfo=VN)
    fired = await schedule(db, clock).tick()
    assert ("GP-2026", DEADLINE, 1) in fired
    [(chat, reply)] = await queued(db, "reminder")
    assert chat == "31" and "23:59 Thứ Sáu, ngày 15/05/2026" in reply.text and "/dangky" in reply.text


async def test_eve_reminder_lists_the_residents_own_codes(world):
    db, clock = world
    chat = await resident(db, clock, "41", register=True)
    await chat.register(village="Thôn Văn Lâm", question="Câu hỏi thứ hai về chợ xã Gia Phúc.")
    clock.now = datetime(2026, 6, 10, 17, 0, tzinfo=VN)
    await schedule(db, clock).tick()
    [(who, reply)] = [(c, r) for c, r in await queued(db, "reminder") if r.text]
    assert who == "41" and "GP-0001, GP-0002" in reply.text and "08:00 Thứ Năm, ngày 11/06/2026" in reply.text


async def test_residents_who_turned_notices_off_get_none_but_still_get_answers(world):
    db, clock = world
    chat = await resident(db, clock, "51", register=True)
    assert "Đã tắt thông báo" in chat.texts(await chat.text("/tatthongbao"))
    async with UnitOfWork(db) as uow:
        assert await announce(uow, OPERATOR, "GP-2026", now=clock()) == Queued(0, 0)
        await uow.commit()
    assert "Đã bật thông báo" in chat.texts(await chat.text("/batthongbao"))
    async with UnitOfWork(db) as uow:
        first = await announce(uow, OPERATOR, "GP-2026", now=clock(), text="Mời bà con đến đúng giờ.")
        # The same notice twice is sent once.
        assert await announce(uow, OPERATOR, "GP-2026", now=clock(), text="Mời bà con đến đúng giờ.") == Queued(0, 0)
        await uow.commit()
    [text] = [r.text for _, r in await queued(db, "notice") if r.text]
    assert "Mời bà con đến đúng giờ." in text
    # One resident, and as many messages as were queued to them: the text and the calendar file.
    notices = await queued(db, "notice")
    assert first == Queued(residents=1, messages=len(notices)) and len(notices) > 1


async def test_reloading_a_changed_plan_tells_every_registrant_old_and_new(world):
    db, clock = world
    await resident(db, clock, "61", register=True)
    await resident(db, clock, "62")  # not registered: not told
    later = STARTS + timedelta(days=1, hours=6)  # Friday 12/06/2026 14:00
    text = plan_text(starts=later, closes=CLOSES).replace("Hội trường Nhà Văn hoá trung tâm xã Gia Phúc", "Nhà Văn hoá thôn Văn Lâm")
    await load(db, text)
    [(chat, reply)] = await queued(db, "change")
    assert chat == "61"
    assert "08:00 Thứ Năm, ngày 11/06/2026 → 14:00 Thứ Sáu, ngày 12/06/2026" in reply.text
    assert "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc → Nhà Văn hoá thôn Văn Lâm" in reply.text
    await load(db, text)  # the same plan again: nothing changed, nobody told
    assert len(await queued(db, "change")) == 1


def test_bad_holiday_configuration_is_refused_naming_the_value():
    with pytest.raises(ValueError, match="2026-13-01"):
        Settings(holidays="2026-01-02, 2026-13-01", _env_file=None)


async def test_notice_runs_are_recorded(world):
    db, clock = world
    clock.now = datetime(2026, 6, 2, 9, 0, tzinfo=VN)
    await schedule(db, clock).tick()
    async with UnitOfWork(db, readonly=True) as uow:
        runs = (await uow.session.exec(select(NoticeRun))).all()
    assert {r.kind for r in runs} >= {NOTICE} and date(2026, 6, 2) == runs[0].fired_at.astimezone(VN).date()
