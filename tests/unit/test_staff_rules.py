"""Staff management and sign-in rules (bot/services/staff.py) over a fake unit of work: what each
call leaves in the rows (staff, their villages, sessions, the audit log) and what a refusal leaves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from bot.services import staff as staff_service
from bot.services.staff import (
    ANONYMOUS,
    DEPARTMENT,
    LOCK_AFTER,
    LOCK_FOR,
    OPERATOR,
    SECRETARIAT,
    VILLAGE_HEAD,
    Actor,
    StaffError,
    actor_for,
    add_staff,
    check_login,
    remove_staff,
    set_password,
)
from storage.models import AuditEntry, Commune, Staff, StaffVillage, Submission, Village, WebSession
from tests.support.fake_uow import FakeUnitOfWork, Rows

NOW = datetime(2026, 5, 2, 9, 30, 15, tzinfo=timezone.utc)
PASSWORD = "mat-khau-rat-dai-2026"


@pytest.fixture(autouse=True)
def light_hashes(monkeypatch):
    """Argon2 at its lightest: these tests are about the rules around the hash, and the recommended
    parameters take half a second a hash on a shared machine."""
    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def rows() -> Rows:
    """Two communes; both have a "Thôn Văn Lâm"."""
    rows = Rows()
    for code, name, villages in (("GP", "Xã Gia Phúc", ["Thôn Phong Lâm", "Thôn Văn Lâm"]), ("TP", "Xã Tân Phong", ["Thôn Đông Hải", "Thôn Văn Lâm"])):
        commune = rows.add(Commune(code=code, name=name, timezone="Asia/Ho_Chi_Minh"))
        for position, village in enumerate(villages):
            rows.add(Village(commune_id=commune.id, name=village, position=position))
    return rows


def village_id(rows: Rows, name: str, code: str) -> int:
    commune_id = next(c.id for c in rows.all(Commune) if c.code == code)
    return next(v.id for v in rows.all(Village) if v.name == name and v.commune_id == commune_id)


def audit(rows: Rows) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in rows.all(AuditEntry)]


async def add(rows: Rows, **fields) -> Staff:
    """As the command line adds staff: one unit of work, committed when the service did not refuse."""
    async with FakeUnitOfWork(rows) as uow:
        staff = await add_staff(uow, actor=OPERATOR, now=NOW, **fields)
        await uow.commit()
    return staff


async def sign_in(rows: Rows, login: str, password: str, now: datetime) -> Staff | None:
    """As the console signs someone in: one unit of work per attempt, committed whatever the outcome."""
    async with FakeUnitOfWork(rows) as uow:
        staff = await check_login(uow, login, password, now=now)
        await uow.commit()
    return staff


async def test_only_an_admin_adds_staff_and_a_refusal_leaves_nothing(rows):
    secretariat = Actor(label="staff:9:Văn phòng", staff=Staff(id=9, name="Văn phòng", role=SECRETARIAT))
    async with FakeUnitOfWork(rows) as uow:
        with pytest.raises(StaffError) as refused:
            await add_staff(uow, name="Phòng Kinh tế", role=DEPARTMENT, department="Phòng Kinh tế", actor=secretariat, now=NOW)
    assert refused.value.key == "problem.staff.admin_only"
    assert rows.all(Staff) == [] and rows.all(AuditEntry) == []


async def test_a_village_head_is_linked_to_their_villages_and_works_for_their_commune(rows):
    head = await add(rows, name="  Trưởng  thôn Lâm ", role=VILLAGE_HEAD, villages=["Thôn Phong Lâm", " Thôn  Văn Lâm"],
                     telegram_id=" 555001 ", commune="gp")
    assert rows.all(Staff) == [head]
    assert (head.name, head.telegram_id, head.commune_id, head.login) == ("Trưởng thôn Lâm", "555001", 1, None)
    assert [(link.staff_id, link.village_id) for link in rows.all(StaffVillage)] == [
        (head.id, village_id(rows, "Thôn Phong Lâm", "GP")), (head.id, village_id(rows, "Thôn Văn Lâm", "GP"))]
    [entry] = rows.all(AuditEntry)
    assert (entry.actor, entry.action, entry.target, entry.at) == ("cli", "staff.add", f"staff {head.id}", NOW)
    assert entry.after["villages"] == ["Thôn Phong Lâm", "Thôn Văn Lâm"] and entry.after["has_password"] is False
    async with FakeUnitOfWork(rows) as uow:
        assert (await actor_for(uow, head)).village_ids == {village_id(rows, "Thôn Phong Lâm", "GP"), village_id(rows, "Thôn Văn Lâm", "GP")}


async def test_a_village_name_two_communes_share_needs_the_commune(rows):
    with pytest.raises(StaffError) as refused:
        await add(rows, name="Trưởng thôn", role=VILLAGE_HEAD, villages=["Thôn Văn Lâm"])
    assert refused.value.key == "problem.staff.village_ambiguous"
    head = await add(rows, name="Trưởng thôn", role=VILLAGE_HEAD, villages=["Thôn Văn Lâm"], commune="TP")
    assert head.commune_id == 2 and [link.village_id for link in rows.all(StaffVillage)] == [village_id(rows, "Thôn Văn Lâm", "TP")]


async def test_a_head_s_villages_are_of_one_commune_which_becomes_theirs(rows):
    with pytest.raises(StaffError) as refused:
        await add(rows, name="Trưởng thôn", role=VILLAGE_HEAD, villages=["Thôn Phong Lâm", "Thôn Đông Hải"])
    assert refused.value.key == "problem.staff.villages_one_commune"
    assert rows.all(Staff) == [] and rows.all(StaffVillage) == []
    assert (await add(rows, name="Trưởng thôn", role=VILLAGE_HEAD, villages=["Thôn Đông Hải"])).commune_id == 2


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"role": "mayor"}, "problem.staff.bad_role"),
        ({"role": VILLAGE_HEAD}, "problem.staff.head_needs_village"),
        ({"role": SECRETARIAT, "villages": ["Thôn Phong Lâm"]}, "problem.staff.village_for_heads"),
        ({"role": DEPARTMENT, "department": "  "}, "problem.staff.department_needs_name"),
        ({"role": SECRETARIAT, "telegram_id": "@lan"}, "problem.staff.bad_telegram_id"),
        ({"role": SECRETARIAT, "login": "Lan Anh"}, "problem.staff.bad_login"),
        ({"role": SECRETARIAT, "commune": "XX"}, "problem.staff.no_commune"),
        ({"role": VILLAGE_HEAD, "villages": ["Thôn Không Có"]}, "problem.staff.no_village"),
    ],
)
async def test_a_bad_request_is_refused_by_its_reason_and_leaves_nothing(rows, fields, key):
    with pytest.raises(StaffError) as refused:
        await add(rows, name="Nguyễn Thị Lan", **fields)
    assert refused.value.key == key
    assert rows.all(Staff) == [] and rows.all(AuditEntry) == []


async def test_a_login_and_a_telegram_id_belong_to_one_staff_member(rows):
    await add(rows, name="Văn phòng", role=SECRETARIAT, login="vanphong", telegram_id="555002")
    for taken, key in (({"login": " VanPhong "}, "problem.staff.login_taken"), ({"telegram_id": "555002"}, "problem.staff.telegram_taken")):
        with pytest.raises(StaffError) as refused:
            await add(rows, name="Người khác", role=SECRETARIAT, **taken)
        assert refused.value.key == key
    assert [s.login for s in rows.all(Staff)] == ["vanphong"]


async def test_removing_a_head_ends_their_sessions_unlinks_their_villages_and_keeps_their_paper_forms(rows):
    head = await add(rows, name="Trưởng thôn Lâm", role=VILLAGE_HEAD, villages=["Thôn Phong Lâm"], telegram_id="555001")
    other = await add(rows, name="Văn phòng", role=SECRETARIAT, login="vanphong")
    paper = rows.add(Submission(ref="GP-0001", meeting_id=1, village_id=1, topic_id=1, question="Phiếu giấy.", channel="paper",
                                entered_by_staff_id=head.id))
    async with FakeUnitOfWork(rows) as uow:
        await uow.sessions.open("k-head", head.id, NOW, NOW + timedelta(hours=8))
        await uow.sessions.open("k-other", other.id, NOW, NOW + timedelta(hours=8))
        assert await remove_staff(uow, " 555001 ", actor=OPERATOR, now=NOW) is head  # found by Telegram id
        await uow.commit()
    assert rows.all(Staff) == [other] and rows.all(StaffVillage) == []
    assert [s.id for s in rows.all(WebSession)] == ["k-other"]
    assert paper.entered_by_staff_id is None and rows.all(Submission) == [paper]
    removal = rows.all(AuditEntry)[-1]
    assert (removal.action, removal.target, removal.before["villages"]) == ("staff.remove", f"staff {head.id}", ["Thôn Phong Lâm"])
    async with FakeUnitOfWork(rows) as uow:
        with pytest.raises(StaffError) as refused:
            await remove_staff(uow, "555001", actor=OPERATOR, now=NOW)
    assert refused.value.key == "problem.staff.not_found"


async def test_a_new_password_is_stored_hashed_ends_sessions_and_never_reaches_the_log(rows):
    lan = await add(rows, name="Văn phòng", role=SECRETARIAT, login="vanphong")
    lan.failed_logins, lan.locked_until = 3, NOW + LOCK_FOR
    async with FakeUnitOfWork(rows) as uow:
        await uow.sessions.open("k-old", lan.id, NOW, NOW + timedelta(hours=8))
        with pytest.raises(StaffError) as refused:
            await set_password(uow, "vanphong", "ngan", actor=OPERATOR, now=NOW)
        assert refused.value.key == "problem.staff.short_password"
        await set_password(uow, " VANPHONG ", PASSWORD, actor=OPERATOR, now=NOW)
        await uow.commit()
    assert lan.password_hash.startswith("$argon2id$") and PASSWORD not in lan.password_hash
    assert (lan.failed_logins, lan.locked_until) == (0, None)
    assert rows.all(WebSession) == []
    change = rows.all(AuditEntry)[-1]
    assert (change.action, change.before, change.after) == ("staff.password", None, None)


async def test_the_fifth_wrong_password_locks_the_account_even_against_the_right_one(rows):
    lan = await add(rows, name="Văn phòng", role=SECRETARIAT, login="vanphong")
    async with FakeUnitOfWork(rows) as uow:
        await set_password(uow, "vanphong", PASSWORD, actor=OPERATOR, now=NOW)
        await uow.commit()
    for _ in range(LOCK_AFTER):
        assert await sign_in(rows, "vanphong", "sai-mat-khau", NOW) is None
    assert lan.locked_until == NOW + LOCK_FOR
    assert await sign_in(rows, "vanphong", PASSWORD, NOW + timedelta(minutes=1)) is None  # locked: not even checked
    assert await sign_in(rows, "VanPhong", PASSWORD, NOW + LOCK_FOR) is lan  # the quarter of an hour is over
    assert (lan.failed_logins, lan.locked_until) == (0, None)
    refusals = [e.after["reason"] for e in rows.all(AuditEntry) if e.action == "login.refused"]
    assert refusals == ["wrong password"] * (LOCK_AFTER - 1) + ["wrong password; locked", "locked"]
    assert audit(rows)[-1] == (f"staff:{lan.id}:Văn phòng", "login", "login vanphong")


async def test_unknown_logins_are_counted_a_row_a_minute_and_the_login_typed_is_never_kept(rows):
    for seconds in (0, 10, 40, 60):  # 09:30:15, :25, :55 and 09:31:15
        assert await sign_in(rows, "mat-khau-go-nham-cho", "x", NOW + timedelta(seconds=seconds)) is None
    entries = rows.all(AuditEntry)
    assert [(e.at.strftime("%H:%M:%S"), e.after["count"]) for e in entries] == [("09:30:00", 3), ("09:31:00", 1)]
    assert {(e.actor, e.action, e.target) for e in entries} == {(ANONYMOUS, "login.refused", "login (unknown)")}
    assert "mat-khau-go-nham-cho" not in repr([(e.target, e.after) for e in entries])
