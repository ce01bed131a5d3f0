"""Village heads in Telegram, through the Bot API double: notices to their own village only,
paper forms whose answers come back to them, figures, and refusals for everyone else."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import Settings
from bot.schedule import Schedule
from bot.services.answers import publish_conclusion, record_answer
from bot.services.staff import OPERATOR, add_staff
from storage.models import AuditEntry, Staff, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.support.phone import Phone, running_bot
from tests.test_telegram import consented, register


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


async def test_a_head_broadcasts_to_the_residents_of_their_village_only(meeting_db, double, bot):
    lam1, lam2, van = [await consented(double, n) for n in ("An", "Bình", "Chi")]
    await register(lam1, village="Thôn Phong Lâm")
    await register(lam2, village="Thôn Phong Lâm")
    await register(van, village="Thôn Văn Lâm")
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Phong Lâm"], name="Ông Đỗ Văn Tiến")
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

    for _ in range(50):
        await schedule.tick()
        if len(reports()) == 2:
            break
        await asyncio.sleep(0.1)
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
    assert all(e.action == "staff.add" for e in await rows(meeting_db, AuditEntry))


async def test_a_head_of_two_villages_picks_one_and_cannot_forge_another(meeting_db, double, bot):
    head = Phone(double, double.user(first_name="Trưởng thôn"))
    await make_staff(meeting_db, head, "village_head", villages=["Thôn Phong Lâm", "Thôn Văn Lâm"])
    picker = await head.say("/thongbao", "thôn nào")
    labels = [b["text"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Thôn Phong Lâm", "Thôn Văn Lâm"]
    tok = picker["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    async with UnitOfWork(meeting_db) as uow:
        other = await uow.staff.village_named("Thôn Lai Hà")
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
        await publish_conclusion(uow, "GP-2026", now=utcnow())
        await uow.commit()
    bot.sender.wake()
    message = await head.expect("phiếu giấy GP-0001", timeout=20)
    assert "Cụ Trần Văn Lão" in message["text"] and "bổ sung danh sách" in message["text"] and "reply_markup" not in message

    figures = await head.say("/thon", "Thôn Lai Hà")
    assert "phiếu giấy: 1" in figures["text"] and "Câu trả lời đã gửi: 1" in figures["text"]


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
    assert mine[:3] == ["thongbao", "nhapphieu", "thon"] and "dangky" in mine
    assert "thongbao" not in [c["command"] for c in double.commands[("default", "")]]
