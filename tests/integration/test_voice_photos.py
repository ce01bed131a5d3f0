"""Residents who cannot type, and a photo of the problem: a voice question and photos sent with the
form on Telegram, kept with the submission, played and shown in the console, typed in there, and
erased with the resident's other personal data. Bad input is answered and changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.entrypoints.web.app import create_app
from bot.services.privacy import purge_expired
from bot.services.staff import OPERATOR, add_staff, set_password
from storage.models import Attachment, Resident, Submission, SubmissionFile, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_telegram import consented
from tests.integration.test_web import PASSWORD, SECRET, STAFF, Clock
from tests.support.botapi_double import _TINY_JPEG
from tests.support.phone import running_bot

OGG = b"OggS\x00\x02" + bytes(200)  # an Ogg page's header: what a Telegram voice note starts with


@pytest.fixture
async def console_app(meeting_db):
    """The console with the example meeting's staff and no residents but those the test brings: the
    running bot's sender would try to deliver populate()'s core-only chats."""
    async with UnitOfWork(meeting_db) as uow:
        for login, kw in STAFF.items():
            await add_staff(uow, login=login, actor=OPERATOR, now=utcnow(), **kw)
            await set_password(uow, login, PASSWORD, actor=OPERATOR, now=utcnow())
    return create_app(meeting_db, secret_key=SECRET, clock=Clock())


@pytest.fixture
async def bot(meeting_db, double):
    async with running_bot(meeting_db, double) as telegram:
        yield telegram


async def to_question(p, name: str = "Nguyễn Thị Lan") -> dict:
    await p.say("/dangky", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.tap("Thôn Lai Hà", "Bước 3/6")
    asked = await p.tap("Vấn đề khác", "Bước 4/6")
    return asked


async def finish(p) -> dict:
    await p.tap("Chỉ cần trả lời", "Bước 6/6")
    review = await p.say("Bỏ qua", "kiểm tra lại phiếu")
    await p.tap("Gửi")
    receipt = await p.expect("Mã phiếu")
    return review | {"receipt": receipt["text"]}


async def exported(db, tmp_path) -> dict[str, dict[str, object]]:
    """The answers spreadsheet's rows by code, each by its header."""
    from openpyxl import load_workbook

    from bot.services.exports.spreadsheet import export_answers

    path = tmp_path / "tra-loi.xlsx"
    async with UnitOfWork(db) as uow:
        await export_answers(uow, OPERATOR, "GP-2026", path)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    return {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}


async def kept(db) -> tuple[list[SubmissionFile], list[Attachment]]:
    return await rows(db, SubmissionFile), await rows(db, Attachment)


async def test_a_voice_question_is_kept_played_in_the_console_and_typed_in(meeting_db, double, bot, signed_in, tmp_path):
    p = await consented(double, "Lan")
    await p.say("/dangky", "Bước 1/6")
    await p.say("Nguyễn Thị Lan", "Bước 2/6")
    await p.tap("Thôn Lai Hà", "Bước 3/6")
    await p.tap("Vấn đề khác", "tin nhắn thoại")  # the question step says a voice message will do
    double.send_voice(p.user, duration=42, data=OGG)
    await p.expect("Đã nhận câu hỏi bằng giọng nói (0:42)", "Bước 5/6")
    review = await finish(p)
    assert "🎙 câu hỏi bằng giọng nói (0:42)" in review["text"]
    [s] = [s for s in await rows(meeting_db, Submission) if s.channel == "telegram"]
    assert s.awaiting_transcript and s.question == "🎙 Câu hỏi bằng giọng nói (0:42), chưa gõ lại."
    [voice] = await rows(meeting_db, SubmissionFile)
    assert (voice.submission_id, voice.role, voice.seconds) == (s.id, "voice", 42)

    row = (await exported(meeting_db, tmp_path))[s.ref]
    assert row["Câu hỏi"] == "🎙 Câu hỏi bằng giọng nói (0:42), chưa gõ lại." and row["Ghi âm, ảnh của người dân"] == "🎙 ghi âm 0:42"

    client, csrf = await signed_in("vanphong")
    page = (await client.get(f"/submissions/{s.ref}")).text
    src = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page).group(1)
    played = await client.get(src)
    assert played.status_code == 200 and played.headers["content-type"] == "audio/ogg" and played.content == OGG
    assert "chưa gõ lại" in page
    # Another commune's or a wrong file id: nothing.
    assert (await client.get(src.replace(f"/media/{voice.id}/", f"/media/{voice.id + 99}/"))).status_code == 404

    refused = await client.post(f"/submissions/{s.ref}/transcript", data={"csrf": csrf, "transcript": "ngắn"})
    assert refused.status_code == 400 and (await rows(meeting_db, Submission))[-1].awaiting_transcript
    said = "Đề nghị xã sửa cống thoát nước ở xóm Đông, mưa là ngập."
    assert (await client.post(f"/submissions/{s.ref}/transcript", data={"csrf": csrf, "transcript": said})).status_code == 303
    s = next(x for x in await rows(meeting_db, Submission) if x.ref == s.ref)
    assert (s.question, s.awaiting_transcript) == (said, False)
    listed = (await client.get("/submissions?meeting=&q=cống thoát nước")).text
    assert s.ref in listed  # the typed question is the question everywhere

    head, head_csrf = await signed_in("kinhte")  # a department the question is not assigned to
    assert (await head.post(f"/submissions/{s.ref}/transcript", data={"csrf": head_csrf, "transcript": "Ghi đè nội dung câu hỏi."})).status_code in (403, 404)
    assert (await head.get(src)).status_code in (403, 404)


async def test_photos_come_with_the_question_and_a_caption_is_the_question(meeting_db, double, bot, signed_in, tmp_path):
    p = await consented(double, "Hùng")
    await to_question(p, "Trần Văn Hùng")
    double.send_photo(p.user, caption="Đèn đường ngõ 3 hỏng đã hai tuần, xin xã thay.")
    await p.expect("Đã nhận ảnh (1/3)", "Bước 5/6")
    double.send_photo(p.user)
    await p.expect("Đã nhận ảnh (2/3)", "Bước 5/6")
    review = await finish(p)
    assert "📷 Ảnh gửi kèm: 2" in review["text"] and "Đèn đường ngõ 3 hỏng" in review["text"]
    [s] = [s for s in await rows(meeting_db, Submission) if s.channel == "telegram"]
    files, _ = await kept(meeting_db)
    assert sorted((f.role, f.position) for f in files) == [("photo", 0), ("photo", 1)] and not s.awaiting_transcript
    assert (await exported(meeting_db, tmp_path))[s.ref]["Ghi âm, ảnh của người dân"] == "📷 2 ảnh"

    client, csrf = await signed_in("vanphong")
    page = (await client.get(f"/submissions/{s.ref}")).text
    shown = re.findall(r'<img src="([^"]+)"', page)
    assert len(shown) == 2
    image = await client.get(shown[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"

    # Never on the public page unless the secretariat chooses one; a department cannot.
    from bot.services.answers import publish_conclusion

    async with UnitOfWork(meeting_db) as uow:
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow())
    public = (await client.get("/cong-khai/GP-2026")).text
    assert "Đèn đường ngõ 3 hỏng" in public and "/tep/" not in public
    first = sorted(files, key=lambda f: f.position)[0]
    department, dcsrf = await signed_in("kinhte")
    assert (await department.post(f"/submissions/{s.ref}/answer-files/{first.id}/public", data={"csrf": dcsrf, "public": "1"})).status_code in (403, 404)
    assert (await client.post(f"/submissions/{s.ref}/answer-files/{first.id}/public", data={"csrf": csrf, "public": "1"})).status_code == 303
    public = (await client.get("/cong-khai/GP-2026")).text
    links = re.findall(r'href="(/cong-khai/GP-2026/tep/[^"]+)"', public)
    assert len(links) == 1 and (await client.get(links[0])).content == (await client.get(shown[0])).content


async def test_bad_media_is_answered_and_changes_nothing(meeting_db, double, bot):
    p = await consented(double, "Tư")
    await to_question(p, "Lê Văn Tư")
    before = await kept(meeting_db)
    double.send_voice(p.user, duration=2 * 3600, data=OGG)  # a two-hour voice note
    await p.expect("quá 5 phút", "Bước 4/6")
    double.send_document(p.user, file_name="anh.jpg", mime_type="image/jpeg", data=b"<html><script>alert(1)</script></html>")
    await p.expect("không phải ảnh", "Bước 4/6")
    double.send_document(p.user, file_name="lon.jpg", mime_type="image/jpeg", data=b"\xff\xd8\xff" + bytes(40 * 1024 * 1024))
    await p.expect("Tệp quá lớn", "10 MB")
    double.send_voice(p.user, duration=5, data=_TINY_JPEG)  # a picture sent as a voice note
    await p.expect("không mở được tệp âm thanh")
    assert await kept(meeting_db) == before
    await p.say("Xin hỏi lịch tiêm phòng cho trâu bò năm nay.", "Bước 5/6")
    double.send_sticker(p.user)
    await p.expect("chỉ đọc được tin nhắn chữ", "Bước 5/6")
    for n in (1, 2, 3):
        double.send_photo(p.user)
        await p.expect(f"Đã nhận ảnh ({n}/3)")
    double.send_photo(p.user)
    await p.expect("đã gửi đủ 3 ảnh")
    files, attachments = await kept(meeting_db)
    assert files == [] and len(attachments) == len(before[1]) + 3  # kept with the form, not a submission's yet
    await p.say("/huy", "Đã hủy")
    assert await kept(meeting_db) == before  # a cancelled form's files go with it


async def test_erasure_and_the_purge_remove_the_residents_recordings_and_photos(meeting_db, double, bot):
    p = await consented(double, "Mai")
    await to_question(p, "Đỗ Thị Mai")
    double.send_voice(p.user, duration=30, data=OGG)
    await p.expect("0:30")
    double.send_photo(p.user)
    await p.expect("Đã nhận ảnh (1/3)")
    await finish(p)
    q = await consented(double, "Sơn")
    await to_question(q, "Phan Văn Sơn")
    double.send_photo(q.user, caption="Cầu tạm qua mương bị gãy, trẻ em đi học nguy hiểm.")
    await q.expect("Đã nhận ảnh (1/3)")
    await finish(q)
    assert len(await rows(meeting_db, SubmissionFile)) == 3

    await p.say("/xoadulieu", "xóa họ tên")
    await p.tap("Xóa dữ liệu của tôi", "Đã xóa")
    left = await rows(meeting_db, SubmissionFile)
    assert len(left) == 1 and len(await rows(meeting_db, Attachment)) == 1  # only Sơn's photo
    photo_size = len((await rows(meeting_db, Attachment))[0].data)
    async with UnitOfWork(meeting_db) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        report = await purge_expired(uow, meeting.ends_at + timedelta(days=400))
        await uow.commit()
    assert (report.files_removed, report.bytes_removed) == (1, photo_size)
    assert await rows(meeting_db, SubmissionFile) == [] and await rows(meeting_db, Attachment) == []


async def test_on_the_zalo_bot_photos_come_with_the_question_typed_by_number(meeting_db):
    """The Zalo bot hands a photo over as an address: fetched then, checked, kept with the form. (It
    passes no voice message on to bots: a voice question is Telegram's, where the platform allows it.)"""
    from tests.support.zalo_double import ZaloBotDouble
    from tests.support.zalo_phone import ZaloPhone, running_zalo

    async with ZaloBotDouble() as zb, running_zalo(meeting_db, zb):
        p = ZaloPhone(double=zb, user=zb.user("Vũ Thị Hà"))
        await p.say("xin chào", "Ông/Bà có đồng ý không?")
        await p.say("1", "Cảm ơn Ông/Bà")
        await p.say("đăng ký", "Bước 1/6")
        await p.say("Vũ Thị Hà", "Bước 2/6")
        await p.say("thon phong lam", "Bước 3/6")
        asked = await p.say("van de khac", "Bước 4/6")
        assert "tin nhắn thoại" not in asked["text"]  # not offered where it cannot arrive
        zb.send_image(p.user, caption="Rác thải đổ bừa bãi ở bờ mương thôn, đề nghị xử lý.")
        await p.expect("Đã nhận ảnh (1/3)", "Bước 5/6")
        zb.send_image(p.user)
        await p.expect("Đã nhận ảnh (2/3)")
        zb.send_sticker(p.user)
        await p.expect("chỉ đọc được tin nhắn chữ")
        await p.choose("Chỉ cần trả lời", "Bước 6/6")
        review = await p.say("1", "kiểm tra lại phiếu")
        assert "📷 Ảnh gửi kèm: 2" in review["text"]
        await p.say("1", "Mã phiếu")
        assert zb.real_rejections() == []
    [s] = await rows(meeting_db, Submission)
    assert s.question == "Rác thải đổ bừa bãi ở bờ mương thôn, đề nghị xử lý." and s.channel == "zalo"
    files, attachments = await kept(meeting_db)
    assert [f.role for f in files] == ["photo", "photo"] and all(a.mime_type == "image/png" for a in attachments)


async def test_on_the_zalo_oa_a_voice_question_and_a_photo_are_kept_and_a_long_one_refused(meeting_db):
    """The OA hands a voice message over as an address and says nothing of its length: it is read
    from the recording, and the five-minute limit holds all the same."""
    from tests.support.zalo_double import ZaloOADouble
    from tests.support.zalo_phone import OAPhone, oa_to_question, running_oa
    from tests.unit.test_media_rules import wav

    async with ZaloOADouble() as oa, running_oa(meeting_db, oa) as running:
        p = OAPhone(double=oa, user=oa.user(), url=running.url)
        asked = await oa_to_question(p, "Phạm Thị Dung")
        assert "tin nhắn thoại" in asked["text"]
        assert await oa.send_attachment(p.user, "audio", wav(6 * 60), "audio/wav", url=running.url) == 200
        await p.expect("dài 6:00, quá 5 phút", "Bước 4/6")
        assert await rows(meeting_db, Attachment) == []
        assert await oa.send_attachment(p.user, "audio", wav(40), "audio/wav", url=running.url) == 200
        await p.expect("Đã nhận câu hỏi bằng giọng nói (0:40)", "Bước 5/6")
        assert await oa.send_attachment(p.user, "image", _TINY_JPEG, "image/jpeg", url=running.url) == 200
        await p.expect("Đã nhận ảnh (1/3)")
        await p.choose("Chỉ cần trả lời", "Bước 6/6")
        review = await p.say("1", "kiểm tra lại phiếu")
        assert "🎙 câu hỏi bằng giọng nói (0:40)" in review["text"] and "📷 Ảnh gửi kèm: 1" in review["text"]
        await p.say("1", "Mã phiếu")
    [s] = await rows(meeting_db, Submission)
    assert s.awaiting_transcript and s.channel == "zalo_oa"
    assert sorted((f.role, f.seconds) for f in await rows(meeting_db, SubmissionFile)) == [("photo", None), ("voice", 40)]


async def test_a_form_never_sent_loses_its_recording_once_registration_has_closed(meeting_db, double, bot):
    p = await consented(double, "Bảy")
    await to_question(p, "Ngô Văn Bảy")
    double.send_voice(p.user, duration=20, data=OGG)
    await p.expect("0:20", "Bước 5/6")  # and then nothing more: the form is left as it is
    async with UnitOfWork(meeting_db) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        early = await purge_expired(uow, meeting.registration_closes_at - timedelta(hours=1))
        await uow.commit()
    assert early.files_removed == 0 and len(await rows(meeting_db, Attachment)) == 1  # it may still be sent
    async with UnitOfWork(meeting_db) as uow:
        late = await purge_expired(uow, meeting.registration_closes_at + timedelta(minutes=1))
        await uow.commit()
    assert (late.files_removed, late.bytes_removed) == (1, len(OGG))
    assert await rows(meeting_db, Attachment) == []
    [resident] = [r for r in await rows(meeting_db, Resident)]
    assert resident.state == {}


AMR = b"#!AMR\n" + (bytes([0x3C]) + bytes(31)) * 150  # 3 s of AMR-NB 12.2k frames: Zalo's own voice format


async def test_a_voice_note_no_browser_plays_is_kept_as_ogg_opus(meeting_db):
    """AMR arrives from Zalo; Chromium cannot play it. Debian's ffmpeg makes it Ogg/Opus on arrival
    (.ci/run and the deployment install it), and the length is read from the result."""
    import shutil

    from tests.support.zalo_double import ZaloOADouble
    from tests.support.zalo_phone import OAPhone, oa_to_question, running_oa

    assert shutil.which("ffmpeg"), "apt-get install ffmpeg"
    async with ZaloOADouble() as oa, running_oa(meeting_db, oa) as running:
        p = OAPhone(double=oa, user=oa.user(), url=running.url)
        await oa_to_question(p, "Hoàng Thị Tâm")
        assert await oa.send_attachment(p.user, "audio", AMR, "audio/amr", url=running.url) == 200
        await p.expect("Đã nhận câu hỏi bằng giọng nói (0:03)", "Bước 5/6")
    [attachment] = await rows(meeting_db, Attachment)
    assert attachment.mime_type == "audio/ogg" and attachment.data[:4] == b"OggS" and attachment.filename.endswith(".ogg")
