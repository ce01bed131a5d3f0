"""An answer may carry files (a decision, a map): the resident gets them with the answer, once per
revision, on Telegram as documents or photos and on Zalo as signed links; a file that is not what it
claims, or too big, is refused by name and changes nothing; the public page links only the files the
secretariat marked public."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.entrypoints.web.public import export
from bot.services import public, secretariat
from bot.services.access import Forbidden
from bot.services.answers import AnswerError, publish_conclusion
from bot.services.public import PublicError
from bot.services.staff import OPERATOR, actor_for, add_staff
from storage.models import AuditEntry, Submission, SubmissionFile, utcnow
from storage.uow import UnitOfWork
from tests.conftest import load, rows, second_commune_plan
from tests.integration.test_files import file_server, get
from tests.integration.test_telegram import consented, register
from tests.support.botapi_double import BotAPIDouble
from tests.support.phone import running_bot
from tests.support.zalo_double import ZaloBotDouble
from tests.support.zalo_phone import ZaloPhone, register_on_zalo, running_zalo

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% Quyet dinh so 12/QD-UBND\n%%EOF\n"
PAGE = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def png(colour: str = "blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "PNG")
    return out.getvalue()


async def work(db, job):
    async with UnitOfWork(db) as uow:
        result = await job(uow)
        await uow.commit()
        return result


async def answer(db, ref: str, text: str, files, actor=OPERATOR):
    return await work(db, lambda uow: secretariat.answer(uow, actor, ref, text=text, by="Phòng Kinh tế", now=utcnow(), files=files))


async def publish(db):
    return await work(db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow()))


async def submission(db, ref: str) -> Submission:
    return next(s for s in await rows(db, Submission) if s.ref == ref)


def documents(double: BotAPIDouble, user) -> list[dict]:
    return [m for m in double.messages(user) if "document" in m or "photo" in m]


async def test_a_pdf_reaches_a_telegram_resident_once_and_a_correction_sends_only_the_new_file(meeting_db, double):
    async with running_bot(meeting_db, double) as bot:
        an = await consented(double, "An")
        await register(an, question="Đường liên thôn xuống cấp, khi nào sửa?")
        seen = len(double.messages(an.user))
        await answer(meeting_db, "GP-0001", "Xã sẽ sửa đường trong quý III.", [("Quyết định 12.pdf", PDF)])
        assert len(double.messages(an.user)) == seen  # nothing before publication

        await publish(meeting_db)
        bot.sender.wake()
        await double.wait_until(lambda: len(documents(double, an.user)) == 1, timeout=20)
        text = next(m["text"] for m in double.messages(an.user)[seen:] if "Trả lời câu hỏi GP-0001" in m.get("text", ""))
        assert "📎 Kèm theo 1 tệp" in text and "Quyết định 12.pdf" in text
        [doc] = documents(double, an.user)
        assert doc["document"]["file_name"] == "Quyết định 12.pdf" and doc["document"]["mime_type"] == "application/pdf"
        # After the text, not before it.
        assert double.messages(an.user).index(doc) > next(i for i, m in enumerate(double.messages(an.user)) if "GP-0001" in m.get("text", ""))

        # Publishing again, or saving the same answer with the same file, sends nothing again.
        await publish(meeting_db)
        await answer(meeting_db, "GP-0001", "Xã sẽ sửa đường trong quý III.", [("Quyết định 12.pdf", PDF)])
        assert (await submission(meeting_db, "GP-0001")).answer_revision == 1
        bot.sender.wake()
        await an.say("/trogiup", "Hướng dẫn")
        assert len(documents(double, an.user)) == 1

        # A correction with a map instead of the decision: the correction and the map, once.
        await answer(meeting_db, "GP-0001", "Xã sẽ sửa đường trong quý III.", [("ban-do.png", png())])
        bot.sender.wake()
        await double.wait_until(lambda: len(documents(double, an.user)) == 2, timeout=20)
        await an.say("/trogiup", "Hướng dẫn")
        latest = documents(double, an.user)[-1]
        assert "photo" in latest and len(documents(double, an.user)) == 2
        assert sum("Đính chính" in m.get("text", "") for m in double.messages(an.user)) == 1
        assert len(double.calls_of("sendDocument")) == 1 and len(double.calls_of("sendPhoto")) == 1
    [kept] = await rows(meeting_db, SubmissionFile)
    assert kept.role == "answer" and kept.public is False
    s = await submission(meeting_db, "GP-0001")
    assert (s.answer_revision, s.delivered_revision) == (2, 2)


async def test_a_pdf_reaches_a_zalo_resident_once_as_a_link_that_downloads_the_pdf(meeting_db):
    async with file_server(meeting_db) as (links, server), ZaloBotDouble() as zb, running_zalo(meeting_db, zb, links=links) as running:
        p = ZaloPhone(double=zb, user=zb.user("Nguyễn Văn An"))
        await register_on_zalo(p, "Cống thoát nước xóm 2 bị tắc, xin xử lý.")
        await answer(meeting_db, "GP-0001", "Xã giao Đội công trình nạo vét trong tháng 12.", [("quyet-dinh.pdf", PDF)])
        await publish(meeting_db)
        running.sender.wake()
        await p.expect("Trả lời câu hỏi GP-0001", "📎 Kèm theo 1 tệp")
        link = await p.expect("📎 quyet-dinh.pdf: ")
        url = link["text"].split(": ", 1)[1]
        response, body = await get(server, url)
        assert (response.status, response.content_type, body) == (200, "application/pdf", PDF)
        assert response.headers["Content-Disposition"].startswith("attachment;")

        await publish(meeting_db)
        running.sender.wake()
        await p.say("trợ giúp", "")
        assert sum("quyet-dinh.pdf: http" in m.get("text", "") for m in zb.messages(p.user)) == 1
        assert zb.real_rejections() == []


async def test_files_that_are_not_what_they_claim_or_too_big_are_refused_by_name_and_change_nothing(meeting_db):
    from tests.integration.test_web import populate

    await populate(meeting_db)
    await answer(meeting_db, "GP-0002", "Trả lời ban đầu.", [("so-do.png", png())])
    before = await submission(meeting_db, "GP-0002")
    audits = len(await rows(meeting_db, AuditEntry))
    cases = [
        ([("quyet-dinh.pdf", PAGE)], "quyet-dinh.pdf", "không phải tệp PDF"),
        ([("ban-do.pdf", PDF + b"0" * (40 * 1024 * 1024))], "ban-do.pdf", "20 MB"),
        ([("a.pdf", PDF), ("trang.pdf", PAGE)], "trang.pdf", "không phải"),
        ([(f"{n}.pdf", PDF) for n in range(6)], "tối đa 5 tệp", "6 tệp"),
        ([("rong.pdf", b"")], "rong.pdf", "không có nội dung"),
    ]
    for files, *said in cases:
        with pytest.raises(AnswerError) as refused:
            await answer(meeting_db, "GP-0002", "Trả lời mới có tệp.", files)
        from bot.text.catalogue import Translator

        text = refused.value.text(Translator("vi"))
        assert all(s in text for s in said), text
        assert text.startswith("GP-0002")
    after = await submission(meeting_db, "GP-0002")
    assert (after.answer, after.answer_revision) == (before.answer, before.answer_revision)
    [kept] = await rows(meeting_db, SubmissionFile)
    assert kept.submission_id == before.id
    assert len(await rows(meeting_db, AuditEntry)) == audits


async def test_duplicates_get_the_same_files_and_the_audit_names_them(meeting_db):
    from tests.integration.test_web import populate

    await populate(meeting_db)
    await work(meeting_db, lambda uow: secretariat.mark_duplicate(uow, OPERATOR, "GP-0002", "GP-0001", now=utcnow()))
    await answer(meeting_db, "GP-0001", "Đường sẽ được sửa.", [("quyet-dinh.pdf", PDF), ("ban-do.png", png())])
    kept = await rows(meeting_db, SubmissionFile)
    by_submission = {}
    for f in kept:
        by_submission.setdefault(f.submission_id, []).append(f.position)
    assert sorted(len(v) for v in by_submission.values()) == [2, 2]
    # Keeping the files (None) while changing the text keeps them; [] removes them.
    await answer(meeting_db, "GP-0001", "Đường sẽ được sửa trong tháng 9.", None)
    assert len(await rows(meeting_db, SubmissionFile)) == 4
    await answer(meeting_db, "GP-0001", "Đường sẽ được sửa trong tháng 9.", [])
    assert await rows(meeting_db, SubmissionFile) == []
    entries = [e for e in await rows(meeting_db, AuditEntry) if e.action == "submission.answer"]
    assert entries[0].after["files"] == [{"name": "quyet-dinh.pdf", "bytes": len(PDF)}, {"name": "ban-do.png", "bytes": len(png())}]
    assert entries[-1].before["files"] and entries[-1].after["files"] == []
    # A question marked as the same later gets the original's files too.
    await work(meeting_db, lambda uow: secretariat.mark_duplicate(uow, OPERATOR, "GP-0003", "GP-0001", now=utcnow()))
    await answer(meeting_db, "GP-0001", "Đường sẽ được sửa trong tháng 9.", [("quyet-dinh.pdf", PDF)])
    await work(meeting_db, lambda uow: secretariat.mark_duplicate(uow, OPERATOR, "GP-0004", "GP-0001", now=utcnow()))
    four = await submission(meeting_db, "GP-0004")
    assert [f.submission_id for f in await rows(meeting_db, SubmissionFile)].count(four.id) == 1


async def test_the_console_answer_form_takes_files_lists_them_and_removes_them(signed_in, meeting_db):
    client, csrf = await signed_in("vanphong")
    sent = await client.post("/submissions/GP-0002/answer", data={"csrf": csrf, "mode": "answer", "text": "Đã có quyết định sửa đường."},
                             files=[("files", ("Quyết định.pdf", PDF, "application/pdf")), ("files", ("ban-do.png", png(), "image/png"))])
    assert sent.status_code == 303, sent.text[:500]
    page = (await client.get("/submissions/GP-0002")).text
    assert "Quyết định.pdf" in page and "ban-do.png" in page and 'enctype="multipart/form-data"' in page
    files = sorted(await rows(meeting_db, SubmissionFile), key=lambda f: f.position)
    downloaded = await client.get(f"/submissions/GP-0002/answer-files/{files[0].id}/x")
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf" and downloaded.headers["content-disposition"].startswith("attachment;")
    assert (await client.get(f"/submissions/GP-0001/answer-files/{files[0].id}/x")).status_code == 404  # another submission's

    # A page pretending to be a PDF: refused by name, the answer and its files as they were.
    refused = await client.post("/submissions/GP-0002/answer", data={"csrf": csrf, "mode": "answer", "text": "Trả lời khác."},
                                files=[("files", ("bao-cao.pdf", PAGE, "application/pdf"))])
    assert refused.status_code == 400 and "bao-cao.pdf" in refused.text
    assert len(await rows(meeting_db, SubmissionFile)) == 2
    assert (await submission(meeting_db, "GP-0002")).answer == "Đã có quyết định sửa đường."

    # Ticking "xóa" on the map keeps the decision only: a new revision.
    dropped = await client.post("/submissions/GP-0002/answer", data={"csrf": csrf, "mode": "answer", "text": "Đã có quyết định sửa đường.",
                                                                    "drop_file": str(files[1].id)})
    assert dropped.status_code == 303
    [left] = await rows(meeting_db, SubmissionFile)
    assert (await submission(meeting_db, "GP-0002")).answer_revision == 2
    assert (await client.get(f"/submissions/GP-0002/answer-files/{left.id}/x")).content == PDF


async def test_the_public_page_links_only_files_marked_public_and_serves_only_those(signed_in, meeting_db, console_app, tmp_path: Path):
    client, csrf = await signed_in("vanphong")
    await answer(meeting_db, "GP-0003", "Xã hỗ trợ 50% giống lúa.", [("Quyết định hỗ trợ.pdf", PDF), ("danh-sach.png", png())])
    decision, photo = sorted(await rows(meeting_db, SubmissionFile), key=lambda f: f.position)
    marked = await client.post(f"/submissions/GP-0003/answer-files/{decision.id}/public", data={"csrf": csrf, "public": "1"})
    assert marked.status_code == 303
    assert (await client.get(f"/cong-khai/GP-2026/tep/{decision.id}/x")).status_code == 404  # not published yet

    await publish(meeting_db)
    anyone = client.__class__(transport=client._transport, base_url="http://console.test")
    page = (await anyone.get("/cong-khai/GP-2026")).text
    href = f"/cong-khai/GP-2026/tep/{decision.id}/Quy%E1%BA%BFt%20%C4%91%E1%BB%8Bnh%20h%E1%BB%97%20tr%E1%BB%A3.pdf"
    assert href in page and f"/tep/{photo.id}/" not in page and "danh-sach.png" not in page
    served = await anyone.get(href)
    assert served.status_code == 200 and served.content == PDF and served.headers["content-type"] == "application/pdf"
    for refused in (f"/cong-khai/GP-2026/tep/{photo.id}/danh-sach.png", "/cong-khai/GP-2026/tep/999999/x.pdf", f"/cong-khai/TP-2026/tep/{decision.id}/x",
                    "/cong-khai/GP-2026/tep/abc/x"):
        assert (await anyone.get(refused)).status_code == 404, refused

    # Hidden from the page: its files go with it.
    await work(meeting_db, lambda uow: public.hide(uow, OPERATOR, "GP-0003", "Thông tin riêng của hộ dân.", now=utcnow()))
    assert (await anyone.get(href)).status_code == 404
    await work(meeting_db, lambda uow: public.show(uow, OPERATOR, "GP-0003", now=utcnow()))

    # The export for the portal: the file next to index.html, linked relatively.
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        found = await public.published(uow, "GP-2026", now=utcnow())
        files = await public.exported_files(uow, found)
    index = export(found, tmp_path / "out", files)
    [(name, data)] = files.items()
    assert data == PDF and (tmp_path / "out" / name).read_bytes() == PDF and name == f"tep-{decision.id}-Quyet-dinh-ho-tro.pdf"
    assert f'href="{name}"' in index.read_text(encoding="utf-8")

    # Taken off again: audited both ways.
    await client.post(f"/submissions/GP-0003/answer-files/{decision.id}/public", data={"csrf": csrf, "public": "0"})
    assert f"/tep/{decision.id}/" not in (await anyone.get("/cong-khai/GP-2026")).text
    entries = [e for e in await rows(meeting_db, AuditEntry) if e.action == "public.file"]
    assert [(e.after["file"], e.after["public"]) for e in entries] == [("Quyết định hỗ trợ.pdf", True), ("Quyết định hỗ trợ.pdf", False)]
    await anyone.aclose()


async def test_only_those_who_run_the_meeting_mark_files_public(signed_in, meeting_db):
    await answer(meeting_db, "GP-0001", "Đường sẽ được sửa.", [("quyet-dinh.pdf", PDF)])
    [kept] = await rows(meeting_db, SubmissionFile)
    for login in ("kinhte", "truongthon"):
        client, csrf = await signed_in(login)
        response = await client.post(f"/submissions/GP-0001/answer-files/{kept.id}/public", data={"csrf": csrf, "public": "1"})
        assert response.status_code in (403, 404), (login, response.status_code)
    await load(meeting_db, second_commune_plan())

    async def other_commune(uow):
        await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", login="tanphong", commune="TP", actor=OPERATOR, now=utcnow())
        return await actor_for(uow, await uow.staff.by_login("tanphong"))

    tanphong = await work(meeting_db, other_commune)
    for actor in (tanphong,):
        with pytest.raises((Forbidden, AnswerError, PublicError)):
            await work(meeting_db, lambda uow: public.file_public(uow, actor, "GP-0001", kept.id, True, now=utcnow()))
    with pytest.raises(PublicError):  # a file of another submission
        await work(meeting_db, lambda uow: public.file_public(uow, OPERATOR, "GP-0002", kept.id, True, now=utcnow()))
    [kept] = await rows(meeting_db, SubmissionFile)
    assert kept.public is False
    assert not [e for e in await rows(meeting_db, AuditEntry) if e.action == "public.file"]


async def test_a_pdf_reaches_a_zalo_oa_resident_once_as_a_link(meeting_db):
    from tests.support.zalo_double import ZaloOADouble
    from tests.support.zalo_phone import OAPhone, oa_registered, running_oa

    async with file_server(meeting_db) as (links, server), ZaloOADouble() as oa, running_oa(meeting_db, oa, links=links) as running:
        p = OAPhone(double=oa, user=oa.user(), url=running.url)
        await oa_registered(p)
        await answer(meeting_db, "GP-0001", "Tháng 12 xã nạo vét kênh mương.", [("quyet-dinh.pdf", PDF)])
        await publish(meeting_db)
        running.channel.sender.wake()
        await p.expect("Trả lời câu hỏi GP-0001", "📎 Kèm theo 1 tệp")
        link = await p.expect("📎 quyet-dinh.pdf: ")
        response, body = await get(server, link["text"].split(": ", 1)[1])
        assert (response.status, response.content_type, body) == (200, "application/pdf", PDF)
        await publish(meeting_db)  # again: nothing twice
        running.channel.sender.wake()
        await p.say("trợ giúp", "")
        assert sum("quyet-dinh.pdf: http" in m.get("text", "") for m in oa.messages(p.user)) == 1
