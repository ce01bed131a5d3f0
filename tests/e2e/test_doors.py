"""Each staff action that has two doors, a `doithoai` command and a console page, is one service:
done through either door on the same data, it leaves the same audit rows and the same rows behind.

Each scenario runs twice, on two copies of the same starting data: once as an operator types it
(the command as a separate process, on a SQLite file) and once as a secretary does it in the
console (signed in, with the CSRF token, the forms as a browser sends them). What may differ is
only what must: who acted (the operator, "cli", or the signed-in staff member) and when.
"""

from __future__ import annotations

import asyncio
import html
import io
import os
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from httpx import AsyncClient, Response
from openpyxl import load_workbook

from bot.entrypoints.web.app import create_app
from bot.services.secretariat import mark_duplicate
from bot.services.staff import OPERATOR
from storage.db import Database
from storage.models import Attachment, AuditEntry, Commune, Meeting, MeetingVillage, Outbox, Submission, Topic, Village, utcnow
from storage.uow import UnitOfWork
from tests.conftest import load, plan_text, rows
from tests.e2e.test_cli import cli
from tests.integration.test_web import SECRET, STAFF, client_for, csrf_of, populate, sign_in

PLAN = plan_text()  # the starting data's plan; a reload changes this very text
SECRETARY = "vanphong"  # who signs in to the console (tests/integration/test_web.py's staff)

# What the doors' actions can change, and the columns of it that say when (which must differ).
EFFECTS = (Commune, Village, MeetingVillage, Topic, Meeting, Submission, Outbox, Attachment)
WHEN = frozenset({"created_at", "updated_at", "concluded_at", "withdrawn_at", "answered_at", "feedback_at", "next_attempt_at",
                  "claimed_until", "sent_at"})
CHANGE_STAMP = re.compile(r"^(change:[^:]+:)\d{8}T\d{6}(?=:)")  # tell_change's keys carry when the plan was loaded
DTSTAMP = re.compile(rb"DTSTAMP:\d{8}T\d{6}Z")  # a calendar file says when it was made


# ------------------------------------------------------------------ the same action at each door


ConsoleRequest = Callable[[AsyncClient, str], Awaitable[Response]]


@dataclass(frozen=True)
class Step:
    """One action: the command an operator types, and what a secretary does in the console."""

    command: tuple[str, ...]
    request: ConsoleRequest
    status: int = 303  # the console's answer when the action went through
    sheet: Path | None = None  # the file the command writes, which the console sends as its response


def as_a_browser_sends(form: dict[str, str]) -> dict[str, str]:
    """A browser sends every line break in a form as CRLF (HTML's form submission); a terminal gives LF."""
    return {name: value.replace("\r\n", "\n").replace("\n", "\r\n") for name, value in form.items()}


def post(path: str, form: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None = None) -> ConsoleRequest:
    async def request(client: AsyncClient, csrf: str) -> Response:
        return await client.post(path, data=as_a_browser_sends({"csrf": csrf, **form}), files=files)

    return request


def get(path: str) -> ConsoleRequest:
    async def request(client: AsyncClient, csrf: str) -> Response:
        return await client.get(path)

    return request


def upload_plan(plan: Path) -> ConsoleRequest:
    """Upload the plan; when residents would be told of a change, confirm it as the page asks."""

    async def request(client: AsyncClient, csrf: str) -> Response:
        response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": (plan.name, plan.read_bytes(), "application/toml")})
        if response.status_code != 200 or 'name="confirm"' not in response.text:
            return response
        text = re.search(r'<textarea name="plan_text" hidden>(.*?)</textarea>', response.text, re.S)
        filename = re.search(r'name="filename" value="([^"]*)"', response.text)
        assert text and filename, response.text[:2000]
        # What the browser sends back: the textarea's text (HTML drops its first line break) and the hidden fields.
        form = {"confirm": "1", "filename": html.unescape(filename.group(1)), "plan_text": html.unescape(text.group(1)).removeprefix("\n")}
        return await post("/meetings/plan", form)(client, csrf)

    return request


def paper(papers: Path, name: str, content: str | bytes) -> Path:
    """A file the operator has at hand, and uploads in the console."""
    path = papers / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def answering(ref: str, text: str, by: str = "") -> Step:
    command = ("answer", ref, "--text", text, *(("--by", by) if by else ()))
    return Step(command, post(f"/submissions/{ref}/answer", {"mode": "answer", "text": text, "by": by}))


def publishing(papers: Path, *, summary: str = "", document: bytes | None = None) -> Step:
    command = ["conclusion", "publish", "--meeting", "GP-2026", "--allow-unanswered", "--force"]
    upload = ("", b"", "application/octet-stream")  # a browser sends the file field even when nothing was chosen
    if summary:
        command += ["--summary-file", str(paper(papers, "tom-tat.txt", summary))]
    if document is not None:
        pdf = paper(papers, "ket-luan.pdf", document)
        command += ["--document", str(pdf)]
        upload = (pdf.name, document, "application/pdf")
    form = {"summary": summary, "allow_unanswered": "1", "force": "1"}
    return Step(tuple(command), post("/meetings/GP-2026/publish", form, files={"document": upload}))


# ------------------------------------------------------------------ the scenarios


def new_meeting(papers: Path) -> list[Step]:
    plan = paper(papers, "ke-hoach-2027.toml", plan_text(code="GP-2027"))
    return [Step(("meeting", "load", str(plan)), upload_plan(plan))]


def plan_saved_by_notepad(papers: Path) -> list[Step]:
    """Windows Notepad has long saved UTF-8 with a byte order mark in front."""
    plan = paper(papers, "ke-hoach-2027.toml", "\ufeff" + plan_text(code="GP-2027"))
    return [Step(("meeting", "load", str(plan)), upload_plan(plan))]


def moved_meeting(papers: Path) -> list[Step]:
    """The venue moves (five registrants are told) and a village with questions leaves the plan (kept for them)."""
    villages = ["Thôn Phong Lâm", "Thôn Văn Lâm", "Thôn Long Tràng"]  # Thôn Lai Hà, with two questions, is dropped
    moved = plan_text(villages=villages).replace("Hội trường Nhà Văn hoá trung tâm xã Gia Phúc", "Sân vận động xã Gia Phúc")
    plan = paper(papers, "ke-hoach.toml", moved)
    return [Step(("meeting", "load", str(plan)), upload_plan(plan))]


def answer(papers: Path) -> list[Step]:
    """GP-0002 was merged into GP-0001: answering the original answers both."""
    return [answering("GP-0001", "Quý III năm nay xã sẽ sửa đường.\nKinh phí từ ngân sách xã.", by="UBND xã")]


def forward(papers: Path) -> list[Step]:
    note = "Đã chuyển hồ sơ."
    command = ("answer", "GP-0005", "--forward", "Bảo hiểm xã hội tỉnh", "--expected-by", "30/09/2026", "--text", note)
    form = {"mode": "forward", "forward_to": "Bảo hiểm xã hội tỉnh", "expected_by": "30/09/2026", "text": note}
    return [Step(command, post("/submissions/GP-0005/answer", form))]


def correction(papers: Path) -> list[Step]:
    """After publication an answer goes out at once; a changed one goes again, as a correction."""
    return [answering("GP-0003", "Xã hỗ trợ 50% giống lúa."), publishing(papers), answering("GP-0003", "Xã hỗ trợ 70% giống lúa.")]


def answers_sheet(papers: Path) -> list[Step]:
    sheet = papers / "tra-loi.xlsx"
    return [Step(("answers", "export", str(sheet), "--meeting", "GP-2026"), get("/meetings/GP-2026/answers.xlsx"), status=200, sheet=sheet)]


def notice(papers: Path) -> list[Step]:
    return [Step(("announce", "--meeting", "GP-2026"), post("/meetings/GP-2026/announce", {"text": ""}))]


def notice_with_text(papers: Path) -> list[Step]:
    text = "Kính mời bà con đến đúng giờ.\nXin mang theo phiếu đã đăng ký."
    return [Step(("announce", "--meeting", "GP-2026", "--text", text), post("/meetings/GP-2026/announce", {"text": text}))]


def conclusion(papers: Path) -> list[Step]:
    summary = "Hội nghị đã ghi nhận 5 ý kiến.\nCác ý kiến còn lại sẽ được trả lời bằng văn bản.\n"
    return [answering("GP-0003", "Xã hỗ trợ 50% giống lúa."), publishing(papers, summary=summary, document=b"%PDF-1.4 ket luan")]


def reading(papers: Path) -> list[Step]:
    """Lists and the queue: reading is not an action, at either door."""
    return [
        Step(("meeting", "list"), get("/meetings"), status=200),
        Step(("submissions", "list", "--meeting", "GP-2026"), get("/submissions"), status=200),
        Step(("outbox", "status"), get("/outbox"), status=200),
    ]


@dataclass(frozen=True)
class Scenario:
    steps: Callable[[Path], list[Step]]
    actions: list[str]  # the audit rows it leaves, oldest first


SCENARIOS = {
    "plan-new": Scenario(new_meeting, ["meeting.plan"]),
    "plan-bom": Scenario(plan_saved_by_notepad, ["meeting.plan"]),
    "plan-moved": Scenario(moved_meeting, ["meeting.plan"]),
    "answer": Scenario(answer, ["submission.answer"]),
    "forward": Scenario(forward, ["submission.answer"]),
    "correction": Scenario(correction, ["submission.answer", "meeting.publish", "submission.answer"]),
    "export": Scenario(answers_sheet, ["meeting.export_answers"]),
    "announce": Scenario(notice, ["meeting.announce"]),
    "announce-text": Scenario(notice_with_text, ["meeting.announce"]),
    "publish": Scenario(conclusion, ["submission.answer", "meeting.publish"]),
    "reading": Scenario(reading, []),
}


# ------------------------------------------------------------------ running the doors


@dataclass
class Trace:
    """What one door left: its audit rows (who, and what), the effect, and the sheets it handed out."""

    actors: set[str] = field(default_factory=set)
    audit: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    effect: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sheets: list[list[tuple[str, list[tuple]]]] = field(default_factory=list)


@pytest.fixture(scope="session")
def starting_data(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example meeting with five residents' questions (GP-0002 merged into GP-0001) and four staff with passwords."""
    path = tmp_path_factory.mktemp("doors") / "start.db"
    shutil.copyfile(sqlite_template, path)

    async def fill() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            await load(db, PLAN)
            await populate(db)
            async with UnitOfWork(db) as uow:
                await mark_duplicate(uow, OPERATOR, "GP-0002", "GP-0001", now=utcnow())
                await uow.commit()
        finally:
            await db.dispose()

    asyncio.run(fill())
    return path


def fresh_copy(start: Path, path: Path) -> str:
    with closing(sqlite3.connect(start)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)  # the whole database, whatever its write-ahead log still holds
    return f"sqlite:///{path}"


async def last_audit_id(url: str) -> int:
    db = Database(url)
    try:
        return max((e.id for e in await rows(db, AuditEntry)), default=0)
    finally:
        await db.dispose()


def plain(row: Any) -> dict[str, Any]:
    """A row as compared: when it happened masked (set or not still counts), nothing else."""
    values = row.model_dump()
    for name in WHEN & values.keys():
        if values[name] is not None:
            values[name] = "<when>"
    if isinstance(row, Outbox):
        values["key"] = CHANGE_STAMP.sub(r"\1<when>", row.key)
    if isinstance(row, Attachment) and row.mime_type == "text/calendar":
        values["data"] = DTSTAMP.sub(b"DTSTAMP:<when>", row.data)
    return values


async def trace(url: str, since: int, sheets: list[bytes]) -> Trace:
    db = Database(url)
    try:
        entries = sorted((e for e in await rows(db, AuditEntry) if e.id > since), key=lambda e: e.id)
        effect = {}
        for model in EFFECTS:
            key = [c.name for c in model.__table__.primary_key.columns]
            effect[model.__tablename__] = sorted((plain(r) for r in await rows(db, model)), key=lambda v: [v[k] for k in key])
    finally:
        await db.dispose()
    return Trace(
        actors={e.actor for e in entries},
        audit=[(e.action, e.target, e.before, e.after) for e in entries],
        effect=effect,
        sheets=[cells(data) for data in sheets],
    )


def cells(data: bytes) -> list[tuple[str, list[tuple]]]:
    book = load_workbook(io.BytesIO(data))
    return [(sheet.title, list(sheet.iter_rows(values_only=True))) for sheet in book.worksheets]


async def at_the_command_line(url: str, steps: list[Step]) -> Trace:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")} | {"DOITHOAI_DATABASE_URL": url}
    since = await last_audit_id(url)
    sheets = []
    for step in steps:
        result = cli(*step.command, env=env)
        assert result.returncode == 0, (step.command, result.stdout, result.stderr)
        if step.sheet is not None:
            sheets.append(step.sheet.read_bytes())
    return await trace(url, since, sheets)


async def in_the_console(url: str, steps: list[Step]) -> Trace:
    db = Database(url)
    sheets = []
    try:
        async with client_for(create_app(db, secret_key=SECRET)) as client:
            assert (await sign_in(client, SECRETARY)).status_code == 303
            csrf = csrf_of((await client.get("/secretariat-only")).text)
            since = await last_audit_id(url)  # signing in is the console's own business: the action starts here
            for step in steps:
                response = await step.request(client, csrf)
                assert response.status_code == step.status, (step.command, response.text[:2000])
                if step.sheet is not None:
                    sheets.append(response.content)
    finally:
        await db.dispose()
    return await trace(url, since, sheets)


# ------------------------------------------------------------------ the test


@pytest.mark.parametrize("name", SCENARIOS)
async def test_both_doors_leave_the_same_audit_rows_and_the_same_effect(name, starting_data, tmp_path):
    scenario = SCENARIOS[name]
    papers = tmp_path / "papers"
    papers.mkdir()
    steps = scenario.steps(papers)

    by_the_operator = await at_the_command_line(fresh_copy(starting_data, tmp_path / "cli.db"), steps)
    by_the_secretary = await in_the_console(fresh_copy(starting_data, tmp_path / "web.db"), steps)

    assert [action for action, *_ in by_the_operator.audit] == scenario.actions
    assert by_the_operator.actors <= {OPERATOR.label}
    assert all(re.fullmatch(rf"staff:\d+:{STAFF[SECRETARY]['name']}", actor) for actor in by_the_secretary.actors)
    assert by_the_secretary.audit == by_the_operator.audit
    assert by_the_secretary.effect == by_the_operator.effect
    assert by_the_secretary.sheets == by_the_operator.sheets
