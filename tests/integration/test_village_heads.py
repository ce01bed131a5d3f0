"""Village heads in Telegram, through the Bot API double: notices to their own village only,
paper forms whose answers come back to them, figures, and refusals for everyone else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from bot.entrypoints.schedule import Schedule
from bot.entrypoints.settings import Settings
from bot.services.answers import publish_conclusion, record_answer
from bot.services.notices import _progress_slot, keep_notice_file, notify_villages, report_village_notices
from bot.services.staff import OPERATOR, actor_for, add_staff
from storage.models import Attachment, AuditEntry, Outbox, Resident, Staff, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_telegram import consented, register
from tests.support.botapi_double import UploadedFile
from tests.support.eventually import eventually
from tests.support.phone import Phone, running_bot


@pytest.fixture
async def bot(meeting_db, double):
    async with running_bot(meeting_db, double) as telegram:
        yield telegram


async def make_staff(db, phone: Phone | None, role: str, **kw) -> Staff:
    async with UnitOfWork(db) as uow:
        staff = await add_staff(uow, name=kw.pop("name", "Cán bộ"), role=role, telegram_id=str(phone.user.id) if phone else None,
                                actor=OPERATOR, now=utcnow(), **kw)
        await uow.commit()
        return staff


async def two_villages_and_a_head(db, double) -> tuple[Phone, Phone, Phone, Phone]:
    """Two registered residents of Thôn Phong Lâm, one of Thôn Văn Lâm, and Phong Lâm's head."""
    lam1, lam2, van = [await consented(double, n) for n in ("An", "Bình", "Chi")]
    await register(lam1, village="Thôn Phong Lâm")
    await register(lam2, village="Thôn Phong Lâm")
    await register(van, village="Thôn Văn Lâm")
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(db, head, "village_head", villages=["Thôn Phong Lâm"], name="Ông Đỗ Văn Tiến")
    return lam1, lam2, van, head


async def test_a_head_broadcasts_to_the_residents_of_their_village_only(meeting_db, double, bot):
    lam1, lam2, van, head = await two_villages_and_a_head(meeting_db, double)
    before = {p.user.id: len(double.messages(p.user)) for p in (lam1, lam2, van)}

    await head.say("/thongbao", "Thông báo cho Thôn Phong Lâm")
    preview = await head.say("Tối nay 19:00 họp thôn tại nhà văn hóa để bàn ý kiến gửi hội nghị.", "Xem trước", "2 người dân")
    assert "Tối nay 19:00" in preview["text"]
    await head.tap("Gửi", "đang được gửi đến 2 người dân")
    bot.sender.wake()
    await double.wait_until(lambda: all(len(double.messages(p.user)) == before[p.user.id] + 1 for p in (lam1, lam2)))
    notice = double.messages(lam1.user)[-1]["text"]
    assert "Thông báo của Thôn Phong Lâm" in notice and "Tối nay 19:00" in notice and "Ông Đỗ Văn Tiến" in notice
    await van.say("/trogiup", "Hướng dẫn")
    assert len(double.messages(van.user)) == before[van.user.id] + 1  # only the help: no notice for another village
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "village.notice"]
    assert entry.target == "village Thôn Phong Lâm" and entry.after["recipients"] == 2

    # One of them blocks the bot before a second notice: the head hears the final count, once.
    double.block(lam2.user)
    await head.say("/thongbao", "Thông báo cho Thôn Phong Lâm")
    await head.say("Sáng mai 7:00 ra quân dọn vệ sinh đường làng.", "Xem trước", "2 người dân")
    await head.tap("Gửi", "đang được gửi")
    bot.sender.wake()
    await double.wait_until(lambda: any(r.error_code == 403 for r in double.rejections))
    schedule = Schedule(meeting_db, Settings(_env_file=None), bot.sender)
    def reports() -> list[str]:
        return [m["text"] for m in double.messages(head.user) if "gửi xong" in m.get("text", "")]

    async def both_reported() -> bool:
        await schedule.tick()
        return len(reports()) == 2

    await eventually(both_reported)
    first, second = reports()  # one report per notice
    assert "2 người dân đã nhận, 0 người không liên lạc được" in first
    assert "1 người dân đã nhận, 1 người không liên lạc được" in second
    await schedule.tick()
    await head.say("/thon", "Thôn Phong Lâm")
    assert len(reports()) == 2  # and never again
    double.rejections.clear()  # the 403 was Telegram's answer for a blocked chat


async def test_staff_commands_are_invisible_to_residents_and_other_roles(meeting_db, double, bot):
    resident = await consented(double, "An")
    await resident.say("/thongbao", "chưa hiểu lệnh này")
    await resident.say("/nhapphieu", "chưa hiểu lệnh này")
    stranger = Phone(double, double.user(first_name="Lạ"))
    await stranger.say("/thon", "chưa hiểu lệnh này")
    department = Phone(double, double.user(first_name="Phòng"))
    await make_staff(meeting_db, department, "department", department="Phòng Kinh tế")
    await department.say("/thongbao", "chưa hiểu lệnh này")
    assert [s for s in await rows(meeting_db, Submission)] == []
    assert all(e.action in ("staff.add", "meeting.plan") for e in await rows(meeting_db, AuditEntry))  # the operator's set-up only


async def test_a_head_of_two_villages_picks_one_and_cannot_forge_another(meeting_db, double, bot):
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Phong Lâm", "Thôn Văn Lâm"])
    picker = await head.say("/thongbao", "thôn nào")
    labels = [b["text"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Thôn Phong Lâm", "Thôn Văn Lâm"]
    tok = picker["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    async with UnitOfWork(meeting_db) as uow:
        other = (await uow.staff.villages_named("Thôn Lai Hà"))[0]
    forged = double.press_raw(head.user, picker["message_id"], f"vh:{tok}:v:{other.id}")
    assert await double.wait_answered(forged) == "Nút này đã hết hiệu lực."
    [staff] = await rows(meeting_db, Staff)
    assert staff.state["step"] == "village"  # nothing chosen


async def test_a_paper_form_gets_a_code_and_its_answer_reaches_the_head(meeting_db, double, bot):
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"], name="Bà Nguyễn Thị Hoa")
    await head.say("/nhapphieu", "Nhập phiếu giấy")
    await head.expect("Bước 1/6")
    await head.say("Cụ Trần Văn Lão", "Bước 3/6")  # one village: nothing to choose
    await head.tap("Vấn đề khác", "Bước 4/6")
    await head.say("Cụ đề nghị xã xem lại chế độ cho người cao tuổi.", "Bước 5/6")
    await head.tap("Chỉ cần trả lời", "Bước 6/6")
    assert double.messages(head.user)[-1]["reply_keyboard"]["keyboard"] == [[{"text": "Bỏ qua"}]]  # no contact sharing
    await head.say("0987 654 321", "kiểm tra lại phiếu", "Cụ Trần Văn Lão")
    await head.tap("Gửi")
    receipt = await head.expect("Mã phiếu: GP-0001")
    assert "ghi mã này lên phiếu giấy" in receipt["text"]
    [paper] = await rows(meeting_db, Submission)
    assert (paper.channel, paper.resident_id, paper.name, paper.phone) == ("paper", None, "Cụ Trần Văn Lão", "0987654321")
    assert paper.entered_by_staff_id is not None
    assert any(e.action == "submission.paper" for e in await rows(meeting_db, AuditEntry))

    async with UnitOfWork(meeting_db) as uow:
        await record_answer(uow, "GP-0001", text="Xã sẽ rà soát và bổ sung danh sách trong tháng 7.", by="Phòng Văn hóa - Xã hội", now=utcnow())
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow())
        await uow.commit()
    bot.sender.wake()
    message = await head.expect("phiếu giấy GP-0001", timeout=20)
    assert "Cụ Trần Văn Lão" in message["text"] and "bổ sung danh sách" in message["text"] and "reply_markup" not in message

    figures = await head.say("/thon", "Thôn Lai Hà")
    assert "phiếu giấy: 1" in figures["text"] and "Câu trả lời đã gửi: 1" in figures["text"]


async def test_answers_no_message_brings_are_on_the_heads_hand_over_list(meeting_db, double, bot):
    reached, blocked = await consented(double, "An"), await consented(double, "Bình")
    await register(reached, village="Thôn Phong Lâm", question="Câu hỏi của người nhận được tin nhắn.")
    await register(blocked, village="Thôn Phong Lâm", question="Câu hỏi của người đã chặn bot.")
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Phong Lâm"], name="Ông Đỗ Văn Tiến")
    await head.say("/nhapphieu", "Bước 1/6")
    await head.say("Cụ Trần Văn Lão", "Bước 3/6")
    await head.tap("Vấn đề khác", "Bước 4/6")
    await head.say("Cụ hỏi về chế độ cho người cao tuổi.", "Bước 5/6")
    await head.tap("Chỉ cần trả lời", "Bước 6/6")
    await head.say("Bỏ qua", "kiểm tra lại phiếu")
    await head.tap("Gửi", "Mã phiếu: GP-0003")
    await head.say("/bangiao", "không có câu trả lời nào cần chuyển tận tay")  # nothing published yet

    double.fail_chat(blocked.user, 403)  # they blocked the bot
    async with UnitOfWork(meeting_db) as uow:
        for ref in ("GP-0001", "GP-0002", "GP-0003"):
            await record_answer(uow, ref, text=f"Trả lời {ref}.", now=utcnow())
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow())
        await uow.commit()
    bot.sender.wake()
    await reached.expect("Trả lời GP-0001.", timeout=20)
    await head.expect("phiếu giấy GP-0003", timeout=20)
    async def blocked_found_out() -> bool:  # the blocked chat is found out when its answer is tried
        return any(o.status == "unreachable" for o in await rows(meeting_db, Outbox))

    await eventually(blocked_found_out)
    listing = await head.say("/bangiao", "2 câu trả lời cần chuyển tận tay")
    assert "GP-0002" in listing["text"] and "Trả lời GP-0002." in listing["text"] and "tin nhắn không đến được" in listing["text"]
    assert "GP-0003" in listing["text"] and "Cụ Trần Văn Lão (phiếu giấy)" in listing["text"]
    assert "GP-0001" not in listing["text"]  # it reached its asker

    # The blocked resident comes back: the answer waiting for them goes out, and leaves the list.
    double.clear_faults(blocked.user)
    await blocked.say("/lichhop", "Trả lời GP-0002.")
    listing = await head.say("/bangiao", "1 câu trả lời cần chuyển tận tay")
    assert "GP-0002" not in listing["text"]


async def test_cancel_leaves_nothing_behind(meeting_db, double, bot):
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"])
    await head.say("/nhapphieu", "Bước 1/6")
    await head.say("Cụ Trần Văn Lão", "Bước 3/6")
    await head.say("/lichhop", "đang nhập dở")
    await head.say("/huy", "Đã hủy")
    assert (await rows(meeting_db, Staff))[0].state == {}
    assert await rows(meeting_db, Submission) == []


async def test_heads_see_their_commands_in_their_own_menu_only(meeting_db, double):
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    head.send("/start")  # they have opened the bot
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"])
    async with running_bot(meeting_db, double):
        await double.wait_until(lambda: (f"chat:{head.user.id}", "") in double.commands)
    mine = [c["command"] for c in double.commands[(f"chat:{head.user.id}", "")]]
    assert mine[:4] == ["thongbao", "nhapphieu", "thon", "bangiao"] and "dangky" in mine
    assert "thongbao" not in [c["command"] for c in double.commands[("default", "")]]


async def notices_queued(db) -> list[Outbox]:
    return [o for o in await rows(db, Outbox) if o.kind == "village_notice"]


async def test_a_head_sends_a_photo_with_its_caption_to_their_village_only(meeting_db, double, bot):
    lam1, lam2, van, head = await two_villages_and_a_head(meeting_db, double)
    before = {p.user.id: len(double.messages(p.user)) for p in (lam1, lam2, van)}

    await head.say("/thongbao", "Thông báo cho Thôn Phong Lâm", "một ảnh hoặc một tệp (tối đa 10 MB)")
    caption = "Lịch tiêm phòng cho trẻ em thôn Phong Lâm, xin xem ảnh kèm theo."
    sent = double.send_photo(head.user, caption=caption)
    photo = double.files[sent["message"]["photo"][-1]["file_id"]].data
    preview = await head.expect("Xem trước", "2 người dân", "📎 Kèm theo: một ảnh (1 KB)")
    assert caption in preview["text"]
    await head.tap("Gửi", "đang được gửi đến 2 người dân")
    bot.sender.wake()
    await double.wait_until(lambda: all(len(double.messages(p.user)) == before[p.user.id] + 2 for p in (lam1, lam2)))
    for p in (lam1, lam2):
        text, picture = double.messages(p.user)[-2:]  # the text, then the photo
        assert "Thông báo của Thôn Phong Lâm" in text["text"] and caption in text["text"] and "Ông Đỗ Văn Tiến" in text["text"]
        assert double.files[picture["photo"][-1]["file_id"]].data == photo
    uploads = [c["photo"] for c in double.calls_of("sendPhoto")]
    assert len(uploads) == 2 and sum(isinstance(u, UploadedFile) for u in uploads) == 1  # uploaded once, then sent by its id
    await van.say("/trogiup", "Hướng dẫn")
    assert len(double.messages(van.user)) == before[van.user.id] + 1  # only the help: nothing from another village
    [attachment] = await rows(meeting_db, Attachment)
    assert (attachment.mime_type, attachment.data) == ("image/jpeg", photo)
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "village.notice"]
    assert entry.after["recipients"] == 2 and entry.after["attachment"] == attachment.filename


async def test_a_file_can_follow_the_text_and_replace_what_the_preview_showed(meeting_db, double, bot):
    resident = await consented(double, "An")
    await register(resident, village="Thôn Lai Hà")
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"], name="Bà Nguyễn Thị Hoa")

    # A photo without a caption is kept while the head types the text; cancelling drops it.
    await head.say("/thongbao", "Thông báo cho Thôn Lai Hà")
    double.send_photo(head.user)
    await head.expect("Đã nhận một ảnh", "gõ nội dung thông báo")
    assert len(await rows(meeting_db, Attachment)) == 1
    await head.say("Chiều nay 14:00 họp chi hội phụ nữ.", "Xem trước", "Kèm theo: một ảnh")
    await head.tap("Hủy", "Đã hủy")
    assert await rows(meeting_db, Attachment) == [] and await notices_queued(meeting_db) == []

    # Text first; the preview offers a file; the file sent then makes a new preview and the old one expires.
    await head.say("/thongbao", "Thông báo cho Thôn Lai Hà")
    first = await head.say("Lịch trực phòng chống bão tuần này, xin bà con xem tệp đính kèm.", "Xem trước", "trước khi bấm Gửi")
    assert "Kèm theo" not in first["text"]
    double.send_document(head.user, file_name="lich-truc.pdf", data=b"%PDF-1.4\nlich truc\n%%EOF\n")
    second = await head.expect("Xem trước", "📎 Kèm theo: tệp lich-truc.pdf", "Lịch trực phòng chống bão")
    old_send = next(b["callback_data"] for row in first["reply_markup"]["inline_keyboard"] for b in row if "Gửi" in b["text"])
    assert await double.wait_answered(double.press(head.user, first, old_send)) == "Nút này đã hết hiệu lực."
    assert await notices_queued(meeting_db) == []
    before = len(double.messages(resident.user))
    message, data = head.find_button("Gửi")
    assert message["message_id"] == second["message_id"]
    await double.wait_answered(double.press(head.user, message, data))
    await head.expect("đang được gửi đến 1 người dân")
    bot.sender.wake()
    await double.wait_until(lambda: len(double.messages(resident.user)) == before + 2)
    text, document = double.messages(resident.user)[-2:]
    assert "Lịch trực phòng chống bão" in text["text"]
    assert document["document"]["file_name"] == "lich-truc.pdf"
    assert double.files[document["document"]["file_id"]].data == b"%PDF-1.4\nlich truc\n%%EOF\n"
    assert double.calls_of("sendPhoto") == []
    [attachment] = await rows(meeting_db, Attachment)  # the cancelled photo is gone; the file stays for its messages
    assert attachment.filename == "lich-truc.pdf"


async def test_a_file_too_big_is_refused_and_residents_photos_are_never_fetched(meeting_db, double, bot):
    resident = await consented(double, "An")
    await register(resident, village="Thôn Lai Hà")
    double.send_photo(resident.user, caption="Ảnh đường hỏng")
    await resident.expect("chỉ đọc được tin nhắn chữ")
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"])

    await head.say("/thongbao", "Thông báo cho Thôn Lai Hà")
    big = b"%PDF-1.4\n" + bytes(10 * 1024 * 1024)
    double.send_document(head.user, file_name="ban-do.pdf", data=big, caption="Bản đồ quy hoạch khu dân cư mới của thôn.")
    await head.expect("quá mức 10 MB", "thông báo đang soạn vẫn giữ nguyên")
    assert double.calls_of("getFile") == []  # refused on its declared size, never downloaded
    [staff] = await rows(meeting_db, Staff)
    assert staff.state["step"] == "text" and "attachment_id" not in staff.state
    assert await rows(meeting_db, Attachment) == [] and await notices_queued(meeting_db) == []

    # Telegram fails to hand the file over: the head is told, nothing changes.
    await head.say("Tối thứ Sáu họp thôn bàn quy hoạch khu dân cư mới.", "Xem trước")
    double.fail_next("getFile", 1, error_code=500)
    double.send_document(head.user, file_name="ban-do-nho.pdf")
    await head.expect("chưa tải được ảnh/tệp này")
    assert await rows(meeting_db, Attachment) == []
    await head.tap("Gửi", "đang được gửi đến 1 người dân")
    bot.sender.wake()
    await double.wait_until(lambda: "quy hoạch" in double.messages(resident.user)[-1].get("text", ""))
    [queued] = await notices_queued(meeting_db)
    assert queued.payload["document"] is None
    assert double.calls_of("sendDocument") == [] and double.calls_of("sendPhoto") == []
    assert len(double.calls_of("getFile")) == 0  # the failed one was refused; the resident's photo was never asked for


async def test_a_long_notice_reports_progress_now_and_then_and_the_final_count_once(meeting_db):
    assert [_progress_slot(timedelta(seconds=s)) for s in (59, 60, 179, 180, 419, 420, 900)] == [None, 0, 0, 1, 1, 2, 3]
    t0 = datetime(2026, 5, 4, 2, 0, tzinfo=timezone.utc)
    async with UnitOfWork(meeting_db) as uow:
        village = (await uow.staff.villages_named("Thôn Phong Lâm"))[0]
        head = await add_staff(uow, name="Ông Đỗ Văn Tiến", role="village_head", telegram_id="900", villages=["Thôn Phong Lâm"],
                               actor=OPERATOR, now=t0)
        for n in range(5):
            uow.residents.add(Resident(channel="telegram", external_id=str(500 + n), chat_id=str(500 + n), village_id=village.id,
                                    consented_at=t0, created_at=t0))
        await uow.flush()
        file_id = await keep_notice_file(uow, filename="so-do.png", mime_type="image/png", data=b"\x89PNG not really", now=t0)
        count = await notify_villages(uow, await actor_for(uow, head), [village.id], "Sơ đồ điểm bầu cử của thôn, xin xem ảnh.",
                                      sender=head.name, now=t0, attachment_id=file_id)
        await uow.commit()
    assert count == 5

    async def tick(after: timedelta) -> list[str]:
        async with UnitOfWork(meeting_db) as uow:
            await report_village_notices(uow, t0 - timedelta(days=2), now=t0 + after)
            await uow.commit()
            told = (await uow.session.exec(select(Outbox).where(Outbox.chat_id == "900").order_by(Outbox.id))).all()
        return [o.payload["text"] for o in told]

    async def deliver(*chats: int, file: bool = True) -> None:
        async with UnitOfWork(meeting_db) as uow:
            for o in await notices_queued(meeting_db):
                if int(o.chat_id) - 500 in chats and (file or "#" not in o.key):
                    await uow.outbox.mark_sent(o.id)
            await uow.commit()

    assert len(await notices_queued(meeting_db)) == 10  # a text and a photo each
    assert await tick(timedelta(seconds=30)) == []  # a quick notice gets no progress message
    await deliver(0, 1)
    await deliver(2, file=False)  # text delivered, photo still queued: not done yet
    [progress] = await tick(timedelta(seconds=90))
    assert progress.startswith("⏳") and "2/5 người dân đã nhận, 0 người không liên lạc được" in progress
    assert await tick(timedelta(seconds=150)) == [progress]  # not again within the next few minutes
    async with UnitOfWork(meeting_db) as uow:
        await uow.outbox.mark_chat_unreachable("telegram", "503", "forbidden: bot was blocked by the user")
        await uow.commit()
    first, second = await tick(timedelta(minutes=3, seconds=5))
    assert first == progress and "2/5 người dân đã nhận, 1 người không liên lạc được" in second
    await deliver(2, 4)
    told = await tick(timedelta(minutes=4))
    assert len(told) == 3 and "gửi xong: 4 người dân đã nhận, 1 người không liên lạc được" in told[-1]
    assert await tick(timedelta(minutes=40)) == told  # done: neither progress nor the report again
    [attachment] = await rows(meeting_db, Attachment)
    assert attachment.id == file_id  # kept: delivered messages may still be retried or read back
