"""The meeting's public page (/cong-khai/<code>, `doithoai public export`): every published answer is
on it and no resident's personal data is, whatever the residents typed, whoever erased their data;
nothing before publication; the secretariat alone hides and shows a question, with a reason, audited."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest

from bot.conversation.engine import Conversation
from bot.domain.disclosure import MASK, Person, masked
from bot.entrypoints.web.app import create_app
from bot.entrypoints.web.public import EXPORTED_STYLESHEET, SERVED_STYLESHEET, STYLESHEET, export
from bot.services import public, secretariat
from bot.services.access import Forbidden
from bot.services.answers import publish_conclusion
from bot.services.privacy import forget
from bot.services.public import PublicError, PublicItem, PublicPage
from bot.services.staff import OPERATOR, actor_for, add_staff, set_password
from bot.services.submissions import withdraw
from storage.models import AuditEntry, Resident, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import load, rows, second_commune_plan
from tests.integration.test_web import PASSWORD, SECRET, Clock, client_for, csrf_of, populate, sign_in
from tests.support.core_chat import CoreChat

PAGE = "/cong-khai/GP-2026"
ANSWERS = {
    "GP-0001": "Đường liên thôn Phong Lâm được sửa trong quý III năm nay.",
    "GP-0003": "Xã hỗ trợ 50% giá giống lúa cho vụ mùa.",
}
FORWARDED = ("GP-0005", "Bảo hiểm xã hội tỉnh", date(2026, 9, 30))
# Residents who join the five of test_web's populate: long chat ids, so that the page can be searched for them.
ASKER = dict(user="700000006", name="Đỗ Thị Hạnh", phone="0987654321", village="Thôn Trúc Lâm", topic="Môi trường",
             question="Tôi là Đỗ Thị Hạnh, số điện thoại 0987 654 321, đề nghị xã sửa cống thoát nước ở xóm Đông.")
WITHDRAWN = dict(user="700000007", name="Vũ Văn Khoa", phone="0911222333", village="Thôn Lai Hà", topic="Kinh tế",
                 question="Đề nghị xã làm rõ kế hoạch xây trường mầm non ở thôn.")
ERASED = dict(user="700000008", name="Bùi Thị Lan", phone="0933444555", village="Thôn Long Tràng", topic="Chủ trương",
              question="Xin hỏi chính sách hỗ trợ hộ cận nghèo năm nay thế nào?")
HIDDEN = ("GP-0004", "Câu hỏi nêu đích danh một hộ gia đình trong xóm.")


async def resident(db, who: dict) -> str:
    """A consented resident registers; the code of their question."""
    chat = CoreChat(Conversation(db), user_id=who["user"])
    await chat.text("/start")
    await chat.press("Đồng ý")
    await chat.register(name=who["name"], village=who["village"], topic=who["topic"], question=who["question"], speak=False,
                        phone=who["phone"])
    [s] = [s for s in await rows(db, Submission) if s.question == who["question"]]
    return s.ref


async def answered(db) -> dict[str, str]:
    """test_web's five questions and three more; answers, a forward, a duplicate, one withdrawn, one hidden. Not yet published."""
    await populate(db)
    refs = {"asker": await resident(db, ASKER), "withdrawn": await resident(db, WITHDRAWN), "erased": await resident(db, ERASED)}
    now = utcnow()
    async with UnitOfWork(db) as uow:
        for ref, text in ANSWERS.items():
            await secretariat.answer(uow, OPERATOR, ref, text=text, by="Phòng Kinh tế" if ref == "GP-0003" else None, now=now)
        ref, office, expected = FORWARDED
        await secretariat.answer(uow, OPERATOR, ref, text=None, forward_to=office, expected_by=expected, now=now)
        await secretariat.mark_duplicate(uow, OPERATOR, "GP-0002", "GP-0001", now=now)  # gets GP-0001's answer
        await withdraw(uow, await uow.submissions.by_ref(refs["withdrawn"]), now)
        await public.hide(uow, OPERATOR, HIDDEN[0], HIDDEN[1], now=now)
    return refs


async def publish(db) -> None:
    async with UnitOfWork(db) as uow:
        await publish_conclusion(uow, OPERATOR, "GP-2026", now=utcnow(), summary="Xã tiếp thu các ý kiến và giao các phòng giải quyết.",
                                 allow_unanswered=True, force=True)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(meeting_db, clock):
    return create_app(meeting_db, secret_key=SECRET, clock=clock)


async def personal(db) -> list[str]:
    """Everything personal the database holds about residents: names, phones (as stored and as typed), chat identities."""
    found = set()
    for s in await rows(db, Submission):
        found |= {s.name, s.phone}
    for r in await rows(db, Resident):
        found |= {r.name, r.phone, r.chat_id, r.external_id}
    found.discard(None)
    phones = {p for p in found if p and p.isdigit() and len(p) >= 9}
    found |= {f"{p[:4]} {p[4:7]} {p[7:]}" for p in phones} | {f"{p[:4]}.{p[4:7]}.{p[7:]}" for p in phones}
    assert all(len(v) >= 5 for v in found if not v.isdigit()), found
    # test_web's five residents chat as "1"…"5": digits found anywhere; theirs are checked by what PublicItem holds (below).
    return sorted(v for v in found if not (v.isdigit() and len(v) < 5))


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


async def test_the_page_shows_every_published_answer_and_nothing_personal(meeting_db, app):
    refs = await answered(meeting_db)
    secrets = await personal(meeting_db)
    assert {"Nguyễn Văn An", "Đỗ Thị Hạnh", "0987654321", "0987 654 321", "700000006", "Bùi Thị Lan"} <= set(secrets)
    async with UnitOfWork(meeting_db) as uow:  # erased after answering, before publication
        await forget(uow, next(r for r in await rows(meeting_db, Resident) if r.external_id == ERASED["user"]))
    await publish(meeting_db)
    async with client_for(app) as client:
        response = await client.get(PAGE)
    assert response.status_code == 200, response.text[:500]
    html = response.text
    text = text_of(html)

    # Every published answer, each under its question's code; the duplicate under its original's answer.
    for ref, answer in ANSWERS.items():
        assert answer in html
        assert answer in item(html, ref)
    assert ANSWERS["GP-0001"] in item(html, "GP-0002")
    assert "Trả lời của Phòng Kinh tế" in item(html, "GP-0003") and "Trả lời của Xã Gia Phúc" in item(html, "GP-0001")
    ref, office, expected = FORWARDED
    assert f"Câu hỏi đã được chuyển đến {office}; dự kiến có kết quả trước ngày 30/09/2026." in text_of(item(html, ref))
    assert "Đang chờ trả lời." in item(html, refs["asker"])
    # No name, phone or chat identity of anyone, the erased resident's old ones included.
    leaked = [s for s in secrets if s in html or s in text]
    assert not leaked, leaked
    # The question that signed itself shows with its name and number covered.
    assert f"Tôi là {MASK}, số điện thoại {MASK}, đề nghị xã sửa cống thoát nước ở xóm Đông." in text_of(item(html, refs["asker"]))
    # The erased resident's question is there, as anyone else's: nothing on the page names anyone.
    assert ERASED["question"] in text_of(item(html, refs["erased"]))
    # Withdrawn and hidden: absent; the hidden one counted without its content or its reason.
    assert WITHDRAWN["question"] not in text and f'id="{refs["withdrawn"]}"' not in html
    assert f'id="{HIDDEN[0]}"' not in html and "đèn chiếu sáng" not in text and HIDDEN[1] not in text
    assert 'data-hidden="1"' in html
    counts = dict(re.findall(r'<li data-count="(\w+)"><strong>(\d+)</strong>', html))
    # 8 questions, one withdrawn; answered: GP-0001, its duplicate GP-0002, GP-0003; forwarded GP-0005; pending: GP-0004 and two more.
    assert counts == {"received": "7", "answered": "3", "in_hall": "0", "forwarded": "1", "pending": "3"}
    # A page anyone reads: headings in order, Vietnamese, no session, cached a little, the console's protections.
    assert '<html lang="vi">' in html and html.count("<h1>") == 1
    # In the plan's order of topics: Kinh tế (GP-0003), Chủ trương (GP-0005, the erased one's), Môi trường (GP-0001, its
    # duplicate, the signed question); Vấn đề khác's one question is hidden.
    assert re.findall(r'<h2 id="topic-\d+">([^<]+?) <span', html) == [
        "Kinh tế - xã hội, đất đai, xây dựng", "Chủ trương, chính sách, pháp luật", "Môi trường, hạ tầng, giao thông"]
    assert "Kết luận của hội nghị" in html and len(re.findall("<h3>", html)) == 6
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "script-src 'none'" in response.headers["content-security-policy"]
    assert f'href="{SERVED_STYLESHEET}"' in html


def item(html: str, ref: str) -> str:
    found = re.search(rf'<li class="item outcome-\w+" id="{ref}" data-ref="{ref}">(.*?)</li>', html, re.S)
    assert found, ref
    return found.group(1)


def test_a_public_item_has_no_place_for_who_asked():
    """What the template is given holds no name, phone or chat: it cannot show one by mistake."""
    assert {f.name for f in fields(PublicItem)} == {"ref", "village", "question", "outcome", "answer", "answered_by", "forwarded_to",
                                                    "expected_by", "in_hall", "files"}
    assert not {"name", "phone", "chat_id", "resident", "submission", "meeting"} & {f.name for f in fields(PublicPage)}


async def test_nothing_is_public_before_publication_nor_for_any_other_code(meeting_db, app):
    await answered(meeting_db)
    async with client_for(app) as client:
        unknown = await client.get("/cong-khai/XX-1999")
        unpublished = await client.get(PAGE)
        # The same page whether the meeting exists or not.
        assert (unpublished.status_code, unpublished.text) == (unknown.status_code, unknown.text) and unknown.status_code == 404
        assert "set-cookie" not in unknown.headers  # a visitor is given no session, found or not
        for path in ("/cong-khai/%00", "/cong-khai/GP-2026%00", "/cong-khai/" + "X" * 500, "/cong-khai/%F0%9F%98%80",
                     "/cong-khai/..%2F..%2Fetc", "/cong-khai/gp-2026", "/cong-khai/%20", "/cong-khai/GP-2026%0A", "/cong-khai/"):
            response = await client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert ANSWERS["GP-0003"] not in response.text
        await publish(meeting_db)
        assert (await client.get(PAGE)).status_code == 200
        assert (await client.get("/cong-khai/GP-2026%20")).status_code == 200  # a space pasted after the code


async def state(db):
    subs = sorted((s.ref, s.public_hidden_reason) for s in await rows(db, Submission))
    audit = sorted((e.action, e.target, str(e.before), str(e.after)) for e in await rows(db, AuditEntry) if e.action.startswith("public."))
    return subs, audit


@asynccontextmanager
async def signed_in(app, login: str):
    """A client signed in as `login`, with its CSRF token."""
    async with client_for(app) as client:
        assert (await sign_in(client, login)).status_code == 303
        yield client, csrf_of((await client.get("/secretariat-only")).text)


async def test_the_secretariat_hides_with_a_reason_and_shows_again_audited(meeting_db, app):
    await answered(meeting_db)
    await publish(meeting_db)
    async with signed_in(app, "vanphong") as (client, csrf):
        page = await client.get("/submissions/GP-0003")
        assert 'action="/submissions/GP-0003/public/hide"' in page.text and "Ẩn khỏi trang công khai" in page.text
        assert 'href="/cong-khai/GP-2026#GP-0003"' in page.text

        # No reason, only spaces, or a control character: refused, said why, nothing changed.
        before = await state(meeting_db)
        for reason, said in (("", "xin ghi lý do ẩn câu hỏi khỏi trang công khai"), ("   ", "xin ghi lý do ẩn câu hỏi khỏi trang công khai"),
                             ("Lý do\x00", "lý do ẩn có ký tự"), ("x" * 501, "lý do ẩn dài quá 500 ký tự")):
            refused = await client.post("/submissions/GP-0003/public/hide", data={"csrf": csrf, "reason": reason})
            assert refused.status_code == 400, reason
            assert f"Không thực hiện được: GP-0003: {said}" in unescape(refused.text), (reason, re.findall(r'role="alert">(.*?)<', refused.text))
        assert await state(meeting_db) == before

        done = await client.post("/submissions/GP-0003/public/hide", data={"csrf": csrf, "reason": "  Trùng nội dung với   GP-0001. "})
        assert done.status_code == 303 and done.headers["location"] == "/submissions/GP-0003#public"
        shown = await client.get("/submissions/GP-0003")
        assert "Đã ẩn câu hỏi GP-0003 khỏi trang công khai." in shown.text and "Trùng nội dung với GP-0001." in shown.text
        assert 'action="/submissions/GP-0003/public/show"' in shown.text
        public_page = (await client.get(PAGE)).text
        assert ANSWERS["GP-0003"] not in public_page and 'data-hidden="2"' in public_page and "Trùng nội dung" not in public_page

        assert (await client.post("/submissions/GP-0003/public/show", data={"csrf": csrf})).status_code == 303
        assert ANSWERS["GP-0003"] in (await client.get(PAGE)).text
    entries = [e for e in await rows(meeting_db, AuditEntry) if e.action.startswith("public.") and e.target == "submission GP-0003"]
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("public.hide", {"hidden": None}, {"hidden": "Trùng nội dung với GP-0001."}),
        ("public.show", {"hidden": "Trùng nội dung với GP-0001."}, {"hidden": None}),
    ]
    assert all(e.actor.startswith("staff:") and "Văn phòng Đảng ủy" in e.actor for e in entries)


async def test_only_the_meetings_secretariat_may_hide_and_a_refusal_changes_nothing(meeting_db, app):
    await answered(meeting_db)
    await load(meeting_db, second_commune_plan())
    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", login="tanphong", commune="TP", actor=OPERATOR, now=utcnow())
        await set_password(uow, "tanphong", PASSWORD, actor=OPERATOR, now=utcnow())
        await uow.commit()
    await publish(meeting_db)
    before = await state(meeting_db)
    # GP-0001 is assigned to Phòng Kinh tế: its department sees it, and still may not hide it.
    for login, status in (("truongthon", 403), ("kinhte", 403), ("vanhoa", 403), ("tanphong", 404)):
        async with signed_in(app, login) as (client, csrf):
            for path, data in (("/submissions/GP-0001/public/hide", {"reason": "Ẩn thử."}), ("/submissions/GP-0004/public/show", {})):
                response = await client.post(path, data={"csrf": csrf, **data})
                assert response.status_code == status, (login, path, response.status_code)
            if login == "kinhte":  # the page they may open offers no such form
                page = await client.get("/submissions/GP-0001")
                assert page.status_code == 200 and "/public/hide" not in page.text
    assert await state(meeting_db) == before
    # The services refuse the same, whichever door calls them.
    async with UnitOfWork(meeting_db) as uow:
        for login in ("truongthon", "kinhte", "tanphong"):
            actor = await actor_for(uow, await uow.staff.by_login(login))
            with pytest.raises(Forbidden):
                await public.hide(uow, actor, "GP-0001", "Ẩn thử.", now=utcnow())
            with pytest.raises(Forbidden):
                await public.show(uow, actor, "GP-0004", now=utcnow())
        with pytest.raises(PublicError) as refused:
            await public.hide(uow, OPERATOR, "GP-0001", None, now=utcnow())
        assert refused.value.key == "problem.public.no_reason"
    assert await state(meeting_db) == before
    # Without signing in: the sign-in form, nothing done.
    async with client_for(app) as anonymous:
        response = await anonymous.post("/submissions/GP-0001/public/hide", data={"reason": "x"})
        assert response.status_code == 403
    assert await state(meeting_db) == before


async def test_the_export_writes_the_same_page_as_static_files(meeting_db, app, clock, tmp_path: Path):
    await answered(meeting_db)
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        with pytest.raises(PublicError) as refused:
            await public.published(uow, "GP-2026", now=clock.now)
        assert refused.value.key == "problem.public.not_published"
        with pytest.raises(PublicError) as unknown:
            await public.published(uow, "GP-1999", now=clock.now)
        assert unknown.value.key == "problem.no_meeting"
    await publish(meeting_db)
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        page = await public.published(uow, "GP-2026", now=clock.now)
    index = export(page, tmp_path / "cong-khai" / "GP-2026")
    assert index == tmp_path / "cong-khai" / "GP-2026" / "index.html"
    assert (index.parent / EXPORTED_STYLESHEET).read_bytes() == STYLESHEET.read_bytes()
    written = index.read_text(encoding="utf-8")
    async with client_for(app) as client:
        served = (await client.get(PAGE)).text
    assert written == served.replace(f'href="{SERVED_STYLESHEET}"', f'href="{EXPORTED_STYLESHEET}"')
    # Every link of the file is relative or on the page itself: it works from any folder of any portal.
    assert re.findall(r'(?:href|src)="([^"]+)"', written) == [EXPORTED_STYLESHEET, "#questions"]
    for answer in ANSWERS.values():
        assert answer in written
    assert not [s for s in await personal(meeting_db) if s in written]


async def test_answers_in_the_hall_and_numbers_in_questions(meeting_db, app):
    """An answer given in the hall says so and is counted; any phone-shaped or ID-card number in a
    question is covered, whoever's it is; amounts and dates are not."""
    from bot.services import hall

    await populate(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        await hall.hall_answer(uow, OPERATOR, "GP-2026", "GP-0001", text="Chủ tịch xã trả lời: sửa đường trong năm nay.",
                               by="Chủ tịch UBND xã", now=utcnow())
        meeting = await uow.meetings.by_code("GP-2026")
        village = (await uow.meetings.invited_villages(meeting.id))[0]
        topic = (await uow.meetings.topics(meeting.id))[0]
        floor = await hall.floor_question(
            uow, OPERATOR, "GP-2026", name="Lê Thị Hoa", village_id=village.id, topic_id=topic.id,
            question="Nhà ông Tư (SĐT +84 912.345.678, CCCD 001204012345) lấn 20 m² đất công; xin xử lý trước 01/12/2026, phạt 2.500.000 đồng.",
            now=utcnow(),
        )
    await publish(meeting_db)
    async with client_for(app) as client:
        html = (await client.get(PAGE)).text
    assert "Trả lời của Chủ tịch UBND xã" in item(html, "GP-0001") and "Trả lời tại hội nghị" in item(html, "GP-0001")
    assert '<li data-count="in_hall"><strong>1</strong>' in html
    question = text_of(item(html, floor.ref))
    assert f"Nhà ông Tư (SĐT {MASK}, CCCD {MASK}) lấn 20 m² đất công; xin xử lý trước 01/12/2026, phạt 2.500.000 đồng." in question
    assert "Lê Thị Hoa" not in html


def test_what_residents_wrote_about_themselves_is_covered():
    people = [Person("Nguyễn Văn An", "0912345678"), Person("Hoa"), Person("Lê Thị Bình", "+33612345678")]
    cases = {
        "Tôi là nguyen van AN, sđt 0912 345 678.": f"Tôi là {MASK}, sđt {MASK}.",
        "Gọi +84 912.345.678 hoặc 84912345678.": f"Gọi {MASK} hoặc {MASK}.",
        "Chị Hoa hỏi về giá hoa màu.": f"Chị {MASK} hỏi về giá hoa màu.",  # one word: a name only when capitalised
        "Bà LÊ THỊ BÌNH, +33 6 12 34 56 78.": f"Bà {MASK}, {MASK}.",
        "Số xã 024 3825 1234; 0987654321 0911222333.": f"Số xã {MASK}; {MASK} {MASK}.",
        "Hỗ trợ 10.000.000 đồng, 0,5 ha, ngày 01.01.2025, năm 2026.": "Hỗ trợ 10.000.000 đồng, 0,5 ha, ngày 01.01.2025, năm 2026.",
    }
    for text, expected in cases.items():
        assert masked(text, people) == expected, text
    # In an answer staff wrote, the commune's own hotline stays; residents' names and numbers do not.
    answer = "Liên hệ đường dây nóng 0243 825 123; ông Nguyễn Văn An (0912345678) đã được mời làm việc."
    assert masked(answer, people, any_number=False) == f"Liên hệ đường dây nóng 0243 825 123; ông {MASK} ({MASK}) đã được mời làm việc."


async def test_the_card_gives_the_communes_own_time(meeting_db, app, clock):
    """The card's date and hours are the commune's (UTC+7), as on the residents' receipts."""
    await populate(meeting_db)
    await publish(meeting_db)
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
    async with client_for(app) as client:
        html = (await client.get(PAGE)).text
    local = meeting.starts_at + timedelta(hours=7)
    assert f"{local:%H:%M}–{(meeting.ends_at + timedelta(hours=7)):%H:%M}" in html and f"{local:%d/%m/%Y}" in html
