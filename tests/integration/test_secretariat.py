"""The secretariat's and departments' actions, checked by role on the server side and audited;
duplicates answered through their original; the Word report."""

from __future__ import annotations

import io

import pytest
from docx import Document

from bot.conversation.engine import Conversation
from bot.services.answers import AnswerError, publication_preview, publish_conclusion
from bot.services.exports.report import build_report
from bot.services.secretariat import Forbidden, answer, classify, mark_duplicate, search, similar
from bot.services.staff import OPERATOR, actor_for, add_staff
from storage.models import AuditEntry, Outbox, Submission, utcnow
from storage.repositories import SubmissionFilter
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.support.core_chat import CoreChat

QUESTIONS = [
    ("1", "Thôn Phong Lâm", "Đường liên thôn Phong Lâm xuống cấp nghiêm trọng, khi nào được sửa chữa?"),
    ("2", "Thôn Văn Lâm", "Khi nào đường liên thôn Phong Lâm xuống cấp được sửa chữa?"),
    ("3", "Thôn Lai Hà", "Đề nghị hỗ trợ giống lúa cho vụ mùa năm nay."),
]


@pytest.fixture
async def world(meeting_db):
    conv = Conversation(meeting_db)
    for user, village, question in QUESTIONS:
        chat = CoreChat(conv, user_id=user)
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(village=village, question=question)
    async with UnitOfWork(meeting_db) as uow:
        secretary = await add_staff(uow, name="Văn phòng", role="secretariat", login="vanphong", actor=OPERATOR, now=utcnow())
        economy = await add_staff(uow, name="Phòng Kinh tế", role="department", department="Phòng Kinh tế", login="kinhte", actor=OPERATOR, now=utcnow())
        culture = await add_staff(uow, name="Phòng Văn hóa", role="department", department="Phòng Văn hóa", login="vanhoa", actor=OPERATOR, now=utcnow())
        head = await add_staff(uow, name="Trưởng thôn", role="village_head", villages=["Thôn Lai Hà"], telegram_id="9", actor=OPERATOR, now=utcnow())
        await uow.commit()
    return meeting_db, {"secretary": secretary, "economy": economy, "culture": culture, "head": head}


async def as_(db, staff, work):
    async with UnitOfWork(db) as uow:
        actor = await actor_for(uow, staff)
        result = await work(uow, actor)
        await uow.commit()
        return result


async def state(db):
    return [(s.ref, s.department, s.status, s.answer, s.duplicate_of_id, s.topic_id) for s in await rows(db, Submission)], len(await rows(db, AuditEntry))


async def test_refused_actions_change_nothing(world):
    db, staff = world
    await as_(db, staff["secretary"], lambda uow, a: classify(uow, a, "GP-0001", department="Phòng Kinh tế", now=utcnow()))
    before = await state(db)
    refusals = [
        (staff["culture"], lambda uow, a: answer(uow, a, "GP-0001", text="Không phải việc của phòng này.", now=utcnow())),
        (staff["economy"], lambda uow, a: answer(uow, a, "GP-0003", text="Chưa được giao.", now=utcnow())),
        (staff["economy"], lambda uow, a: classify(uow, a, "GP-0001", department="Phòng Văn hóa", now=utcnow())),
        (staff["head"], lambda uow, a: classify(uow, a, "GP-0003", department="Phòng Kinh tế", now=utcnow())),
        (staff["head"], lambda uow, a: mark_duplicate(uow, a, "GP-0002", "GP-0001", now=utcnow())),
        (staff["head"], lambda uow, a: search(uow, a, SubmissionFilter())),
    ]
    for who, work in refusals:
        with pytest.raises(Forbidden):
            await as_(db, who, work)
    assert await state(db) == before


async def test_a_department_sees_and_answers_only_what_was_assigned_to_it(world):
    db, staff = world
    await as_(db, staff["secretary"], lambda uow, a: classify(uow, a, "GP-0001", department="Phòng Kinh tế", now=utcnow()))
    found, total = await as_(db, staff["economy"], lambda uow, a: search(uow, a, SubmissionFilter()))
    assert total == 1 and [r.submission.ref for r in found] == ["GP-0001"]
    await as_(db, staff["economy"], lambda uow, a: answer(uow, a, "GP-0001", text="Quý III sẽ sửa.", now=utcnow()))
    [s] = [s for s in await rows(db, Submission) if s.ref == "GP-0001"]
    assert (s.status, s.answered_by) == ("answered", "Phòng Kinh tế")
    entry = [e for e in await rows(db, AuditEntry) if e.action == "submission.answer"][0]
    assert entry.actor.startswith("staff:") and entry.before["answer"] is None and entry.after["answer"] == "Quý III sẽ sửa."


async def test_similar_questions_are_suggested_and_a_duplicate_is_answered_through_its_original(world):
    db, staff = world
    async with UnitOfWork(db, readonly=True) as uow:
        second = await uow.submissions.by_ref("GP-0002")
        suggestions = await similar(uow, second)
    assert [s.ref for s in suggestions] == ["GP-0001"] and suggestions[0].score >= 60
    await as_(db, staff["secretary"], lambda uow, a: mark_duplicate(uow, a, "GP-0002", "GP-0001", now=utcnow()))
    with pytest.raises(AnswerError, match="trùng"):
        await as_(db, staff["secretary"], lambda uow, a: answer(uow, a, "GP-0002", text="x", now=utcnow()))
    await as_(db, staff["secretary"], lambda uow, a: answer(uow, a, "GP-0001", text="Đã có kế hoạch sửa đường.", by="UBND xã", now=utcnow()))
    subs = {s.ref: s for s in await rows(db, Submission)}
    assert subs["GP-0002"].answer == "Đã có kế hoạch sửa đường." and subs["GP-0002"].status == "answered"
    await as_(db, staff["secretary"], lambda uow, a: answer(uow, a, "GP-0003", text="Xã hỗ trợ 50% giống.", by="Phòng Kinh tế", now=utcnow()))
    async with UnitOfWork(db, readonly=True) as uow:
        preview = await publication_preview(uow, OPERATOR, "GP-2026", now=utcnow())
    assert (preview.answered, preview.unanswered, preview.residents) == (3, [], 3)
    async with UnitOfWork(db) as uow:
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow())
        await uow.commit()
    answers = [o for o in await rows(db, Outbox) if o.kind == "answer"]
    texts = {o.chat_id: o.payload["text"] for o in answers}
    assert "GP-0002" in texts["2"] and "Đã có kế hoạch sửa đường." in texts["2"]  # addressed to its own code
    assert "GP-0001" in texts["1"]


async def test_the_word_report_groups_by_topic_then_by_answer(world):
    db, staff = world
    await as_(db, staff["secretary"], lambda uow, a: mark_duplicate(uow, a, "GP-0002", "GP-0001", now=utcnow()))
    await as_(db, staff["secretary"], lambda uow, a: answer(uow, a, "GP-0001", text="Đã có kế hoạch sửa đường.", by="UBND xã", now=utcnow()))
    async with UnitOfWork(db) as uow:
        before = Document(io.BytesIO((await build_report(uow, OPERATOR, "GP-2026", grouped_by="topic")).data))
        after = Document(io.BytesIO((await build_report(uow, OPERATOR, "GP-2026", grouped_by="answer")).data))
    text = "\n".join(p.text for p in before.paragraphs)
    assert "BÁO CÁO TỔNG HỢP Ý KIẾN, KIẾN NGHỊ CỦA NHÂN DÂN" in text
    assert "I. Môi trường, hạ tầng, giao thông (3 ý kiến)" in text
    assert "1. Đường liên thôn Phong Lâm xuống cấp" in text and "Mã phiếu GP-0003 — Nguyễn Văn An, Thôn Lai Hà" in text
    text = "\n".join(p.text for p in after.paragraphs)
    assert "I. Trả lời của UBND xã" in text and "Các ý kiến được trả lời (2):" in text
    assert text.index("GP-0002") < text.index("II. Chưa có câu trả lời") < text.index("GP-0003")


async def test_search_matches_vietnamese_in_any_case_and_takes_wildcards_literally(world):
    db, staff = world
    found, total = await as_(db, staff["secretary"], lambda uow, a: search(uow, a, SubmissionFilter(text="ĐƯỜNG LIÊN THÔN")))
    assert total == 2 and [r.submission.ref for r in found] == ["GP-0001", "GP-0002"]
    _, total = await as_(db, staff["secretary"], lambda uow, a: search(uow, a, SubmissionFilter(text="%")))
    assert total == 0
    found, total = await as_(db, staff["secretary"], lambda uow, a: search(uow, a, SubmissionFilter(limit=2, offset=2)))
    assert total == 3 and [r.submission.ref for r in found] == ["GP-0003"]
