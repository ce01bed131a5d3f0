"""`doithoai backup` and `doithoai restore`, run as an operator runs them, on SQLite and on PostgreSQL:
a backup taken while a writer is busy, restored over changed data, gives back exactly what was backed up."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from bot.conversation.engine import Conversation
from storage.db import Database
from storage.schema import alembic_config, head_revision, upgrade
from tests.conftest import plan_text
from tests.e2e.test_cli import cli, registered
from tests.support import pg
from tests.support.core_chat import CoreChat

HEADERS = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path):
    """The environment of a `doithoai` process whose database does not exist yet (SQLite) or is empty (PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    if request.param == "sqlite":
        env["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'bot.db'}"
        yield env
        return
    name = pg.create(migrated=False)
    try:
        env["DOITHOAI_DATABASE_URL"] = pg.url(name)
        yield env
    finally:
        pg.drop(name)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(plan_text(), encoding="utf-8")
    return path


def kind(env: dict) -> str:
    return "sqlite" if env["DOITHOAI_DATABASE_URL"].startswith("sqlite") else "postgresql"


async def snapshot(url: str) -> dict[str, list]:
    """Every table's name and every row in it, as the database holds them now."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: sorted(inspect(c).get_table_names()))
            out: dict[str, list] = {"tables": names}
            for name in names:
                out[name] = sorted((tuple(r) for r in (await conn.exec_driver_sql(f'SELECT * FROM "{name}"')).all()), key=repr)
            return out
    finally:
        await db.dispose()


async def execute(url: str, *statements: str) -> None:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
            await conn.commit()
    finally:
        await db.dispose()


def backup(env: dict, path: Path, *args: str) -> None:
    result = cli("backup", str(path), *args, env=env)
    assert result.returncode == 0, result.stderr


def refused(result, message: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("Lỗi: ") and message in result.stderr, result.stderr


async def test_round_trip_gives_back_exactly_what_was_backed_up(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    await registered(target, plan, phone="0912345678")
    backed_up = await snapshot(url)
    assert len(backed_up["submission"]) == 1 and len(backed_up["meeting"]) == 1 and backed_up["outbox"]

    path = tmp_path / "nightly.backup"
    writer = Database(url)
    try:
        async with writer.engine.connect() as busy:
            # The bot is in the middle of a write: the backup neither waits for it nor sees it.
            await busy.exec_driver_sql("UPDATE submission SET question = 'not committed'")
            result = cli("backup", str(path), env=target)
            await busy.rollback()
    finally:
        await writer.dispose()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Đã ghi {path} (") and "KB)" in result.stdout
    assert f"bản sao lưu {NAMES[kind(target)]}, phiên bản lược đồ {head_revision()}" in result.stdout
    assert path.read_bytes().startswith(HEADERS[kind(target)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # personal data
    assert not list(tmp_path.glob(".*.partial"))

    # Afterwards: an answer, a new staff member, a deleted queue and an edited question.
    assert cli("answer", "GP-0001", "--text", "Xã sẽ sửa đường trong tháng 8.", env=target).returncode == 0
    assert cli("staff", "add", "--role", "secretariat", "--login", "lan", env=target).returncode == 0
    await execute(url, "DELETE FROM outbox", "UPDATE submission SET question = 'changed'")
    changed = await snapshot(url)
    assert {n for n in backed_up if changed[n] != backed_up[n]} >= {"submission", "staff", "outbox", "audit_log"}

    declined = cli("restore", str(path), env=target, stdin="n\n")
    assert declined.returncode == 1 and "Thay TOÀN BỘ dữ liệu trong" in declined.stdout
    assert await snapshot(url) == changed

    result = cli("restore", str(path), "--yes", env=target)
    assert result.returncode == 0, result.stderr
    assert f"Đã khôi phục {path} vào" in result.stdout and "db upgrade" not in result.stdout
    assert await snapshot(url) == backed_up

    # The restored database goes on as before: the next registration gets the next id and code.
    db = Database(url)
    try:
        chat = CoreChat(Conversation(db), user_id="1002")
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(name="Trần Thị Bình")
    finally:
        await db.dispose()
    listing = cli("submissions", "list", env=target).stdout
    assert "GP-0001" in listing and "GP-0002" in listing and "Trần Thị Bình" in listing


async def test_signed_in_sessions_are_left_out_so_a_restore_brings_back_no_ended_session(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    await registered(target, plan)
    assert cli("staff", "add", "--role", "secretariat", "--login", "lan", env=target).returncode == 0
    await execute(url, "INSERT INTO web_session (id, staff_id, created_at, last_seen_at, expires_at) "
                       "SELECT 'a-session', id, '2026-06-01 08:00:00', '2026-06-01 08:00:00', '2099-06-01 16:00:00' FROM staff")
    path = tmp_path / "nightly.backup"
    backup(target, path)
    assert len((await snapshot(url))["web_session"]) == 1  # the live database keeps its sessions
    assert cli("restore", str(path), "--yes", env=target).returncode == 0
    restored = await snapshot(url)
    assert restored["web_session"] == [] and len(restored["staff"]) == 1


async def test_backup_refuses_to_overwrite_a_file_unless_forced(target, tmp_path):
    assert cli("db", "upgrade", env=target).returncode == 0
    path = tmp_path / "existing.backup"
    path.write_bytes(b"last week's backup")
    refused(cli("backup", str(path), env=target), f"{path} đã có: thêm --force để ghi đè")
    assert path.read_bytes() == b"last week's backup"
    refused(cli("backup", str(tmp_path / "no-such-dir" / "x.backup"), env=target), "không có thư mục")
    refused(cli("backup", str(tmp_path), env=target), "là thư mục")
    if kind(target) == "sqlite":
        refused(cli("backup", make_url(target["DOITHOAI_DATABASE_URL"]).database, "--force", env=target), "chính là cơ sở dữ liệu")
    backup(target, path, "--force")
    assert path.read_bytes().startswith(HEADERS[kind(target)])
    assert not list(tmp_path.glob(".*.partial"))


async def test_backup_refuses_a_database_without_the_schema(target, tmp_path):
    result = cli("backup", str(tmp_path / "x.backup"), env=target)
    refused(result, "không có gì để sao lưu")
    assert not (tmp_path / "x.backup").exists()


async def test_restore_refuses_garbage_a_damaged_file_and_the_other_kind_and_changes_nothing(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    await registered(target, plan)
    good = tmp_path / "good.backup"
    backup(target, good)
    before = await snapshot(url)

    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(b"\x00\x01 not a backup " * 1000)
    other = tmp_path / "other.backup"
    if kind(target) == "sqlite":
        other.write_bytes(b"PGDMP" + bytes(range(256)) * 40)
        mismatch = "là bản sao lưu PostgreSQL, nhưng cơ sở dữ liệu đang cấu hình (DOITHOAI_DATABASE_URL) là SQLite"
    else:
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        mismatch = "là bản sao lưu SQLite, nhưng cơ sở dữ liệu đang cấu hình (DOITHOAI_DATABASE_URL) là PostgreSQL"
    damaged = tmp_path / "damaged.backup"
    data = good.read_bytes()
    damaged.write_bytes(data[: len(data) * 3 // 4])  # a copy cut short
    empty = tmp_path / "empty.backup"
    empty.write_bytes(b"")

    refused(cli("restore", str(garbage), "--yes", env=target), "không phải bản sao lưu của doithoai (không phải SQLite, cũng không phải bản pg_dump)")
    refused(cli("restore", str(empty), "--yes", env=target), "không phải bản sao lưu của doithoai")
    refused(cli("restore", str(other), "--yes", env=target), mismatch)
    refused(cli("restore", str(damaged), "--yes", env=target), str(damaged))
    refused(cli("restore", str(tmp_path / "missing.backup"), "--yes", env=target), "không đọc được")
    # Without --yes the checks come before the question.
    result = cli("restore", str(garbage), env=target, stdin="y\n")
    assert result.returncode == 1 and "Thay TOÀN BỘ" not in result.stdout
    assert await snapshot(url) == before
    assert not list(tmp_path.glob(".*.partial"))


async def test_restore_refuses_a_database_in_use(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    await registered(target, plan)
    path = tmp_path / "x.backup"
    backup(target, path)
    await execute(url, "DELETE FROM outbox")
    changed = await snapshot(url)
    running = Database(url)  # a bot, with a connection in its pool
    try:
        async with running.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT count(*) FROM submission")
        refused(cli("restore", str(path), "--yes", env=target), "đang được")
        assert await snapshot(url) == changed
    finally:
        await running.dispose()
    assert cli("restore", str(path), "--yes", env=target).returncode == 0
    assert await snapshot(url) != changed


async def test_an_older_backup_is_restored_and_the_operator_told_to_upgrade(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    previous = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    upgrade(url, previous)
    old = tmp_path / "old.backup"
    result = cli("backup", str(old), env=target)
    assert result.returncode == 0 and f"phiên bản lược đồ {previous}" in result.stdout

    if kind(target) == "postgresql":
        # Restored into an empty database (as on a new server): the database must exist, nothing more.
        fresh = pg.create(migrated=False)
        try:
            env = {**target, "DOITHOAI_DATABASE_URL": pg.url(fresh)}
            await restored_older(env, old, previous)
        finally:
            pg.drop(fresh)
    else:
        assert cli("db", "upgrade", env=target).returncode == 0
        await restored_older(target, old, previous)


async def restored_older(env: dict, old: Path, previous: str) -> None:
    result = cli("restore", str(old), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert f"phiên bản lược đồ {previous}" in result.stdout
    assert f"cũ hơn phần mềm ({head_revision()}): xin chạy `doithoai db upgrade`" in result.stdout
    refused(cli("meeting", "list", env=env), "xin chạy `doithoai db upgrade`")
    assert cli("db", "upgrade", env=env).returncode == 0
    assert cli("meeting", "list", env=env).returncode == 0


async def test_a_backup_from_a_newer_doithoai_is_refused(target, plan, tmp_path):
    url = target["DOITHOAI_DATABASE_URL"]
    await registered(target, plan)
    await execute(url, "UPDATE alembic_version SET version_num = 'f00dcafe9999'")
    path = tmp_path / "newer.backup"
    backup(target, path)
    await execute(url, f"UPDATE alembic_version SET version_num = '{head_revision()}'", "DELETE FROM outbox")
    before = await snapshot(url)
    refused(cli("restore", str(path), "--yes", env=target), "có phiên bản lược đồ f00dcafe9999 do bản doithoai mới hơn tạo ra")
    assert await snapshot(url) == before


# --- PostgreSQL only: the tools and the server ----------------------------------------------


@pytest.fixture
def pg_target(tmp_path: Path):
    name = pg.create()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    env["DOITHOAI_DATABASE_URL"] = pg.url(name)
    try:
        yield env
    finally:
        pg.drop(name)


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(0o755)


def test_pg_dump_missing_or_older_than_the_server_is_named(pg_target, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {**pg_target, "PATH": str(bin_dir)}
    refused(cli("backup", str(tmp_path / "x.backup"), env=env), "chưa cài pg_dump (hoặc không có trong PATH): xin cài bộ công cụ PostgreSQL")
    fake_tool(bin_dir, "pg_dump", 'echo "pg_dump (PostgreSQL) 9.6.24"\n')
    refused(cli("backup", str(tmp_path / "x.backup"), env=env), "pg_dump 9 cũ hơn máy chủ (PostgreSQL ")
    assert not (tmp_path / "x.backup").exists()
    archive = tmp_path / "archive.backup"
    archive.write_bytes(b"PGDMP" + bytes(100))
    refused(cli("restore", str(archive), "--yes", env=env), "chưa cài pg_restore (hoặc không có trong PATH)")


def test_the_password_goes_to_the_tools_in_the_environment_and_is_never_shown(pg_target, tmp_path, plan):
    secret = "s3cret-Pa55"
    url = make_url(pg_target["DOITHOAI_DATABASE_URL"]).set(password=secret).render_as_string(hide_password=False)
    bin_dir = tmp_path / "bin"
    for tool in ("pg_dump", "pg_restore"):
        real = Path("/usr/bin") / tool
        fake_tool(bin_dir, tool, f'echo "$@" >> {tmp_path}/argv\necho "$PGPASSWORD" >> {tmp_path}/env\nexec {real} "$@"\n')
    env = {**pg_target, "DOITHOAI_DATABASE_URL": url, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    assert cli("meeting", "load", str(plan), env=env).returncode == 0
    path = tmp_path / "x.backup"
    results = [cli("backup", str(path), env=env), cli("restore", str(path), "--yes", env=env)]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    missing = {**env, "DOITHOAI_DATABASE_URL": url.rsplit("/", 1)[0] + "/doithoai_no_such_database"}
    results.append(cli("restore", str(path), "--yes", env=missing))
    refused(results[-1], 'database "doithoai_no_such_database" does not exist (cơ sở dữ liệu phải có sẵn: tạo bằng quyền superuser')
    assert "createdb -O postgres doithoai_no_such_database" in results[-1].stderr
    assert all(secret not in r.stdout + r.stderr for r in results)
    assert "postgres:***@" in results[1].stdout
    argv = (tmp_path / "argv").read_text()
    assert "--dbname=postgresql://postgres@" in argv and secret not in argv
    assert set((tmp_path / "env").read_text().split()) == {secret}


async def test_restore_refuses_a_database_with_tables_the_backup_lacks(pg_target, plan, tmp_path):
    url = pg_target["DOITHOAI_DATABASE_URL"]
    assert cli("meeting", "load", str(plan), env=pg_target).returncode == 0
    path = tmp_path / "x.backup"
    backup(pg_target, path)
    await execute(url, "CREATE TABLE later_feature (id integer PRIMARY KEY, submission_id integer REFERENCES submission (id))")
    before = await snapshot(url)
    result = cli("restore", str(path), "--yes", env=pg_target)
    refused(result, "có bảng mà bản sao lưu không có (public.later_feature)")
    assert "khôi phục vào cơ sở dữ liệu trống" in result.stderr
    assert await snapshot(url) == before
