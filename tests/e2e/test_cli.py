"""The command line as an operator uses it: separate processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.conversation.engine import Conversation
from storage.db import Database
from tests.conftest import plan_text
from tests.support.core_chat import CoreChat

BIN = Path(sys.executable).parent / "doithoai"


def cli(*args: str, env: dict, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "bot"]
    # A session of its own: no controlling terminal, so nothing the command does can wait on the tester's.
    return subprocess.run([*command, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout, start_new_session=True)


@pytest.fixture
def env(tmp_path: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    e["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return e


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(plan_text(), encoding="utf-8")
    return path


async def registered(env: dict, plan: Path, **answers) -> None:
    """A database upgraded and loaded through the CLI, with one resident's registration in it."""
    assert cli("db", "upgrade", env=env).returncode == 0
    assert cli("meeting", "load", str(plan), env=env).returncode == 0
    db = Database(env["DOITHOAI_DATABASE_URL"])
    try:
        chat = CoreChat(Conversation(db))
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(**answers)
    finally:
        await db.dispose()


def test_console_script_is_installed():
    assert BIN.exists() or shutil.which("doithoai")


def test_commands_refuse_a_database_that_is_not_upgraded(env, plan):
    for args in (["meeting", "list"], ["meeting", "load", str(plan)], ["submissions", "list"]):
        result = cli(*args, env=env)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == ["Lỗi: cơ sở dữ liệu chưa được cập nhật: xin chạy `doithoai db upgrade`"]


def test_upgrade_load_and_list(env, plan):
    assert cli("db", "upgrade", env=env).returncode == 0
    result = cli("meeting", "load", str(plan), env=env)
    assert result.returncode == 0 and "Đã tạo hội nghị GP-2026." in result.stdout
    assert "Đã cập nhật hội nghị GP-2026." in cli("meeting", "load", str(plan), env=env).stdout
    [meeting] = json.loads(cli("meeting", "list", "--json", env=env).stdout)
    assert meeting["code"] == "GP-2026" and meeting["commune"] == "GP" and meeting["registration_open"] is True
    assert len(meeting["villages"]) == 7 and meeting["topics"][-1] == "Vấn đề khác"
    assert meeting["starts_at"].endswith("+07:00")
    assert "GP-2026" in cli("meeting", "list", env=env).stdout
    assert "Đã ẩn danh 0 phiếu" in cli("privacy", "purge", env=env).stdout


def test_an_invalid_plan_names_each_field_and_writes_nothing(env, tmp_path):
    assert cli("db", "upgrade", env=env).returncode == 0
    bad = plan_text().replace('code = "GP"', 'code = "gp1"').replace('venue = "', 'venue = "" #')
    closes = datetime.now(timezone.utc) + timedelta(days=40)
    bad = bad.replace("registration_closes_at = ", f'registration_closes_at = "{closes.isoformat()}" #')
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    result = cli("meeting", "load", str(path), env=env)
    assert result.returncode == 1
    assert "chưa ghi gì" in result.stderr
    assert "commune.code: cần 2–5 chữ in hoa" in result.stderr
    assert "meeting.venue:" in result.stderr
    assert json.loads(cli("meeting", "list", "--json", env=env).stdout) == []
    path.write_text("[meeting\n", encoding="utf-8")
    assert "không đúng định dạng TOML ở dòng" in cli("meeting", "load", str(path), env=env).stderr
    assert "không có tệp" in cli("meeting", "load", str(tmp_path / "missing.toml"), env=env).stderr


def test_deadline_after_start_is_refused(env, tmp_path):
    assert cli("db", "upgrade", env=env).returncode == 0
    starts = datetime.now(timezone.utc) + timedelta(days=5)
    path = tmp_path / "late.toml"
    path.write_text(plan_text(starts=starts, closes=starts + timedelta(days=1)), encoding="utf-8")
    result = cli("meeting", "load", str(path), env=env)
    assert result.returncode == 1 and "meeting.registration_closes_at: không được sau meeting.starts_at" in result.stderr


async def test_reload_updates_the_meeting_and_keeps_what_has_submissions(env, tmp_path, plan):
    await registered(env, plan, village="Thôn Lai Hà", topic="Vấn đề khác")
    changed = plan_text(topics=["Kinh tế - xã hội, đất đai, xây dựng", "Chính sách mới"], villages=["Thôn Phong Lâm", "Thôn Văn Lâm"])
    changed = changed.replace("Hội trường Nhà Văn hoá trung tâm xã Gia Phúc", "Nhà Văn hoá thôn Văn Lâm")
    path = tmp_path / "changed.toml"
    path.write_text(changed, encoding="utf-8")
    result = cli("meeting", "load", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "Giữ lại thôn Thôn Lai Hà" in result.stdout and "Giữ lại lĩnh vực Vấn đề khác" in result.stdout
    [meeting] = json.loads(cli("meeting", "list", "--json", env=env).stdout)
    assert meeting["venue"] == "Nhà Văn hoá thôn Văn Lâm"
    assert meeting["villages"] == ["Thôn Phong Lâm", "Thôn Văn Lâm"]
    assert meeting["topics"] == ["Kinh tế - xã hội, đất đai, xây dựng", "Chính sách mới"]
    [row] = json.loads(cli("submissions", "list", "--json", env=env).stdout)
    assert (row["village"], row["topic"]) == ("Thôn Lai Hà", "Vấn đề khác")


async def test_submissions_list_json_has_the_promised_fields(env, plan):
    await registered(env, plan, phone="0912345678", speak=False)
    [row] = json.loads(cli("submissions", "list", "--meeting", "GP-2026", "--json", env=env).stdout)
    assert row["ref"] == "GP-0001" and row["meeting"] == "GP-2026" and row["name"] == "Nguyễn Văn An"
    assert row["village"] == "Thôn Phong Lâm" and row["topic"] == "Môi trường, hạ tầng, giao thông"
    assert row["wants_to_speak"] is False and row["phone"] == "0912345678"
    assert row["status"] == "received" and row["channel"] == "telegram"
    assert datetime.fromisoformat(row["created_at"]).tzinfo is not None
    assert "GP-0001" in cli("submissions", "list", env=env).stdout
    result = cli("submissions", "list", "--meeting", "NOPE", env=env)
    assert result.returncode == 1 and "không có hội nghị mã NOPE" in result.stderr


def test_run_without_a_token_says_what_to_set(env):
    assert cli("db", "upgrade", env=env).returncode == 0
    result = cli("run", env=env)
    assert result.returncode == 1 and "chưa cấu hình kênh nào" in result.stderr
    assert "DOITHOAI_TELEGRAM_TOKEN" in result.stderr and "DOITHOAI_ZALO_TOKEN" in result.stderr


def test_demo_takes_a_newcomer_to_a_receipt(env, tmp_path):
    steps = ["1", "a", "Nguyễn Thị Lan", "2", "Vấn đề khác", "Xin hỏi lịch thu gom rác của thôn.", "2", "Bỏ qua", "1", "c", "/thoat"]
    result = cli("demo", env=env, stdin="\n".join(steps) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Kính chào Ông/Bà" in out and "Đồng ý" in out
    assert "Mã phiếu: GP-0001" in out and "Thôn Văn Lâm" in out
    assert "Câu hỏi của Ông/Bà (1)" in out
    assert not (tmp_path / "cli.db").exists()  # the demo never touches the configured database


async def test_answer_publish_and_outbox_commands_refuse_mistakes_clearly(env, plan, tmp_path):
    await registered(env, plan)
    result = cli("conclusion", "publish", "--meeting", "GP-2026", "--force", env=env)
    assert result.returncode == 1 and "GP-0001" in result.stderr and "--allow-unanswered" in result.stderr
    result = cli("answer", "GP-0001", "--forward", "UBND thành phố", "--expected-by", "31/02/2026", env=env)
    assert result.returncode == 1 and "--expected-by: 31/02/2026 không phải ngày" in result.stderr
    result = cli("answer", "GP-0001", "--forward", "UBND thành phố", env=env)
    assert result.returncode == 1 and "--expected-by" in result.stderr
    result = cli("answer", "GP-0042", "--text", "Trả lời.", env=env)
    assert result.returncode == 1 and "GP-0042: không có phiếu mã này" in result.stderr
    result = cli("answer", "GP-0001", "--forward", "UBND thành phố", "--expected-by", "2026-07-15", env=env)
    assert result.returncode == 0 and "GP-0001: đã chuyển" in result.stdout and "sẽ gửi khi công bố kết luận" in result.stdout
    [row] = json.loads(cli("submissions", "list", "--json", env=env).stdout)
    assert row["status"] == "forwarded"
    fake = tmp_path / "ket-luan.pdf"
    fake.write_text("not a pdf", encoding="utf-8")
    result = cli("conclusion", "publish", "--meeting", "GP-2026", "--document", str(fake), env=env)
    assert result.returncode == 1 and "không phải tệp PDF" in result.stderr
    result = cli("conclusion", "publish", "--meeting", "GP-2026", env=env)
    assert result.returncode == 1 and "chưa kết thúc" in result.stderr and "--force" in result.stderr
    result = cli("conclusion", "publish", "--meeting", "GP-2026", "--force", env=env)
    assert result.returncode == 0 and "1 câu trả lời" in result.stdout
    status = json.loads(cli("outbox", "status", "--json", env=env).stdout)
    assert {"meeting": "GP-2026", "kind": "answer", "state": "queued", "count": 1} in status
    assert cli("outbox", "retry", env=env).returncode == 1
    actions = [e["action"] for e in json.loads(cli("audit", "list", "--json", env=env).stdout)]
    assert actions == ["meeting.publish", "submission.answer", "meeting.plan"]  # newest first; refused attempts left no trace
    assert "Đã xếp hàng gửi lại 0 tin nhắn lỗi." in cli("outbox", "retry", "--failed", env=env).stdout


def cli_under_a_terminal(*args: str, env: dict, stdin: str) -> subprocess.CompletedProcess:
    """As `cli`, but the command has a controlling terminal of its own, as when an operator runs a script."""
    import fcntl
    import termios

    terminal, child_end = os.openpty()

    def take_the_terminal() -> None:
        os.setsid()
        fcntl.ioctl(child_end, termios.TIOCSCTTY, 0)

    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "bot"]
    try:
        return subprocess.run([*command, *args], env=env, input=stdin, capture_output=True, text=True, timeout=30, preexec_fn=take_the_terminal)
    finally:
        os.close(terminal)
        os.close(child_end)


def test_piped_secrets_are_read_from_stdin_even_when_a_terminal_is_open(env, tmp_path):
    """A script run from a terminal pipes the secrets in: they are read from standard input, not asked for
    on the terminal, where nobody answers and the script would hang."""
    import sqlite3

    assert cli("db", "upgrade", env=env).returncode == 0
    assert cli("staff", "add", "--role", "secretariat", "--login", "vanphong", env=env).returncode == 0
    password = cli_under_a_terminal("staff", "password", "vanphong", env=env, stdin="mat-khau-rat-dai-2026\n")
    assert password.returncode == 0 and "Đã đặt mật khẩu cho vanphong" in password.stdout, password.stderr
    assert "staff.password" in cli("audit", "list", "--json", env=env).stdout
    tokens = cli_under_a_terminal("zalo", "oa-tokens", env=env, stdin="access-3\nrefresh-3\n")
    assert tokens.returncode == 0, tokens.stderr
    assert "access-3" not in tokens.stdout + tokens.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        assert conn.execute("SELECT access_token, refresh_token FROM channel_token").fetchall() == [("access-3", "refresh-3")]


def test_new_zalo_oa_tokens_are_prompted_for_and_stored(env, tmp_path):
    import sqlite3

    assert cli("db", "upgrade", env=env).returncode == 0
    result = cli("zalo", "oa-tokens", env=env, stdin="access-2\nrefresh-2\n")
    assert result.returncode == 0, result.stderr
    assert "access-2" not in result.stdout + result.stderr  # prompted without echo, never printed
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        assert conn.execute("SELECT channel, access_token, refresh_token FROM channel_token").fetchall() == [("zalo_oa", "access-2", "refresh-2")]
