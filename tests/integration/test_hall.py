"""The meeting day in the console: the speakers' list in order, calling and moving speakers, questions
from the floor, answers given in the hall reaching those who asked by chat, the projector's view,
and every refusal leaving the database as it was."""

from __future__ import annotations

import re

from bot.services.answers import publish_conclusion
from bot.services.staff import OPERATOR
from storage.models import AuditEntry, Outbox, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_web import NAMES

LIST = "/meetings/GP-2026/speakers"


def listed(html: str) -> list[str]:
    """The codes on the speakers' list, in the order shown."""
    return re.findall(r'<li class="card speaker[^"]*" id="s-([A-Z]+-\d+)"', html)


async def by_ref(db, ref: str) -> Submission:
    return next(s for s in await rows(db, Submission) if s.ref == ref)


async def state(db):
    subs = sorted((s.ref, s.hall_status, s.hall_position, s.answer, s.answered_in_hall, s.channel) for s in await rows(db, Submission))
    audit = sorted((e.action, e.target) for e in await rows(db, AuditEntry) if e.action.startswith(("hall.", "submission.")))
    return subs, audit


async def test_the_list_holds_those_who_asked_to_speak_in_order_and_the_secretary_calls_and_moves_them(meeting_db, signed_in):
    client, csrf = await signed_in("vanphong")
    page = await client.get(LIST)
    assert page.status_code == 200
    # GP-0001, GP-0003 and GP-0005 asked to speak when they registered; the others asked for a written answer.
    assert listed(page.text) == ["GP-0001", "GP-0003", "GP-0005"]
    assert 'data-count="registered">3<' in page.text and 'data-count="spoke">0<' in page.text

    moved = await client.post(f"{LIST}/move", data={"csrf": csrf, "ref": "GP-0005", "to": "1"})
    assert moved.status_code == 303
    assert listed((await client.get(LIST)).text) == ["GP-0005", "GP-0001", "GP-0003"]

    for ref in ("GP-0005", "GP-0001"):  # calling the next one: who was at the microphone has spoken
        assert (await client.post(f"{LIST}/turn", data={"csrf": csrf, "ref": ref, "turn": "called"})).status_code == 303
    assert (await by_ref(meeting_db, "GP-0005")).hall_status == "spoke"
    assert (await by_ref(meeting_db, "GP-0001")).hall_status == "called"
    page = (await client.get(LIST)).text
    assert 'data-count="spoke">1<' in page
    assert f"Đang phát biểu: <strong>{NAMES['1']} · Thôn Phong Lâm</strong>" in page

    # The projector: who speaks, the next two, names and villages only.
    live = await client.get("/meetings/GP-2026/live")
    assert live.status_code == 200 and 'http-equiv="refresh"' in live.text
    assert NAMES["1"] in live.text and NAMES["3"] in live.text
    for private in ("GP-0001", "Đường liên thôn", "giống lúa", "Thôn Văn Lâm"):
        assert private not in live.text  # no codes, no questions; GP-0005 (Thôn Văn Lâm) has spoken and is gone

    assert (await client.post(f"{LIST}/turn", data={"csrf": csrf, "ref": "GP-0003", "turn": "absent"})).status_code == 303
    assert (await client.post(f"{LIST}/close", data={"csrf": csrf})).status_code == 303
    before = await state(meeting_db)
    refused = await client.post(f"{LIST}/turn", data={"csrf": csrf, "ref": "GP-0003", "turn": "called"})
    assert refused.status_code == 400 and "đã kết thúc" in refused.text
    assert await state(meeting_db) == before
    assert "Đã kết thúc phần phát biểu." in (await client.get("/meetings/GP-2026/live")).text
    actions = [a for a, _ in before[1]]
    assert actions.count("hall.turn") == 4 and "hall.move" in actions and "hall.close" in actions


async def test_the_chair_groups_those_waiting_by_topic_and_who_was_called_keeps_their_place(meeting_db, signed_in):
    client, csrf = await signed_in("vanphong")
    # Registration order: GP-0001 (Môi trường, the plan's 5th topic), GP-0003 (Kinh tế, 1st), GP-0005 (Chủ trương, 2nd).
    assert (await client.post(f"{LIST}/turn", data={"csrf": csrf, "ref": "GP-0005", "turn": "absent"})).status_code == 303
    grouped = await client.post(f"{LIST}/group", data={"csrf": csrf})
    assert grouped.status_code == 303
    page = (await client.get(LIST)).text
    assert listed(page) == ["GP-0005", "GP-0003", "GP-0001"] and "Đã xếp những người đang chờ theo từng lĩnh vực" in page
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "hall.group"]
    assert (entry.before, entry.after) == (["GP-0001", "GP-0003", "GP-0005"], ["GP-0005", "GP-0003", "GP-0001"])

    head, head_csrf = await signed_in("kinhte")  # a department does not run the hall
    before = await state(meeting_db)
    assert (await head.post(f"{LIST}/group", data={"csrf": head_csrf})).status_code == 403
    assert await state(meeting_db) == before


async def test_a_question_from_the_floor_gets_its_own_code_and_bad_input_changes_nothing(meeting_db, signed_in):
    client, csrf = await signed_in("vanphong")
    async with UnitOfWork(meeting_db) as uow:  # a village the plan retired is not offered: it would be refused
        retired = next(v for v in await uow.meetings.invited_villages((await uow.meetings.by_code("GP-2026")).id) if v.name == "Thôn Văn Lâm")
        retired.active = False
        await uow.commit()
    page = (await client.get(LIST)).text
    assert "Thôn Văn Lâm" not in [name for _, name in _options(page, "fl-village")]
    assert "Thôn Văn Lâm" in page  # still naming GP-0005's village on the list
    village = next(v for v, name in _options(page, "fl-village") if name == "Thôn Lai Hà")
    topic = _options(page, "fl-topic")[0][0]
    before = await state(meeting_db)
    for bad, says in (
        ({"name": "123", "question": "Xin hỏi về việc cấp giấy chứng nhận quyền sử dụng đất."}, "họ tên"),
        ({"name": "Đỗ Thị Hoa", "question": "ngắn"}, "ý kiến"),
        ({"name": "Đỗ Thị Hoa", "question": "Xin hỏi về việc cấp giấy chứng nhận.", "village": "999999"}, "thôn"),
    ):
        sent = {"csrf": csrf, "village": village, "topic": topic} | bad
        response = await client.post(f"{LIST}/floor", data=sent)
        assert response.status_code == 400 and says in response.text, response.text[:300]
        assert await state(meeting_db) == before

    ok = await client.post(f"{LIST}/floor", data={"csrf": csrf, "name": "Đỗ Thị Hoa", "village": village, "topic": topic,
                                                  "question": "Xin hỏi về việc cấp giấy chứng nhận quyền sử dụng đất cho hộ tôi."})
    assert ok.status_code == 303
    floor = await by_ref(meeting_db, "GP-0006")
    assert (floor.channel, floor.name, floor.hall_status, floor.resident_id) == ("hall", "Đỗ Thị Hoa", "spoke", None)
    page = (await client.get(LIST)).text
    assert listed(page)[-1] == "GP-0006" and "Tại hội nghị" in page and 'data-count="floor">1<' in page
    assert ("submission.hall", "submission GP-0006") in (await state(meeting_db))[1]


async def test_an_answer_given_in_the_hall_reaches_who_asked_by_chat_once_on_publication(meeting_db, signed_in):
    client, csrf = await signed_in("vanphong")
    missing_who = await client.post(f"{LIST}/answer", data={"csrf": csrf, "ref": "GP-0003", "answer": "Xã sẽ hỗ trợ giống lúa.", "by": ""})
    assert missing_who.status_code == 400 and "ai đã trả lời" in missing_who.text
    assert (await by_ref(meeting_db, "GP-0003")).answer is None

    said = "Xã sẽ hỗ trợ giống lúa cho vụ mùa, đăng ký tại nhà văn hóa thôn trước ngày 15."
    assert (await client.post(f"{LIST}/answer", data={"csrf": csrf, "ref": "GP-0003", "answer": said, "by": "Chủ tịch UBND xã"})).status_code == 303
    s = await by_ref(meeting_db, "GP-0003")
    assert (s.answer, s.answered_by, s.answered_in_hall, s.status) == (said, "Chủ tịch UBND xã", True, "answered")
    assert not [o for o in await rows(meeting_db, Outbox) if o.key.startswith("answer:GP-0003")]  # not before publication
    page = (await client.get(LIST)).text
    assert 'data-count="in_hall">1<' in page and 'data-count="later">4<' in page

    for _ in range(2):
        async with UnitOfWork(meeting_db) as uow:
            await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow())
    sent = [o for o in await rows(meeting_db, Outbox) if o.key.startswith("answer:GP-0003")]
    assert len(sent) == 1 and said in sent[0].payload["text"] and "Chủ tịch UBND xã" in sent[0].payload["text"]


async def test_only_the_secretariat_works_the_list(meeting_db, signed_in):
    for login, status in (("truongthon", 403), ("kinhte", 403)):
        client, csrf = await signed_in(login)
        before = await state(meeting_db)
        assert (await client.get(LIST)).status_code == status
        assert (await client.get("/meetings/GP-2026/live")).status_code == status
        for path, data in (("turn", {"ref": "GP-0001", "turn": "called"}), ("move", {"ref": "GP-0001", "to": "2"}), ("close", {}),
                           ("answer", {"ref": "GP-0001", "answer": "Đã trả lời tại hội nghị.", "by": "Chủ trì"})):
            assert (await client.post(f"{LIST}/{path}", data={"csrf": csrf} | data)).status_code == status
        assert await state(meeting_db) == before
    client, csrf = await signed_in("vanphong")
    assert (await client.get("/meetings/KHONG-CO/speakers")).status_code == 404
    refused = await client.post(f"{LIST}/turn", data={"csrf": csrf, "ref": "GP-0002", "turn": "called"})  # asked for a written answer
    assert refused.status_code == 400 and "không có trong danh sách phát biểu" in refused.text


def _options(html: str, select_id: str) -> list[tuple[str, str]]:
    block = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', block)


async def test_an_answer_given_in_the_hall_is_also_the_answer_of_the_questions_marked_as_the_same(meeting_db, signed_in):
    from bot.services.secretariat import mark_duplicate

    async with UnitOfWork(meeting_db) as uow:  # GP-0002 (written) asks what GP-0001 (a speaker) asks
        await mark_duplicate(uow, OPERATOR, "GP-0002", "GP-0001", now=utcnow())
    client, csrf = await signed_in("vanphong")
    said = "Quý III năm nay xã sửa đường liên thôn Phong Lâm."
    sent = await client.post(f"{LIST}/answer", data={"csrf": csrf, "ref": "GP-0001", "answer": said, "by": "Chủ tịch UBND xã"})
    assert sent.status_code == 303
    duplicate = await by_ref(meeting_db, "GP-0002")
    assert (duplicate.answer, duplicate.answered_by, duplicate.status) == (said, "Chủ tịch UBND xã", "answered")
