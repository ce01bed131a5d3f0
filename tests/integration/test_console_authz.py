"""No door lets one commune's staff reach another commune's residents.

The walk goes through the console's router itself, so a route added without the services'
check fails here until it is given one; the services are then called directly, as the command
line and the bot call them, with an actor of the other commune.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from bot.domain.hall import Turn
from bot.entrypoints.web.app import create_app
from bot.services import hall, public, secretariat
from bot.services.answers import publication_preview, publish_conclusion
from bot.services.exports import record
from bot.services.exports.report import build_report
from bot.services.exports.spreadsheet import SpreadsheetError, export_answers, import_answers
from bot.services.notices import announce, announce_preview, notify_villages
from bot.services.plans import load_plan, parse_plan
from bot.services.queue import queue_counts
from bot.services.secretariat import Forbidden
from bot.services.staff import OPERATOR, Actor, actor_for, add_staff, set_password
from storage.models import AuditEntry, Outbox, utcnow
from storage.uow import UnitOfWork
from tests.conftest import load, plan_text, rows, second_commune_plan
from tests.integration.test_web import NAMES, PASSWORD, QUESTIONS, SECRET, client_for, csrf_of, populate, sign_in, snapshot

GP_REFS = [f"GP-000{n}" for n in range(1, 6)]

# Global by nature: what they show or do is the same whoever asks, and holds no commune's data.
EXEMPT = {
    "/login": "the sign-in form and sign-in itself: nobody is known yet",
    "/logout": "ends one's own session",
    "/": "only redirects to the person's own list",
    "/secretariat-only": "a fixed page pointing village heads to Telegram",
    "/account": "one's own account: who the bot knows one as, and a code to link one's own Zalo",
    "/account/zalo-code": "makes a code for one's own account only (bot/services/staff.py link_code)",
    "/static": "the stylesheet and images",
    "/cong-khai/{code}": "a meeting's public page: no sign-in, the same for everyone, and only once its conclusion is published",
    "/cong-khai/{code}/tep/{file_id}/{name}": "an answer's file the public page links: only one marked public, once published",
}
# Lists of the signed-in person's own commune: they answer, and must show nothing of another's.
OWN_COMMUNE = {"/meetings", "/submissions", "/stats", "/outbox", "/notices"}


@pytest.fixture
async def two(db):
    """Xã Gia Phúc (GP) with five residents' questions, and Xã Tân Phong (TP) with its secretariat `tanphong`."""
    await load(db, plan_text())
    await populate(db)  # while Gia Phúc is the only commune, its bot needs no commune code
    await load(db, second_commune_plan())
    async with UnitOfWork(db) as uow:
        await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", login="tanphong", commune="TP", actor=OPERATOR, now=utcnow())
        await set_password(uow, "tanphong", PASSWORD, actor=OPERATOR, now=utcnow())
        await secretariat.answer(uow, OPERATOR, "GP-0003", text="Xã hỗ trợ 50% giống lúa.", now=utcnow())
        await uow.commit()
    return db


async def gp_ids(db) -> dict[str, str]:
    async with UnitOfWork(db, readonly=True) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        village = (await uow.meetings.invited_villages(meeting.id))[0]
        topic = (await uow.meetings.topics(meeting.id))[0]
    return {"code": "GP-2026", "ref": "GP-0003", "meeting": str(meeting.id), "village": str(village.id), "topic": str(topic.id),
            "file_id": "1", "name": "tep.pdf"}


def console_routes(routes) -> list:
    """The app's routes as it serves them: a router included into the app is walked into (FastAPI
    keeps it as one entry holding the router), so every page of every router is seen."""
    out = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            out += console_routes(included.routes)
        else:
            out.append(route)
    return out


def form_for(path: str, ids: dict[str, str]) -> tuple[dict, dict | None]:
    """A plausible form for each POST route, aimed at the first commune; a new route must be added here."""
    moved = plan_text().replace("Hội trường Nhà Văn hoá trung tâm xã Gia Phúc", "Sân vận động xã Gia Phúc")
    forms: dict[str, tuple[dict, dict | None]] = {
        "/submissions/{ref}/answer": ({"mode": "answer", "text": "Trả lời từ xã khác.", "by": "UBND xã"}, None),
        "/submissions/{ref}/classify": ({"topic": ids["topic"], "department": "Phòng Kinh tế"}, None),
        "/submissions/{ref}/duplicate": ({"original": "GP-0001"}, None),
        "/submissions/{ref}/followup/close": ({}, None),
        "/submissions/{ref}/transcript": ({"transcript": "Nội dung gõ lại gửi nhầm sang xã khác."}, None),
        "/meetings/{code}/publish": ({"allow_unanswered": "1", "force": "1", "summary": "Tóm tắt kết luận."}, None),
        "/meetings/{code}/announce": ({"text": "Kính mời bà con dự hội nghị."}, None),
        "/meetings/plan": ({}, {"plan": ("plan.toml", moved.encode(), "text/plain")}),
        "/notices": ({"village": ids["village"], "text": "Thông báo từ xã khác gửi nhầm."}, None),
        "/meetings/{code}/speakers/turn": ({"ref": "GP-0001", "turn": "called"}, None),
        "/meetings/{code}/speakers/move": ({"ref": "GP-0005", "to": "1"}, None),
        "/meetings/{code}/speakers/close": ({}, None),
        "/meetings/{code}/speakers/group": ({}, None),
        "/meetings/{code}/speakers/floor": ({"name": "Người xã khác", "village": ids["village"], "topic": ids["topic"],
                                             "question": "Một câu hỏi gửi nhầm sang xã khác."}, None),
        "/meetings/{code}/speakers/answer": ({"ref": "GP-0001", "answer": "Trả lời nhầm xã.", "by": "Chủ trì"}, None),
        "/meetings/{code}/record": ({"chair": "Chủ trì xã khác", "secretary": "Thư ký xã khác", "attendance": "7"}, None),
        "/submissions/{ref}/public/hide": ({"reason": "Ẩn nhầm câu hỏi của xã khác."}, None),
        "/submissions/{ref}/public/show": ({}, None),
        "/submissions/{ref}/answer-files/{file_id}/public": ({"public": "1"}, None),
    }
    if path not in forms:
        pytest.fail(f"POST {path}: no form known for it; add one to form_for so its refusal is checked")
    return forms[path]


def leaked(body: str) -> list[str]:
    """The first commune's residents' names, questions and codes found in a response."""
    secrets = [*NAMES.values(), *(q for _, _, _, q, _ in QUESTIONS), *GP_REFS, "GP-2026", "Xã hỗ trợ 50% giống lúa."]
    return [s for s in secrets if s in body]


async def test_every_console_route_refuses_another_communes_staff_and_shows_nothing(two):
    db = two
    ids = await gp_ids(db)
    app = create_app(db, secret_key=SECRET, commune="GP")
    before = await snapshot(db)
    before_outbox = len(await rows(db, Outbox))
    walked = []
    async with client_for(app) as client:
        assert (await sign_in(client, "tanphong")).status_code == 303
        csrf = csrf_of((await client.get("/secretariat-only")).text)
        for route in console_routes(app.routes):
            if isinstance(route, Mount):
                assert route.path in EXEMPT, f"mount {route.path}: say why it is global, or check it"
                continue
            assert isinstance(route, APIRoute), f"{route!r}: a kind of route this walk does not know; teach it"
            if route.path in EXEMPT:
                continue
            params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            unknown = [p for p in params if p not in ids]
            if unknown:
                pytest.fail(f"{route.path}: no value of the first commune for {unknown}; add it to gp_ids")
            url = route.path.format(**{p: ids[p] for p in params})
            for method in sorted(route.methods):
                if method == "GET":
                    # Query filters aimed at the first commune, for pages that read them.
                    response = await client.get(url, params={"meeting": ids["meeting"], "village": ids["village"], "topic": ids["topic"]})
                else:
                    data, files = form_for(route.path, ids)
                    response = await client.post(url, data={**data, "csrf": csrf}, files=files)
                walked.append((method, route.path, response.status_code))
                where = f"{method} {route.path}"
                if params:
                    # Another commune's code answers exactly as a code that does not exist.
                    assert response.status_code == 404, (where, response.status_code)
                    assert "Không tìm thấy" in response.text, where
                elif route.path in OWN_COMMUNE and method == "GET":
                    assert response.status_code == 200, (where, response.status_code)
                else:
                    assert response.status_code == 403, (where, response.status_code)
                assert not leaked(response.text), (where, leaked(response.text))
                assert "content-disposition" not in response.headers, where
    assert {p for _, p, _ in walked} >= {"/meetings/{code}/answers.xlsx", "/meetings/{code}/report.docx", "/submissions/{ref}",
                                         "/meetings/{code}/minutes.docx", "/meetings/{code}/conclusion-draft.docx", "/meetings/{code}/record"}
    assert await snapshot(db) == before and len(await rows(db, Outbox)) == before_outbox
    refused = [e for e in await rows(db, AuditEntry) if e.action == "refused"]
    assert any(e.target == "GET /meetings/GP-2026/answers.xlsx" for e in refused)


async def test_a_code_of_another_commune_answers_as_an_unknown_one(two):
    app = create_app(two, secret_key=SECRET, commune="GP")
    async with client_for(app) as client:
        await sign_in(client, "tanphong")
        for mine, missing in (("/meetings/GP-2026/answers.xlsx", "/meetings/XX-1999/answers.xlsx"),
                              ("/submissions/GP-0001", "/submissions/GP-9999"),
                              ("/meetings/GP-2026/publish", "/meetings/XX-1999/publish")):
            a, b = await client.get(mine), await client.get(missing)
            assert (a.status_code, a.text) == (b.status_code, b.text) and a.status_code == 404


# ------------------------------------------------------------------ the services, as every door calls them


async def tanphong(db) -> Actor:
    async with UnitOfWork(db, readonly=True) as uow:
        return await actor_for(uow, await uow.staff.by_login("tanphong"))


async def test_every_service_refuses_an_actor_of_another_commune_and_changes_nothing(two, tmp_path: Path):
    db = two
    actor = await tanphong(db)
    ids = await gp_ids(db)
    before, outbox = await snapshot(db), len(await rows(db, Outbox))
    now = utcnow()
    calls = {
        "export_answers": lambda uow: export_answers(uow, actor, "GP-2026", tmp_path / "x.xlsx", now=now),
        "build_report": lambda uow: build_report(uow, actor, "GP-2026", now=now),
        "publish_conclusion": lambda uow: publish_conclusion(uow, actor, "GP-2026", now=now, allow_unanswered=True, force=True),
        "publication_preview": lambda uow: publication_preview(uow, actor, "GP-2026", now=now),
        "announce": lambda uow: announce(uow, actor, "GP-2026", now=now),
        "announce_preview": lambda uow: announce_preview(uow, actor, "GP-2026", now=now),
        "load_plan": lambda uow: load_plan(uow, actor, parse_plan(plan_text(topics=["Chủ đề lạ"])), now=now),
        "visible": lambda uow: secretariat.visible(uow, actor, "GP-0001"),
        "classify": lambda uow: secretariat.classify(uow, actor, "GP-0001", department="Phòng Kinh tế", now=now),
        "answer": lambda uow: secretariat.answer(uow, actor, "GP-0001", text="Trả lời nhầm xã.", now=now),
        "mark_duplicate": lambda uow: secretariat.mark_duplicate(uow, actor, "GP-0002", "GP-0001", now=now),
        "notify_villages": lambda uow: notify_villages(uow, actor, [int(ids["village"])], "Thông báo nhầm xã.", sender="x", now=now),
        "hall.speakers": lambda uow: hall.speakers(uow, actor, "GP-2026"),
        "hall.live": lambda uow: hall.live(uow, actor, "GP-2026"),
        "hall.move": lambda uow: hall.move(uow, actor, "GP-2026", "GP-0005", to=1, now=now),
        "hall.set_turn": lambda uow: hall.set_turn(uow, actor, "GP-2026", "GP-0001", Turn.CALLED, now=now),
        "hall.close_list": lambda uow: hall.close_list(uow, actor, "GP-2026", now=now),
        "hall.floor_question": lambda uow: hall.floor_question(uow, actor, "GP-2026", name="Người xã khác", village_id=int(ids["village"]),
                                                               topic_id=int(ids["topic"]), question="Một câu hỏi gửi nhầm xã.", now=now),
        "hall.hall_answer": lambda uow: hall.hall_answer(uow, actor, "GP-2026", "GP-0001", text="Trả lời nhầm xã.", by="Chủ trì", now=now),
        "record.set_record_facts": lambda uow: record.set_record_facts(uow, actor, "GP-2026", chair="Chủ trì xã khác", attendance=7, now=now),
        "record.build_minutes": lambda uow: record.build_minutes(uow, actor, "GP-2026", now=now),
        "record.build_conclusion_draft": lambda uow: record.build_conclusion_draft(uow, actor, "GP-2026", now=now),
        "public.hide": lambda uow: public.hide(uow, actor, "GP-0001", "Ẩn nhầm câu hỏi của xã khác.", now=now),
        "public.show": lambda uow: public.show(uow, actor, "GP-0001", now=now),
    }
    for name, call in calls.items():
        async with UnitOfWork(db) as uow:
            with pytest.raises(Forbidden):
                await call(uow)
                pytest.fail(name)
            await uow.commit()
    assert not (tmp_path / "x.xlsx").exists()
    assert await snapshot(db) == before and len(await rows(db, Outbox)) == outbox


async def test_a_duplicate_cannot_point_at_another_communes_question(two):
    """Merging one's own question into another commune's would copy that commune's answer across."""
    from bot.conversation.engine import Conversation
    from tests.integration.test_communes import consented

    conv = Conversation(two, commune="GP")
    await (await consented(conv, "telegram:TP", "701")).register(village="Thôn Đông Hải")
    actor = await tanphong(two)
    async with UnitOfWork(two) as uow:
        with pytest.raises(Forbidden):
            await secretariat.mark_duplicate(uow, actor, "TP-0001", "GP-0003", now=utcnow())
    async with UnitOfWork(two, readonly=True) as uow:
        tp = await uow.submissions.by_ref("TP-0001")
        assert tp.duplicate_of_id is None and tp.answer is None


async def test_an_answers_sheet_naming_another_communes_codes_records_nothing(two, tmp_path: Path):
    path = tmp_path / "gp.xlsx"
    async with UnitOfWork(two) as uow:
        await export_answers(uow, OPERATOR, "GP-2026", path, now=utcnow())
        await uow.commit()
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb.active["H2"] = "Trả lời từ xã khác."
    wb.save(path)
    before = await snapshot(two)
    async with UnitOfWork(two) as uow:
        with pytest.raises(SpreadsheetError) as refused:
            await import_answers(uow, await tanphong(two), path, now=utcnow())
    assert "GP-0001" in refused.value.problems[0] and not any(n in str(refused.value.problems) for n in NAMES.values())
    assert await snapshot(two) == before


async def test_the_queue_counts_only_the_actors_commune(two):
    from bot.conversation.engine import Conversation
    from tests.integration.test_communes import consented

    await (await consented(Conversation(two, commune="GP"), "telegram:TP", "702")).register(village="Thôn Đông Hải")
    async with UnitOfWork(two, readonly=True) as uow:
        everyone = await queue_counts(uow, OPERATOR)
        mine = await queue_counts(uow, await tanphong(two), home_commune="GP")
        gp = await queue_counts(uow, Actor(label="x", staff=(await uow.staff.by_login("vanphong"))), home_commune="GP")
    total = sum(n for *_, n in everyone)
    assert total == len(await rows(two, Outbox))
    # Tân Phong's resident's replies went out on "telegram:TP"; Gia Phúc's on the bot named without a commune.
    tp_replies = len([o for o in await rows(two, Outbox) if o.channel == "telegram:TP"])
    assert sum(n for *_, n in mine) == tp_replies > 0
    assert [m for m, *_ in mine] == [None] * len(mine)
    assert sum(n for *_, n in gp) == total  # vanphong was added without a commune: every commune's


async def test_a_communes_queue_page_shows_its_residents_replies_as_the_command_line_does(meeting_db):
    """One commune, its own secretariat: the replies its bot sent have no meeting, and are still its own."""
    await populate(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Văn phòng Gia Phúc", role="secretariat", login="giaphuc", commune="GP", actor=OPERATOR, now=utcnow())
        await set_password(uow, "giaphuc", PASSWORD, actor=OPERATOR, now=utcnow())
        await uow.commit()
        cli = await queue_counts(uow, OPERATOR)
    replies = {state: n for m, kind, state, n in cli if kind == "reply"}
    assert replies.get("sent", 0) > 0
    app = create_app(meeting_db, secret_key=SECRET)
    async with client_for(app) as client:
        await sign_in(client, "giaphuc")
        page = (await client.get("/outbox")).text
    row = re.search(r'<tr data-kind="reply" data-meeting="">(.*?)</tr>', page, re.S)
    assert row is not None, page[-1500:]
    for state, n in replies.items():
        assert f'data-state="{state}">{n}<' in row.group(1), state
