"""The secretariat's web console over HTTP: sign-in and lock-out, CSRF, every refusal by role
leaving the database as it was, filters and paging, and each action going through its service."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from httpx import ASGITransport, AsyncClient
from itsdangerous import TimestampSigner
from openpyxl import load_workbook

from bot.conversation.engine import Conversation
from bot.entrypoints.web.app import SESSION_COOKIE, create_app
from bot.services.secretariat import classify
from bot.services.staff import AUDIT_TARGET_MAX, OPERATOR, add_staff, remove_staff, set_password
from bot.text.catalogue import catalogue
from storage.models import AuditEntry, Meeting, Outbox, Resident, Staff, Submission, WebSession, utcnow
from storage.uow import UnitOfWork
from tests.conftest import plan_text, rows
from tests.support.core_chat import CoreChat

PASSWORD = "mat-khau-rat-dai-2026"
SECRET = "khoa-bi-mat-cua-phien-lam-viec-2026"
TEMPLATES = Path(__file__).resolve().parents[2] / "bot" / "entrypoints" / "web" / "templates"

NAMES = {"1": "Nguyễn Văn An", "2": "Trần Thị Bình", "3": "Lê Văn Cường", "4": "Phạm Thị Dung", "5": "Hoàng Văn Em"}
# user, village, topic (a button's start), question, speaks at the meeting
QUESTIONS = [
    ("1", "Thôn Phong Lâm", "Môi trường", "Đường liên thôn Phong Lâm xuống cấp nghiêm trọng, khi nào được sửa chữa?", True),
    ("2", "Thôn Văn Lâm", "Môi trường", "Khi nào đường liên thôn Phong Lâm xuống cấp được sửa chữa?", False),
    ("3", "Thôn Lai Hà", "Kinh tế", "Đề nghị hỗ trợ giống lúa cho vụ mùa năm nay.", True),
    ("4", "Thôn Lai Hà", "Vấn đề khác", "Đề nghị lắp thêm đèn chiếu sáng ở ngõ xóm.", False),
    ("5", "Thôn Văn Lâm", "Chủ trương", "Chế độ bảo hiểm y tế cho người cao tuổi được thực hiện thế nào?", True),
]
STAFF = {
    "vanphong": dict(name="Văn phòng Đảng ủy", role="secretariat"),
    "kinhte": dict(name="Phòng Kinh tế", role="department", department="Phòng Kinh tế"),
    "vanhoa": dict(name="Phòng Văn hóa - Xã hội", role="department", department="Phòng Văn hóa - Xã hội"),
    "truongthon": dict(name="Trưởng thôn Lai Hà", role="village_head", villages=["Thôn Lai Hà"]),
}


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


async def populate(db) -> None:
    """Five residents' questions, four staff with passwords, GP-0001 assigned to Phòng Kinh tế."""
    conv = Conversation(db)
    for user, village, topic, question, speak in QUESTIONS:
        chat = CoreChat(conv, user_id=user)
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(name=NAMES[user], village=village, topic=topic, question=question, speak=speak)
    async with UnitOfWork(db) as uow:
        for login, kw in STAFF.items():
            await add_staff(uow, login=login, actor=OPERATOR, now=utcnow(), **kw)
            await set_password(uow, login, PASSWORD, actor=OPERATOR, now=utcnow())
        await classify(uow, OPERATOR, "GP-0001", department="Phòng Kinh tế", now=utcnow())
        await uow.commit()


@pytest.fixture
async def world(meeting_db):
    await populate(meeting_db)
    return meeting_db


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(world, clock):
    return create_app(world, secret_key=SECRET, clock=clock, page_size=2)


def client_for(app) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://console.test")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def sign_in(client: AsyncClient, login: str, password: str = PASSWORD):
    page = await client.get("/login")
    return await client.post("/login", data={"csrf": csrf_of(page.text), "login": login, "password": password, "next": "/"})


@pytest.fixture
async def as_staff(app):
    """Signed-in clients by login, each with its CSRF token."""
    opened = []

    async def open_as(login: str) -> tuple[AsyncClient, str]:
        client = client_for(app)
        opened.append(client)
        response = await sign_in(client, login)
        assert response.status_code == 303, response.text
        return client, csrf_of((await client.get("/secretariat-only")).text)

    yield open_as
    for client in opened:
        await client.aclose()


async def snapshot(db):
    """Everything an action could change: submissions, meetings, the audit log, the outbox, staff."""
    subs = [
        (s.ref, s.topic_id, s.department, s.status, s.answer, s.answered_by, s.forwarded_to, s.expected_by, s.duplicate_of_id,
         s.answer_revision, s.delivered_revision)
        for s in await rows(db, Submission)
    ]
    meetings = [(m.code, m.venue, m.concluded_at, m.conclusion_summary, m.updated_at) for m in await rows(db, Meeting)]
    # Signing in and refusals are audited too; compared here is what the refused action itself could change.
    audit = [(e.id, e.actor, e.action, e.target) for e in await rows(db, AuditEntry) if not e.action.startswith("login") and e.action != "refused"]
    outbox = [(o.key, o.status) for o in await rows(db, Outbox)]
    # Sorted: every sign-in rewrites its staff row, which moves it in PostgreSQL's unordered scan.
    staff = sorted((s.login, s.failed_logins, s.locked_until, s.password_hash) for s in await rows(db, Staff))
    return subs, meetings, audit, outbox, staff


def refs_on(html: str) -> list[str]:
    return re.findall(r'<tr data-ref="([^"]+)"', html)


async def village_id(db, name: str) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return (await uow.staff.villages_named(name))[0].id


async def topic_id(db, start: str) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        return next(t.id for t in await uow.meetings.topics(meeting.id) if t.name.startswith(start))


async def submission(db, ref: str) -> Submission:
    return next(s for s in await rows(db, Submission) if s.ref == ref)


PAGES = ["/", "/meetings", "/submissions", "/submissions/GP-0001", "/stats", "/outbox", "/meetings/GP-2026/publish",
         "/meetings/GP-2026/announce", "/meetings/GP-2026/answers.xlsx", "/meetings/GP-2026/report.docx"]
CONSOLE_PAGES = [p for p in PAGES if p != "/"]


def actions(plan: str) -> list[tuple[str, dict, dict | None]]:
    """Every POST the console has that changes something, with a plausible form."""
    return [
        ("/submissions/GP-0003/answer", {"mode": "answer", "text": "Xã hỗ trợ 50% giống lúa.", "by": "UBND xã"}, None),
        ("/submissions/GP-0003/answer", {"mode": "forward", "forward_to": "UBND tỉnh", "expected_by": "15/07/2026", "text": ""}, None),
        ("/submissions/GP-0003/classify", {"topic": "", "department": "Phòng Kinh tế"}, None),
        ("/submissions/GP-0001/classify", {"department": "Phòng Văn hóa - Xã hội"}, None),
        ("/submissions/GP-0002/duplicate", {"original": "GP-0001"}, None),
        ("/meetings/GP-2026/publish", {"allow_unanswered": "1", "force": "1", "summary": "Tóm tắt kết luận."}, None),
        ("/meetings/GP-2026/announce", {"text": "Kính mời bà con dự hội nghị."}, None),
        ("/meetings/plan", {}, {"plan": ("plan.toml", plan.replace("Hội trường Nhà Văn hoá", "Sân vận động").encode(), "text/plain")}),
    ]


async def post(client: AsyncClient, path: str, data: dict, files: dict | None, csrf: str | None):
    form = dict(data)
    if csrf is not None:
        form["csrf"] = csrf
    return await client.post(path, data=form, files=files)


# ------------------------------------------------------------------ sign-in


async def test_sign_in_and_out(app, world):
    async with client_for(app) as client:
        first = await client.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/login"
        page = await client.get("/login")
        assert page.status_code == 200 and "Đăng nhập" in page.text and 'lang="vi"' in page.text
        wrong = await sign_in(client, "vanphong", "mat-khau-sai-roi")
        assert wrong.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đang tạm khóa." in wrong.text
        unknown = await sign_in(client, "khong-co-ai", PASSWORD)
        assert unknown.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đang tạm khóa." in unknown.text
        ok = await sign_in(client, "VanPhong ")  # logins are not case-sensitive
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        home = await client.get("/")
        assert home.headers["location"] == "/submissions"
        listing = await client.get("/submissions")
        assert listing.status_code == 200 and "Văn phòng Đảng ủy" in listing.text and "Ban Thư ký" in listing.text
        assert listing.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in listing.headers["content-security-policy"]
        out = await client.post("/logout", data={"csrf": csrf_of(listing.text)})
        assert out.status_code == 303
        again = await client.get("/submissions?village=3")
        assert again.status_code == 303 and again.headers["location"] == "/login?next=%2Fsubmissions%3Fvillage%3D3"


async def test_sign_in_goes_back_to_the_page_asked_for_and_nowhere_else(app, world):
    async with client_for(app) as client:
        page = await client.get("/login?next=/stats")
        assert 'name="next" value="/stats"' in page.text
        response = await client.post("/login", data={"csrf": csrf_of(page.text), "login": "vanphong", "password": PASSWORD, "next": "/stats"})
        assert response.headers["location"] == "/stats"
    async with client_for(app) as client:
        page = await client.get("/login")
        response = await client.post("/login", data={"csrf": csrf_of(page.text), "login": "vanphong", "password": PASSWORD,
                                                     "next": "//evil.example/x"})
        assert response.headers["location"] == "/"


async def test_five_wrong_passwords_lock_the_account_for_a_while(app, world, clock):
    async with client_for(app) as client:
        for _ in range(5):
            response = await sign_in(client, "vanphong", "doan-sai-mat-khau")
            assert response.status_code == 401
        [staff] = [s for s in await rows(world, Staff) if s.login == "vanphong"]
        assert staff.locked_until is not None and staff.locked_until > clock.now
        locked = await sign_in(client, "vanphong")  # the right password, but locked
        assert locked.status_code == 401 and "tài khoản đang tạm khóa" in locked.text
        assert (await client.get("/submissions")).status_code == 303
        clock.now += timedelta(minutes=16)
        assert (await sign_in(client, "vanphong")).status_code == 303
        assert (await client.get("/submissions")).status_code == 200
    signins = [(e.action, (e.after or {}).get("reason")) for e in await rows(world, AuditEntry) if e.target == "login vanphong"]
    assert signins == [("login.refused", "wrong password")] * 4 + [("login.refused", "wrong password; locked"),
                                                                    ("login.refused", "locked"), ("login", None)]


async def test_a_new_password_ends_the_sessions_opened_with_the_old_one(app, world, as_staff):
    client, _ = await as_staff("vanphong")
    assert (await client.get("/submissions")).status_code == 200
    async with UnitOfWork(world) as uow:
        await set_password(uow, "vanphong", "mot-mat-khau-moi-2026", actor=OPERATOR, now=utcnow())
        await uow.commit()
    assert (await client.get("/submissions")).status_code == 303


async def test_thirty_wrong_passwords_at_once_lock_the_account(app, world, clock):
    async with client_for(app) as client:
        csrf = csrf_of((await client.get("/login")).text)
        form = {"csrf": csrf, "login": "vanphong", "password": "doan-sai-mat-khau", "next": "/"}
        answers = await asyncio.gather(*(client.post("/login", data=form) for _ in range(30)))
        assert [a.status_code for a in answers] == [401] * 30
        locked = await sign_in(client, "vanphong")  # the right password, but locked
        assert locked.status_code == 401 and "tài khoản đang tạm khóa" in locked.text
    [staff] = [s for s in await rows(world, Staff) if s.login == "vanphong"]
    assert staff.locked_until == clock.now + timedelta(minutes=15)
    checked = [e for e in await rows(world, AuditEntry) if e.target == "login vanphong" and "wrong password" in e.after["reason"]]
    assert len(checked) == 5  # the other 25 and the right password were refused without checking


async def test_a_copied_cookie_stops_working_at_logout_a_new_password_and_removal(app, world, clock):
    async def signed_in_pair(password: str = PASSWORD) -> tuple[AsyncClient, AsyncClient]:
        """A signed-in browser, and a second one holding a copy of its cookie."""
        client = client_for(app)
        assert (await sign_in(client, "vanphong", password)).status_code == 303
        copy = client_for(app)
        copy.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
        assert (await copy.get("/submissions")).status_code == 200
        return client, copy

    def refused(response) -> bool:
        return response.status_code == 303 and response.headers["location"].startswith("/login")

    client, copy = await signed_in_pair()
    other, _ = await signed_in_pair()  # the same person in another browser
    listing = await client.get("/submissions")
    assert (await client.post("/logout", data={"csrf": csrf_of(listing.text)})).status_code == 303
    assert refused(await copy.get("/submissions"))
    assert refused(await client.get("/submissions"))
    assert (await other.get("/submissions")).status_code == 200  # logging out ends that session only

    client, copy = await signed_in_pair()
    async with UnitOfWork(world) as uow:
        await set_password(uow, "vanphong", "mot-mat-khau-moi-2026", actor=OPERATOR, now=utcnow())
        await uow.commit()
    assert refused(await copy.get("/submissions")) and refused(await other.get("/submissions"))

    client, copy = await signed_in_pair("mot-mat-khau-moi-2026")
    async with UnitOfWork(world) as uow:
        await remove_staff(uow, "vanphong", actor=OPERATOR, now=utcnow())
        await uow.commit()
    assert refused(await copy.get("/submissions")) and refused(await client.get("/submissions"))
    assert [s for s in await rows(world, WebSession) if s.staff_id == 1] == []
    for c in (client, copy, other):
        await c.aclose()


async def test_a_session_ends_after_eight_idle_hours(app, world, as_staff, clock):
    client, _ = await as_staff("vanphong")
    for _ in range(3):  # in use all day and into the evening: still signed in
        clock.now += timedelta(hours=7)
        assert (await client.get("/submissions")).status_code == 200
    clock.now += timedelta(hours=8, minutes=1)
    response = await client.get("/submissions")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_the_cookie_is_secure_when_the_console_is_served_over_https(world, clock):
    plain = create_app(world, secret_key=SECRET, clock=clock)
    forced = create_app(world, secret_key=SECRET, clock=clock, https_only=True)  # DOITHOAI_WEB_HTTPS
    for app, base, secure in ((plain, "http://console.test", False), (plain, "https://console.test", True),
                              (forced, "http://console.test", True)):
        async with AsyncClient(transport=ASGITransport(app=app), base_url=base) as client:
            page = await client.get("/login")
            responses = [page]
            if base.startswith("https"):  # over plain HTTP a browser would not send a Secure cookie back
                ok = await client.post("/login", data={"csrf": csrf_of(page.text), "login": "vanphong", "password": PASSWORD, "next": "/"})
                assert ok.status_code == 303
                responses.append(ok)
            for response in responses:
                attributes = [a.strip().lower() for a in response.headers["set-cookie"].split(";")[1:]]
                assert ("secure" in attributes) == secure, (base, attributes)
                assert "httponly" in attributes


async def test_a_flood_of_anonymous_refusals_costs_a_row_a_minute(app, world, clock):
    before = len(await rows(world, AuditEntry))
    path = "/submissions/" + "A" * 4000 + "/answer"
    async with client_for(app) as client:
        assert (await client.post(path, data={"text": "x"})).status_code == 403
        for _ in range(13):  # the rest at once, 38 at a time
            answers = await asyncio.gather(*(client.post(path, data={"text": "x"}) for _ in range(38)))
            assert {a.status_code for a in answers} == {403}
        for _ in range(3):  # unknown logins: counted, the login typed never kept
            assert (await sign_in(client, "ai-do-" + "x" * 50, PASSWORD)).status_code == 401
        clock.now += timedelta(minutes=1)
        assert (await client.post(path, data={})).status_code == 403
    added = (await rows(world, AuditEntry))[before:]
    counts = sorted((e.action, e.target, e.after["count"]) for e in added)
    assert counts == [("login.refused", "login (unknown)", 3), ("refused", "anonymous requests (csrf)", 1),
                      ("refused", "anonymous requests (csrf)", 495)]
    for e in added:
        assert e.actor == "web:anonymous" and "ai-do" not in json.dumps(e.after)
        assert len(e.target) <= AUDIT_TARGET_MAX and len(json.dumps(e.after)) < 400


# ------------------------------------------------------------------ refusals leave everything as it was


async def test_every_page_needs_sign_in_and_a_forged_cookie_is_no_session(app, world):
    forged = TimestampSigner("a-key-that-is-not-the-console-key").sign(base64.b64encode(json.dumps({"staff": 1}).encode())).decode()
    for cookies in ({}, {SESSION_COOKIE: forged}):
        async with client_for(app) as client:
            client.cookies.update(cookies)
            for page in PAGES:
                response = await client.get(page)
                assert response.status_code == 303 and response.headers["location"].startswith("/login"), page


async def test_signed_out_posts_are_refused_and_change_nothing(app, world):
    before = await snapshot(world)
    forged = TimestampSigner("a-key-that-is-not-the-console-key").sign(
        base64.b64encode(json.dumps({"staff": 1, "csrf": "abc"}).encode())).decode()
    async with client_for(app) as client:
        for path, data, files in actions(plan_text()):
            response = await post(client, path, data, files, None)
            assert response.status_code == 403, path
        client.cookies.set(SESSION_COOKIE, forged)
        for path, data, files in actions(plan_text()):
            response = await post(client, path, data, files, "abc")
            assert response.status_code == 403, path
        client.cookies.clear()
        # A session with a token but nobody signed in: sent to the sign-in form, nothing done.
        csrf = csrf_of((await client.get("/login")).text)
        for path, data, files in actions(plan_text()):
            response = await post(client, path, data, files, csrf)
            assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert await snapshot(world) == before


async def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    other, other_csrf = await as_staff("vanphong")  # another session's token is a wrong token too
    before = await snapshot(world)
    for path, data, files in actions(plan_text()):
        for token in (None, "", "sai-" + csrf, other_csrf):
            response = await post(client, path, data, files, token)
            assert response.status_code == 403, (path, token)
            assert "Biểu mẫu đã hết hạn" in response.text
    assert (await client.post("/logout", data={})).status_code == 403
    assert (await client.get("/submissions")).status_code == 200  # still signed in
    async with client_for(app) as fresh:
        await fresh.get("/login")
        response = await fresh.post("/login", data={"login": "vanphong", "password": "doan-sai-mat-khau"})
        assert response.status_code == 403  # and it did not count as a failed login
    assert await snapshot(world) == before


async def test_a_department_sees_and_answers_only_what_is_assigned_to_it(app, world, as_staff):
    client, csrf = await as_staff("kinhte")
    listing = await client.get("/submissions")
    assert refs_on(listing.text) == ["GP-0001"] and 'data-total="1"' in listing.text
    assert "Hàng đợi gửi tin" not in listing.text and "Phân loại" not in listing.text
    assert (await client.get("/submissions/GP-0001")).status_code == 200
    before = await snapshot(world)
    for page in ("/submissions/GP-0003", "/outbox", "/meetings/GP-2026/publish", "/meetings/GP-2026/announce",
                 "/meetings/GP-2026/answers.xlsx", "/meetings/GP-2026/report.docx"):
        response = await client.get(page)
        assert response.status_code == 403 and "không có quyền" in response.text, page
    for path, data, files in actions(plan_text()):
        response = await post(client, path, data, files, csrf)
        assert response.status_code == 403, path
        assert "Tài khoản này không có quyền" in response.text
    assert await snapshot(world) == before
    stats = await client.get("/stats")
    assert 'data-stat="live">1<' in stats.text

    own = await client.post("/submissions/GP-0001/answer", data={"csrf": csrf, "mode": "answer", "text": "Quý III năm nay sẽ sửa xong.", "by": ""})
    assert own.status_code == 303
    s = await submission(world, "GP-0001")
    assert (s.status, s.answer, s.answered_by) == ("answered", "Quý III năm nay sẽ sửa xong.", "Phòng Kinh tế")
    [entry] = [e for e in await rows(world, AuditEntry) if e.action == "submission.answer"]
    assert entry.actor.startswith("staff:") and entry.actor.endswith("Phòng Kinh tế")


async def test_a_village_head_is_pointed_to_telegram(app, world, as_staff):
    client, csrf = await as_staff("truongthon")
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/secretariat-only"
    page = await client.get("/secretariat-only")
    assert page.status_code == 200 and "dành cho Ban Thư ký" in page.text and "/nhapphieu" in page.text
    before = await snapshot(world)
    for path in CONSOLE_PAGES:
        response = await client.get(path)
        assert response.status_code == 403 and "Không có quyền" in response.text, path
    for path, data, files in actions(plan_text()):
        response = await post(client, path, data, files, csrf)
        assert response.status_code == 403, path
    assert await snapshot(world) == before


async def test_unknown_codes_are_404(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    for page in ("/submissions/GP-9999", "/meetings/XX-1/publish", "/meetings/XX-1/answers.xlsx", "/meetings/XX-1/report.docx", "/nowhere"):
        response = await client.get(page)
        assert response.status_code == 404 and "Không tìm thấy" in response.text, page
    response = await client.post("/submissions/GP-9999/answer", data={"csrf": csrf, "mode": "answer", "text": "x"})
    assert response.status_code == 404


# ------------------------------------------------------------------ the list: filters and paging


async def test_filters_and_paging_return_the_right_rows(app, world, as_staff):
    client, _ = await as_staff("vanphong")
    db = world

    async def refs(query: str) -> tuple[list[str], int]:
        response = await client.get("/submissions" + query)
        assert response.status_code == 200, response.text
        return refs_on(response.text), int(re.search(r'data-total="(\d+)"', response.text).group(1))

    assert await refs("") == (["GP-0001", "GP-0002"], 5)
    assert await refs("?page=2") == (["GP-0003", "GP-0004"], 5)
    assert await refs("?page=3") == (["GP-0005"], 5)
    assert await refs("?page=9") == ([], 5)
    assert await refs("?page=-1&village=abc") == (["GP-0001", "GP-0002"], 5)  # nonsense is ignored
    lai_ha = await village_id(db, "Thôn Lai Hà")
    assert await refs(f"?village={lai_ha}") == (["GP-0003", "GP-0004"], 2)
    assert await refs(f"?topic={await topic_id(db, 'Môi trường')}") == (["GP-0001", "GP-0002"], 2)
    assert await refs("?mode=written") == (["GP-0002", "GP-0004"], 2)
    assert await refs("?mode=speak&page=2") == (["GP-0005"], 3)
    assert await refs(f"?mode=written&village={lai_ha}") == (["GP-0004"], 1)
    assert await refs("?channel=telegram") == (["GP-0001", "GP-0002"], 5)
    assert await refs("?channel=paper") == ([], 0)
    assert await refs("?department=Phòng Kinh tế") == (["GP-0001"], 1)
    assert await refs("?q=giống lúa") == (["GP-0003"], 1)
    assert await refs("?q=gp-0005") == (["GP-0005"], 1)
    assert await refs("?q=Phạm Thị") == (["GP-0004"], 1)
    assert await refs("?status=answered") == ([], 0)
    async with UnitOfWork(db, readonly=True) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
    assert await refs(f"?meeting={meeting.id}&status=received&page=3") == (["GP-0005"], 5)
    assert await refs("?meeting=") == (["GP-0001", "GP-0002"], 5)
    # The pager keeps the filters.
    page = await client.get("/submissions?mode=speak&village=&q=")
    assert 'href="/submissions?meeting=' in page.text and "mode=speak&amp;page=2" in page.text
    # Answered ones are found by status.
    csrf = csrf_of(page.text)
    await client.post("/submissions/GP-0004/answer", data={"csrf": csrf, "mode": "answer", "text": "Đã lắp trong tháng 8."})
    await client.post("/submissions/GP-0005/answer", data={"csrf": csrf, "mode": "forward", "forward_to": "Bảo hiểm xã hội tỉnh",
                                                             "expected_by": "30/09/2026"})
    assert await refs("?status=answered") == (["GP-0004"], 1)
    assert await refs("?status=forwarded") == (["GP-0005"], 1)
    assert await refs("?status=received") == (["GP-0001", "GP-0002"], 3)


async def test_the_list_reads_well(app, world, as_staff):
    client, _ = await as_staff("vanphong")
    page = (await client.get("/submissions")).text
    assert "Ý kiến của Nhân dân" in page and "5 ý kiến" in page and "Trang 1/3" in page
    assert "Phát biểu trực tiếp" in page and "Trả lời bằng văn bản" in page and "Chưa trả lời" in page
    created = (await submission(world, "GP-0001")).created_at
    assert created.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M") in page


# ------------------------------------------------------------------ actions through the services


async def test_the_secretary_classifies_answers_forwards_and_merges(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    db = world
    detail = await client.get("/submissions/GP-0002")
    assert detail.status_code == 200 and 'data-similar="GP-0001"' in detail.text and "Trần Thị Bình" in detail.text

    economy = await topic_id(db, "Kinh tế")
    response = await client.post("/submissions/GP-0004/classify", data={"csrf": csrf, "topic": str(economy), "department": "Phòng Kinh tế"})
    assert response.status_code == 303 and response.headers["location"] == "/submissions/GP-0004"
    s = await submission(db, "GP-0004")
    assert (s.topic_id, s.department) == (economy, "Phòng Kinh tế")
    assert "Đã lưu phân loại của GP-0004." in (await client.get("/submissions/GP-0004")).text  # the flash, once
    assert "Đã lưu phân loại" not in (await client.get("/submissions/GP-0004")).text

    # Bad input is answered in Vietnamese and changes nothing.
    before = await snapshot(db)
    for data, message in (
        ({"mode": "answer", "text": "  "}, "Chưa có nội dung trả lời."),
        ({"mode": "forward", "forward_to": "UBND tỉnh", "expected_by": "31/02/2026"}, "không đúng dạng dd/mm/yyyy"),
        ({"mode": "forward", "forward_to": "UBND tỉnh", "expected_by": ""}, "Hãy ghi ngày dự kiến"),
        ({"mode": "forward", "forward_to": "", "expected_by": "15/07/2026"}, "Hãy ghi cơ quan nhận chuyển."),
        ({"mode": "answer", "text": "Có.", "by": "x" * 201}, "tối đa 200 ký tự"),
    ):
        response = await client.post("/submissions/GP-0003/answer", data={"csrf": csrf, **data})
        assert response.status_code == 400 and message in response.text, data
    response = await client.post("/submissions/GP-0003/duplicate", data={"csrf": csrf, "original": "GP-0003"})
    assert response.status_code == 400 and "Không thực hiện được" in response.text
    response = await client.post("/submissions/GP-0003/duplicate", data={"csrf": csrf, "original": "GP-0999"})
    assert response.status_code == 400
    assert await snapshot(db) == before

    response = await client.post("/submissions/GP-0005/answer", data={"csrf": csrf, "mode": "forward", "forward_to": "Bảo hiểm xã hội tỉnh",
                                                                      "expected_by": "30/09/2026", "text": "Đã chuyển hồ sơ."})
    assert response.status_code == 303
    s = await submission(db, "GP-0005")
    assert (s.status, s.forwarded_to, s.expected_by.isoformat(), s.answer) == ("forwarded", "Bảo hiểm xã hội tỉnh", "2026-09-30", "Đã chuyển hồ sơ.")
    assert "30/09/2026" in (await client.get("/submissions/GP-0005")).text

    response = await client.post("/submissions/GP-0002/duplicate", data={"csrf": csrf, "original": "GP-0001"})
    assert response.status_code == 303
    page = (await client.get("/submissions/GP-0002")).text
    assert "trùng GP-0001" in page and "hãy trả lời ý kiến đó" in page and 'action="/submissions/GP-0002/answer"' not in page
    response = await client.post("/submissions/GP-0001/answer", data={"csrf": csrf, "mode": "answer", "text": "Quý III sẽ sửa.", "by": "UBND xã"})
    assert response.status_code == 303
    assert (await submission(db, "GP-0002")).answer == "Quý III sẽ sửa."
    actions_done = [(e.action, e.target) for e in await rows(db, AuditEntry) if e.actor.startswith("staff:") and not e.action.startswith("login")]
    assert actions_done == [("submission.classify", "submission GP-0004"), ("submission.answer", "submission GP-0005"),
                            ("submission.duplicate", "submission GP-0002"), ("submission.answer", "submission GP-0001")]


async def test_publishing_shows_what_will_happen_and_refuses_unanswered_unless_allowed(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    db = world
    page = await client.get("/meetings/GP-2026/publish")
    assert page.status_code == 200 and 'data-residents="5"' in page.text
    assert all(f'data-unanswered="GP-000{n}"' in page.text for n in range(1, 6))
    before = await snapshot(db)
    refused = await client.post("/meetings/GP-2026/publish", data={"csrf": csrf, "summary": ""})
    assert refused.status_code == 409 and "Chưa công bố" in refused.text and "GP-0001" in refused.text
    not_pdf = await client.post("/meetings/GP-2026/publish", data={"csrf": csrf, "allow_unanswered": "1"},
                                files={"document": ("ket-luan.pdf", b"not a pdf", "application/pdf")})
    assert not_pdf.status_code == 400
    assert await snapshot(db) == before
    await client.post("/submissions/GP-0003/answer", data={"csrf": csrf, "mode": "answer", "text": "Xã hỗ trợ 50% giống lúa."})
    # The meeting has not been held: refused with a warning, unless staff tick the box that says so.
    assert "Hội nghị chưa diễn ra xong" in page.text and 'name="force"' in page.text
    before = await snapshot(db)
    early = await client.post("/meetings/GP-2026/publish", data={"csrf": csrf, "allow_unanswered": "1", "summary": "Sớm quá."})
    assert early.status_code == 409 and "hội nghị chưa kết thúc" in early.text
    assert await snapshot(db) == before
    done = await client.post("/meetings/GP-2026/publish", data={"csrf": csrf, "allow_unanswered": "1", "force": "1",
                                                                "summary": "Hội nghị đã ghi nhận 5 ý kiến."},
                             files={"document": ("ket-luan.pdf", b"%PDF-1.4 test", "application/pdf")})
    assert done.status_code == 303 and done.headers["location"] == "/meetings"
    [meeting] = await rows(db, Meeting)
    assert meeting.concluded_at is not None and meeting.conclusion_summary == "Hội nghị đã ghi nhận 5 ý kiến."
    listing = (await client.get("/meetings")).text
    assert "Đã công bố kết luận GP-2026: 1 câu trả lời và 5 tin kết luận" in listing and "Đã công bố kết luận ngày" in listing
    # Published: the meeting no longer says it takes registrations, whatever its deadline.
    assert "Đang nhận đăng ký" not in listing
    answers = [o for o in await rows(db, Outbox) if o.kind == "answer"]
    assert len(answers) == 5  # one answer, four "being handled"
    [entry] = [e for e in await rows(db, AuditEntry) if e.action == "meeting.publish"]
    assert entry.after["still_pending"] == ["GP-0001", "GP-0002", "GP-0004", "GP-0005"] and entry.after["early"] is True


async def test_the_meeting_notice_is_sent_once(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    page = await client.get("/meetings/GP-2026/announce")
    assert page.status_code == 200 and 'data-recipients="5"' in page.text and "Thôn Long Tràng" in page.text
    first = await client.post("/meetings/GP-2026/announce", data={"csrf": csrf, "text": ""})
    assert first.status_code == 303
    messages = len([o for o in await rows(world, Outbox) if o.kind == "notice"])
    assert messages > 5  # each resident gets the notice and its calendar file
    assert f"Đã xếp hàng thông báo hội nghị cho 5 người ({messages} tin)." in (await client.get("/meetings")).text
    queued = [o.key for o in await rows(world, Outbox) if o.kind == "notice"]
    assert len({o.chat_id for o in await rows(world, Outbox) if o.kind == "notice"}) == 5
    await client.post("/meetings/GP-2026/announce", data={"csrf": csrf, "text": ""})
    assert "Không có tin mới nào" in (await client.get("/meetings")).text
    assert [o.key for o in await rows(world, Outbox) if o.kind == "notice"] == queued
    outbox = await client.get("/outbox")
    assert outbox.status_code == 200 and "Thông báo hội nghị" in outbox.text and "Đang chờ gửi" in outbox.text
    # Loading the test's plan at the command line is audited too, as the operator's.
    assert [e.action for e in await rows(world, AuditEntry) if e.action.startswith("meeting.") and e.actor != "cli"] == [
        "meeting.announce", "meeting.announce"]


async def test_a_plan_is_uploaded_and_a_bad_one_writes_nothing(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    before = await snapshot(world)
    bad = plan_text().replace('code = "GP"', 'code = "gp"').replace("topics = [", "topicz = [")
    response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("plan.toml", bad.encode(), "text/plain")})
    assert response.status_code == 400 and "Kế hoạch có lỗi, chưa lưu gì" in response.text and "commune.code" in response.text
    response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("plan.toml", b"\xff\xfe", "text/plain")})
    assert response.status_code == 400 and "UTF-8" in response.text
    assert await snapshot(world) == before
    moved = plan_text().replace("Hội trường Nhà Văn hoá trung tâm xã Gia Phúc", "Sân vận động xã Gia Phúc")
    # The venue changes and five residents are registered: first a confirmation that says so, nothing written.
    response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("plan.toml", moved.encode(), "text/plain")})
    assert response.status_code == 200 and 'data-residents="5"' in response.text and "5 người đã đăng ký sẽ nhận tin báo" in response.text
    assert await snapshot(world) == before
    confirm = {"csrf": csrf, "confirm": "1", "filename": "plan.toml", "plan_text": moved}
    response = await client.post("/meetings/plan", data=confirm)
    assert response.status_code == 303
    changes = [o for o in await rows(world, Outbox) if o.kind == "change"]
    assert len({o.chat_id for o in changes}) == 5
    page = (await client.get("/meetings")).text
    assert "Đã cập nhật hội nghị GP-2026." in page and "Sân vận động xã Gia Phúc" in page and "Đang nhận đăng ký" in page
    assert f"Đã báo thay đổi thời gian hoặc địa điểm cho 5 người đã đăng ký ({len(changes)} tin" in page
    new = plan_text(code="GP-2027")
    assert (await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("p.toml", new.encode(), "text/plain")})).status_code == 303
    assert "Đã tạo hội nghị GP-2027." in (await client.get("/meetings")).text
    assert [e.target for e in await rows(world, AuditEntry) if e.action == "meeting.plan" and e.actor != "cli"] == [
        "meeting GP-2026", "meeting GP-2027"]


async def test_exports_are_the_services_files(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    await client.post("/submissions/GP-0003/answer", data={"csrf": csrf, "mode": "answer", "text": "Xã hỗ trợ 50% giống lúa.", "by": "UBND xã"})
    sheet = await client.get("/meetings/GP-2026/answers.xlsx")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert sheet.headers["content-disposition"] == 'attachment; filename="GP-2026-tra-loi.xlsx"'
    ws = load_workbook(io.BytesIO(sheet.content)).active
    table = list(ws.iter_rows(values_only=True))
    assert [r[0] for r in table[1:]] == ["GP-0001", "GP-0002", "GP-0003", "GP-0004", "GP-0005"]
    assert table[3][7] == "Xã hỗ trợ 50% giống lúa."
    report = await client.get("/meetings/GP-2026/report.docx")  # before the meeting: by topic
    assert report.status_code == 200 and "bao-cao-theo-linh-vuc" in report.headers["content-disposition"]
    text = "\n".join(p.text for p in Document(io.BytesIO(report.content)).paragraphs)
    assert "BÁO CÁO TỔNG HỢP Ý KIẾN, KIẾN NGHỊ CỦA NHÂN DÂN" in text and "GP-0005" in text
    by_answer = await client.get("/meetings/GP-2026/report.docx?grouped_by=answer")
    assert "Trả lời của UBND xã" in "\n".join(p.text for p in Document(io.BytesIO(by_answer.content)).paragraphs)
    assert [e.action for e in await rows(world, AuditEntry) if e.action.startswith("meeting.export")] == [
        "meeting.export_answers", "meeting.export_report", "meeting.export_report"]


async def test_figures_count_by_village_topic_status_mode_and_satisfaction(app, world, as_staff):
    client, csrf = await as_staff("vanphong")
    await client.post("/submissions/GP-0003/answer", data={"csrf": csrf, "mode": "answer", "text": "Xã hỗ trợ 50% giống lúa."})
    await client.post("/submissions/GP-0004/answer", data={"csrf": csrf, "mode": "answer", "text": "Đã lắp."})
    await client.post("/submissions/GP-0005/answer", data={"csrf": csrf, "mode": "forward", "forward_to": "UBND tỉnh", "expected_by": "15/07/2026"})
    await client.post("/meetings/GP-2026/publish", data={"csrf": csrf, "allow_unanswered": "1", "force": "1"})
    async with UnitOfWork(world) as uow:
        (await uow.submissions.by_ref("GP-0003")).feedback = "satisfied"
        await uow.commit()
    page = (await client.get("/stats")).text
    assert 'data-stat="live">5<' in page and 'data-stat="speak">3<' in page and 'data-stat="written">2<' in page
    assert 'data-status="answered">2<' in page and 'data-status="received">2<' in page and 'data-status="forwarded">1<' in page
    assert 'data-feedback="satisfied">1<' in page and 'data-feedback="none">2<' in page
    # A forwarded question is not an answered one: Thôn Văn Lâm's (GP-0005) is counted apart.
    def row(group: str) -> str:
        return re.search(rf'<tr data-group="{group}">(.*?)</tr>', page, re.S).group(1)

    assert 'data-answered="0"' in row("Thôn Văn Lâm") and 'data-forwarded="1"' in row("Thôn Văn Lâm")
    assert 'data-answered="2"' in row("Thôn Lai Hà") and 'data-forwarded="0"' in row("Thôn Lai Hà")
    assert re.search(r'data-group="Thôn Lai Hà">.*?data-count="2"', page) and re.search(r'data-group="Thôn Phong Lâm">.*?data-count="1"', page)
    assert re.search(r'data-group="Môi trường, hạ tầng, giao thông">.*?data-count="2"', page)
    assert "<svg" in page


# ------------------------------------------------------------------ texts


def test_the_templates_take_every_text_from_the_catalogue():
    """Keys used in templates exist in both languages, and no Vietnamese is written into a template."""
    vietnamese = re.compile("[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]", re.I)
    vi, en = catalogue("vi"), catalogue("en")
    for path in TEMPLATES.glob("*.html"):
        source = path.read_text(encoding="utf-8")
        for key in re.findall(r"""\bt\(\s*["'](web\.[a-z_.]*[a-z_])["']""", source):
            assert key in vi and key in en, (path.name, key)
        for prefix in re.findall(r"""\bt\(\s*["'](web\.[a-z_.]+\.)["']\s*~""", source):
            assert any(k.startswith(prefix) for k in vi), (path.name, prefix)
        bare = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", source, flags=re.S)
        assert not vietnamese.search(bare), (path.name, vietnamese.search(bare))
    for prefix, names in (("web.status.", ("received", "answered", "forwarded", "withdrawn")),
                          ("web.role.", ("admin", "secretariat", "department", "village_head")),
                          ("web.channel.", ("telegram", "zalo", "paper", "console")),
                          ("web.feedback.", ("satisfied", "unsatisfied", "none")),
                          ("web.outbox.state.", ("pending", "sent", "failed", "unreachable")),
                          ("web.kind.", ("reply", "answer", "summary", "document", "notice", "reminder", "change", "village_notice"))):
        for name in names:
            assert prefix + name in vi and prefix + name in en


async def test_doithoai_web_serves_the_login_page(tmp_path):
    """The command an operator runs: a separate process on a free port."""
    import asyncio
    import socket

    import httpx

    from tests.support.eventually import eventually
    from tests.support.process import command

    e = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    e["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'web.db'}"
    e["DOITHOAI_WEB_SECRET_KEY"] = "test-secret-key-for-this-run-only"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    behind = await asyncio.create_subprocess_exec(*command("web", "--port", str(port)), env=e, stderr=asyncio.subprocess.PIPE)
    _, err = await behind.communicate()
    assert behind.returncode == 1 and b"doithoai db upgrade" in err  # an old schema is refused before serving
    upgrade = await asyncio.create_subprocess_exec(*command("db", "upgrade"), env=e)
    assert await upgrade.wait() == 0
    def secure(response) -> bool:
        return "secure" in [a.strip().lower() for a in response.headers["set-cookie"].split(";")[1:]]

    for https_setting in ("", "true"):
        e["DOITHOAI_WEB_HTTPS"] = https_setting
        proc = await asyncio.create_subprocess_exec(*command("web", "--port", str(port)), env=e)
        try:
            async with httpx.AsyncClient() as client:
                async def login_page() -> httpx.Response | None:
                    try:
                        return await client.get(f"http://127.0.0.1:{port}/login")
                    except httpx.ConnectError:
                        return None  # not listening yet (the port is the previous process's, now ended)

                page = await eventually(login_page, timeout=30, what="the login page")
                assert page.status_code == 200 and "Đăng nhập" in page.text
                assert secure(page) == bool(https_setting)
                # Behind the proxy on this machine, which says the browser came over HTTPS.
                client.cookies.clear()  # a new visitor: the console sets its cookie
                proxied = await client.get(f"http://127.0.0.1:{port}/login", headers={"X-Forwarded-Proto": "https"})
                assert secure(proxied)
        finally:
            proc.terminate()
            await proc.wait()


async def test_the_secretariat_sends_a_notice_to_chosen_villages_only(world, as_staff):
    async with UnitOfWork(world, readonly=True) as uow:
        phong = (await uow.staff.villages_named("Thôn Phong Lâm"))[0]
        van = (await uow.staff.villages_named("Thôn Văn Lâm"))[0]
    client, csrf = await as_staff("vanphong")
    page = await client.get("/notices")
    assert page.status_code == 200 and "Thôn Phong Lâm" in page.text and "Thôn Long Tràng" in page.text
    before = await snapshot(world)
    refused = await client.post("/notices", data={"village": str(phong.id), "text": "Thiếu mã chống giả mạo."})
    assert refused.status_code == 403 and await snapshot(world) == before
    empty = await client.post("/notices", data={"csrf": csrf, "text": "Không chọn thôn nào cả."})
    assert empty.status_code == 400 and "Xin chọn ít nhất một thôn." in empty.text and await snapshot(world) == before
    sent = await client.post("/notices", data={"csrf": csrf, "village": [str(phong.id), str(van.id)], "text": "Mời bà con dự họp thôn tối nay."})
    assert sent.status_code == 303
    notices = [o for o in await rows(world, Outbox) if o.kind == "village_notice"]
    expected = sorted(r.chat_id for r in await rows(world, Resident) if r.village_id in (phong.id, van.id))
    assert len(expected) >= 2 and sorted(o.chat_id for o in notices) == expected  # those two villages' residents, nobody else
    assert "Mời bà con dự họp thôn tối nay." in notices[0].payload["text"]
    assert any(e.action == "village.notice" and e.actor.startswith("staff:") for e in await rows(world, AuditEntry))


async def test_departments_and_heads_cannot_send_console_notices(world, as_staff):
    async with UnitOfWork(world, readonly=True) as uow:
        lai_ha = (await uow.staff.villages_named("Thôn Lai Hà"))[0]
    before = await snapshot(world)
    for login in ("kinhte", "truongthon"):
        client, csrf = await as_staff(login)
        refused = await client.post("/notices", data={"csrf": csrf, "village": str(lai_ha.id), "text": "Thông báo không được phép."})
        assert refused.status_code == 403
    assert await snapshot(world) == before
    refusals = [(e.actor.split(":")[2], e.target) for e in await rows(world, AuditEntry) if e.action == "refused"]
    assert refusals == [("Phòng Kinh tế", "POST /notices"), ("Trưởng thôn Lai Hà", "POST /notices")]
