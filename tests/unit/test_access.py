"""The checks every service makes for a staff member (bot/services/access.py): role and commune,
over a fake unit of work holding two communes, each with a village and a meeting."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.domain.errors import ServiceError
from bot.services.access import Forbidden, NotYours, may_act_in_village, may_run_meetings, meeting_to_run, run_meeting, submission_in_reach
from bot.services.staff import ADMIN, DEPARTMENT, OPERATOR, SECRETARIAT, VILLAGE_HEAD, Actor
from storage.models import Commune, Meeting, Staff, Submission, Village
from tests.support.fake_uow import FakeUnitOfWork, Rows

STARTS = datetime(2026, 6, 11, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def rows() -> Rows:
    rows = Rows()
    for code, name, village in (("GP", "Xã Gia Phúc", "Thôn Phong Lâm"), ("TP", "Xã Tân Phong", "Thôn Đông Hải")):
        commune = rows.add(Commune(code=code, name=name, timezone="Asia/Ho_Chi_Minh"))
        rows.add(Village(commune_id=commune.id, name=village))
        rows.add(Meeting(code=f"{code}-2026", commune_id=commune.id, title=f"Hội nghị đối thoại {name}", venue="Hội trường UBND",
                         starts_at=STARTS, ends_at=STARTS, registration_closes_at=STARTS))
    return rows


def commune(rows: Rows, code: str) -> Commune:
    return next(c for c in rows.all(Commune) if c.code == code)


def village(rows: Rows, name: str) -> Village:
    return next(v for v in rows.all(Village) if v.name == name)


def staff_of(rows: Rows, code: str | None, role: str, villages: list[str] = ()) -> Actor:  # type: ignore[assignment]
    """A staff member of commune `code` (None: of every commune), as the console would act for them."""
    commune_id = commune(rows, code).id if code else None
    person = Staff(id=100, name="Cán bộ", role=role, commune_id=commune_id)
    return Actor(label=f"staff:100:{role}", staff=person, village_ids=frozenset(village(rows, v).id for v in villages))


def held(rows: Rows) -> dict[str, int]:
    return {model.__name__: len(table) for model, table in rows.tables.items()}


def test_meeting_work_is_for_the_secretariat_and_admins_only(rows):
    for role in (ADMIN, SECRETARIAT):
        may_run_meetings(staff_of(rows, "GP", role))
    for role in (VILLAGE_HEAD, DEPARTMENT):
        with pytest.raises(Forbidden) as refused:
            may_run_meetings(staff_of(rows, "GP", role))
        assert not isinstance(refused.value, NotYours)  # a plain refusal: the role, not the commune


async def test_another_commune_s_meeting_is_refused_as_if_it_did_not_exist(rows):
    before = held(rows)
    gp_secretariat = staff_of(rows, "GP", SECRETARIAT)
    async with FakeUnitOfWork(rows) as uow:
        assert (await run_meeting(uow, gp_secretariat, " GP-2026 ")).code == "GP-2026"
        with pytest.raises(NotYours):
            await run_meeting(uow, gp_secretariat, "TP-2026")
        assert await run_meeting(uow, gp_secretariat, "XX-2026") is None
        # The operator at the command line, and province staff, run every commune's meetings.
        assert (await run_meeting(uow, OPERATOR, "TP-2026")).code == "TP-2026"
        assert (await run_meeting(uow, staff_of(rows, None, SECRETARIAT), "TP-2026")).code == "TP-2026"
        with pytest.raises(Forbidden):
            await run_meeting(uow, staff_of(rows, "GP", VILLAGE_HEAD), "GP-2026")  # the role first, before any lookup
    assert held(rows) == before and uow.commits == 0  # checks write nothing


async def test_a_missing_meeting_is_refused_in_the_calling_service_s_own_words(rows):
    class NoSuchMeeting(ServiceError):
        pass

    async with FakeUnitOfWork(rows) as uow:
        with pytest.raises(NoSuchMeeting) as refused:
            await meeting_to_run(uow, OPERATOR, "XX-2026", NoSuchMeeting)
        assert (refused.value.key, refused.value.params) == ("problem.no_meeting", {"code": "XX-2026"})
        assert (await meeting_to_run(uow, OPERATOR, "GP-2026", NoSuchMeeting)).code == "GP-2026"


async def test_a_submission_is_in_reach_of_its_own_commune_s_staff(rows):
    gp_meeting, tp_meeting = rows.all(Meeting)
    asked_in_tp = Submission(ref="TP-0001", meeting_id=tp_meeting.id, village_id=village(rows, "Thôn Đông Hải").id, topic_id=1,
                             question="Xin hỏi về đường liên thôn.", channel="zalo")
    async with FakeUnitOfWork(rows) as uow:
        await submission_in_reach(uow, staff_of(rows, "TP", DEPARTMENT), asked_in_tp)
        await submission_in_reach(uow, staff_of(rows, None, SECRETARIAT), asked_in_tp)
        with pytest.raises(NotYours):
            await submission_in_reach(uow, staff_of(rows, "GP", SECRETARIAT), asked_in_tp)
        # A submission whose meeting is gone is nobody's (but province staff's, who see every commune).
        orphan = Submission(ref="GP-0009", meeting_id=999, village_id=1, topic_id=1, question="?", channel="paper")
        with pytest.raises(NotYours, match="GP-0009"):
            await submission_in_reach(uow, staff_of(rows, "GP", SECRETARIAT), orphan)


def test_a_village_head_acts_for_their_own_villages_and_the_secretariat_for_its_commune_s(rows):
    phong_lam, dong_hai = village(rows, "Thôn Phong Lâm"), village(rows, "Thôn Đông Hải")
    head = staff_of(rows, "GP", VILLAGE_HEAD, villages=["Thôn Phong Lâm"])
    assert may_act_in_village(head, phong_lam) and not may_act_in_village(head, dong_hai)
    gp_secretariat = staff_of(rows, "GP", SECRETARIAT)
    assert may_act_in_village(gp_secretariat, phong_lam) and not may_act_in_village(gp_secretariat, dong_hai)
    assert not may_act_in_village(staff_of(rows, "GP", DEPARTMENT), phong_lam)
    assert may_act_in_village(OPERATOR, dong_hai)
    assert not may_act_in_village(OPERATOR, Village(commune_id=1, name="Thôn chưa lưu"))  # no id: not a village yet
