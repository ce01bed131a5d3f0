"""Staff and roles from the command line, the audit log, passwords and lock-out, posters."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.services.staff import OPERATOR, Actor, StaffError, add_staff, check_login, set_password
from storage.models import AuditEntry, Staff, utcnow
from storage.uow import UnitOfWork
from tests.conftest import plan_text, rows
from tests.e2e.test_cli import cli


@pytest.fixture
def env(tmp_path: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    e["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'staff.db'}"
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    assert cli("db", "upgrade", env=e).returncode == 0
    assert cli("meeting", "load", str(plan), env=e).returncode == 0
    return e


def test_staff_are_added_listed_removed_and_audited(env):
    result = cli("staff", "add", "--role", "village_head", "--village", "Thôn Phong Lâm", "--village", "Thôn Văn Lâm",
                 "--telegram-id", "555001", "--name", "Trưởng thôn Lâm", env=env)
    assert result.returncode == 0, result.stderr
    assert cli("staff", "add", "--role", "department", "--department", "Phòng Kinh tế", "--login", "kinhte", env=env).returncode == 0
    assert cli("staff", "add", "--role", "secretariat", "--login", "vanphong", "--name", "Văn phòng Đảng ủy", env=env).returncode == 0
    staff = json.loads(cli("staff", "list", "--json", env=env).stdout)
    head = next(s for s in staff if s["role"] == "village_head")
    assert head["villages"] == ["Thôn Phong Lâm", "Thôn Văn Lâm"] and head["telegram_id"] == "555001"
    assert next(s for s in staff if s["role"] == "department")["name"] == "Phòng Kinh tế"
    assert cli("staff", "remove", "kinhte", env=env).returncode == 0
    assert [s["role"] for s in json.loads(cli("staff", "list", "--json", env=env).stdout)] == ["village_head", "secretariat"]
    log = json.loads(cli("audit", "list", "--json", env=env).stdout)
    assert [e["action"] for e in log] == ["staff.remove", "staff.add", "staff.add", "staff.add", "meeting.plan"]
    assert log[0]["before"]["department"] == "Phòng Kinh tế" and log[-2]["after"]["villages"] == ["Thôn Phong Lâm", "Thôn Văn Lâm"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "mayor", "--login", "x1x"], "vai trò mayor không có"),
        (["--role", "village_head", "--login", "th1"], "cần ít nhất một --village"),
        (["--role", "village_head", "--village", "Thôn Không Có", "--login", "th2"], "không có thôn Thôn Không Có"),
        (["--role", "department", "--login", "pk1"], "cần --department"),
        (["--role", "secretariat", "--telegram-id", "abc"], "chỉ gồm chữ số"),
        (["--role", "secretariat", "--login", "A B"], "tên đăng nhập"),
    ],
)
def test_bad_staff_requests_are_refused_and_change_nothing(env, args, message):
    result = cli("staff", "add", *args, env=env)
    assert result.returncode == 1 and message in result.stderr
    assert json.loads(cli("staff", "list", "--json", env=env).stdout) == []
    assert [e["action"] for e in json.loads(cli("audit", "list", "--json", env=env).stdout)] == ["meeting.plan"]


def test_password_is_prompted_never_an_argument_and_stored_hashed(env):
    assert cli("staff", "add", "--role", "secretariat", "--login", "vanphong", env=env).returncode == 0
    result = cli("staff", "password", "vanphong", env=env, stdin="mat-khau-rat-dai-2026\nmat-khau-rat-dai-2026\n")
    assert result.returncode == 0, result.stderr
    assert "mat-khau" not in result.stdout + result.stderr
    short = cli("staff", "password", "vanphong", env=env, stdin="ngan\nngan\n")
    assert short.returncode == 1 and "ít nhất 10 ký tự" in short.stderr
    log = cli("audit", "list", "--json", env=env).stdout
    assert "staff.password" in log and "mat-khau" not in log and "argon2" not in log


async def test_login_checks_the_hash_and_locks_out_after_repeated_failures(meeting_db):
    now = utcnow()
    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Văn phòng", role="secretariat", login="vanphong", actor=OPERATOR, now=now)
        await set_password(uow, "vanphong", "mat-khau-rat-dai-2026", actor=OPERATOR, now=now)
        staff = await uow.staff.by_login("vanphong")
        assert staff.password_hash.startswith("$argon2id$")
        assert await check_login(uow, "vanphong", "mat-khau-rat-dai-2026", now=now) is not None
        for _ in range(5):
            assert await check_login(uow, "vanphong", "sai-mat-khau", now=now) is None
        # Locked: even the right password is refused until the lock runs out.
        assert await check_login(uow, "vanphong", "mat-khau-rat-dai-2026", now=now + timedelta(minutes=1)) is None
        assert await check_login(uow, "vanphong", "mat-khau-rat-dai-2026", now=now + timedelta(minutes=16)) is not None
        assert await check_login(uow, "ai-do", "mat-khau-rat-dai-2026", now=now) is None


async def test_thirty_wrong_passwords_at_once_lock_the_account(meeting_db):
    """Sent all at once, each in its own transaction: five are checked, the fifth locks the account,
    the others are refused unchecked, and then the right password is refused too."""
    now = utcnow()
    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Văn phòng", role="secretariat", login="vanphong", actor=OPERATOR, now=now)
        await set_password(uow, "vanphong", "mat-khau-rat-dai-2026", actor=OPERATOR, now=now)
        await uow.commit()

    async def attempt(password: str):
        async with UnitOfWork(meeting_db) as uow:
            staff = await check_login(uow, "vanphong", password, now=now)
            await uow.commit()
            return staff

    assert await asyncio.gather(*(attempt("sai-mat-khau") for _ in range(30))) == [None] * 30
    assert await attempt("mat-khau-rat-dai-2026") is None
    [staff] = await rows(meeting_db, Staff)
    assert staff.locked_until == now + timedelta(minutes=15)
    refusals = sorted(((e.after or {}).get("reason"), (e.after or {}).get("count")) for e in await rows(meeting_db, AuditEntry)
                      if e.action == "login.refused")
    assert refusals == [("locked", 26)] + [("wrong password", None)] * 4 + [("wrong password; locked", None)]


async def test_only_an_admin_manages_staff(meeting_db):
    async with UnitOfWork(meeting_db) as uow:
        secretary = await add_staff(uow, name="Văn phòng", role="secretariat", login="vanphong", actor=OPERATOR, now=utcnow())
        with pytest.raises(StaffError, match="chỉ quản trị viên"):
            await add_staff(uow, name="Kẻ lạ", role="admin", login="kela", actor=Actor("staff", secretary), now=utcnow())


def test_posters_one_page_per_village(env, tmp_path):
    out = tmp_path / "posters.pdf"
    result = cli("posters", "--meeting", "GP-2026", "--bot-username", "GiaPhucBot", "--zalo-link", "https://zalo.me/2345678901", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert len(PdfReader(out).pages) == 7
    assert "https://zalo.me/2345678901" in PdfReader(out).pages[0].extract_text()
    result = cli("posters", "--meeting", "GP-2026", str(out), env=env)
    assert result.returncode == 1 and "--bot-username" in result.stderr
