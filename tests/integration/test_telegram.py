"""Residents on Telegram: the real bot polling a strict Bot API double over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from storage.models import Inbound, Outbox, Resident, Submission
from tests.conftest import load, plan_text, rows
from tests.support.botapi_double import BotAPIDouble
from tests.support.eventually import eventually
from tests.support.phone import Phone, running_bot


@pytest.fixture
async def bot(meeting_db, double):
    async with running_bot(meeting_db, double) as telegram:
        yield telegram


def phone(double: BotAPIDouble, name: str = "An", lang: str = "vi") -> Phone:
    return Phone(double, double.user(first_name=name, language_code=lang))


async def consented(double: BotAPIDouble, name: str = "An") -> Phone:
    p = phone(double, name)
    await p.say("/start", "Ông/Bà có đồng ý không?")
    await p.tap("Đồng ý", "Đăng ký phát biểu")
    return p


async def register(p: Phone, *, name="Nguyễn Văn An", village="Thôn Phong Lâm", question="Đường liên thôn xuống cấp, khi nào sửa?") -> dict:
    await p.say("📝 Đăng ký phát biểu", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.tap(village, "Bước 3/6")
    await p.tap("Vấn đề khác", "Bước 4/6")
    await p.say(question, "Bước 5/6")
    await p.tap("Chỉ cần trả lời", "Bước 6/6")
    await p.say("Bỏ qua", "kiểm tra lại phiếu")
    await p.tap("Gửi")
    return await p.expect("Mã phiếu")


async def test_from_start_to_receipt(meeting_db, double, bot):
    p = phone(double)
    greeting = await p.say("/start", "Kính chào Ông/Bà", "Xã Gia Phúc")
    assert "Hội nghị đối thoại" in greeting["text"] and "từ 08:00 đến 11:30" in greeting["text"]
    assert "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc" in greeting["text"] and "Hạn đăng ký phát biểu: 23:59" in greeting["text"]
    consent = await p.expect("91/2025/QH15", "Ông/Bà có đồng ý không?")
    assert [b["text"] for b in consent["reply_markup"]["inline_keyboard"][0]] == ["Đồng ý", "Không đồng ý"]
    assert await rows(meeting_db, Resident) == []

    toast = await p.tap("Đồng ý", "Đăng ký phát biểu")
    assert toast == "Cảm ơn Ông/Bà đã đồng ý."
    assert p.keyboard() == ["📝 Đăng ký phát biểu", "📅 Lịch hội nghị", "📋 Câu hỏi của tôi", "❓ Hướng dẫn"]
    assert "reply_markup" not in double.messages(p.user)[1]  # the consent buttons are gone once used

    await p.say("📝 Đăng ký phát biểu", "Bước 1/6", "họ và tên")
    villages = await p.say("Nguyễn Văn An", "Bước 2/6")
    assert [b["text"] for row in villages["reply_markup"]["inline_keyboard"] for b in row][:2] == ["Thôn Phong Lâm", "Thôn Văn Lâm"]
    await p.tap("Thôn Phong Lâm", "✔️ Thôn Phong Lâm", "Bước 3/6")
    await p.tap("Môi trường", "Bước 4/6")
    await p.say("Đề nghị sửa đường liên thôn Phong Lâm đi Văn Lâm.", "Bước 5/6")
    await p.tap("Phát biểu trực tiếp", "Bước 6/6")
    phone_keyboard = p.double.messages(p.user)[-1]["reply_keyboard"]["keyboard"]
    assert phone_keyboard[0][0] == {"text": "📱 Chia sẻ số điện thoại", "request_contact": True}
    double.send_contact(p.user, "+84912345678")
    await p.expect("Số điện thoại: 0912345678")
    review = await p.expect("kiểm tra lại phiếu")
    assert "Họ tên: Nguyễn Văn An" in review["text"] and "Hình thức: Phát biểu trực tiếp tại hội nghị" in review["text"]
    assert p.keyboard()[0] == "📝 Đăng ký phát biểu"  # the main menu is back after the phone step

    toast = await p.tap("Gửi")
    assert toast == "Đã gửi. Mã phiếu GP-0001"
    receipt = await p.expect("Mã phiếu: GP-0001")
    assert "08:00" in receipt["text"] and "Hội trường Nhà Văn hoá" in receipt["text"] and "Telegram" in receipt["text"]

    [s] = await rows(meeting_db, Submission)
    assert (s.ref, s.name, s.phone, s.wants_to_speak, s.channel) == ("GP-0001", "Nguyễn Văn An", "0912345678", True, "telegram")
    # The command menu was registered, in Vietnamese by default and in English for English apps.
    assert [c["command"] for c in double.commands[("default", "")]] == ["start", "dangky", "lichhop", "cauhoi", "huy", "trogiup", "tatthongbao", "batthongbao", "xoadulieu"]
    assert [c["command"] for c in double.commands[("default", "en")]][:3] == ["start", "register", "meeting"]
    # Each message is recorded as sent just after the platform took it: give the last record a moment.
    async def all_sent() -> bool:
        return all(o.status == "sent" for o in await rows(meeting_db, Outbox))

    await eventually(all_sent)


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(meeting_db, double, bot):
    p = await consented(double)
    await p.say("/dangky", "Bước 1/6")
    double.send_sticker(p.user)
    await p.expect("chỉ đọc được tin nhắn chữ", "Bước 1/6")
    double.send_photo(p.user)
    await p.expect("chỉ đọc được tin nhắn chữ")
    double.send_voice(p.user)
    await p.expect("Tin nhắn thoại chỉ dùng để đặt câu hỏi, ở bước 4")
    double.send_document(p.user)
    await p.expect("chỉ đọc được tin nhắn chữ")
    await p.say("A", "từ 2 đến 100 ký tự (Ông/Bà đã gõ 1 ký tự)")
    await p.say("B" * 101, "(Ông/Bà đã gõ 101 ký tự)")
    name_message = await p.say("Trần Thị Bình", "Bước 2/6")
    await p.say("tôi không biết", "bấm một nút", "Bước 2/6")
    await p.tap("Thôn Trúc Lâm", "Bước 3/6")
    # The village buttons from before: pressed again, they are refused and change nothing.
    old = double.press_raw(p.user, name_message["message_id"] + 0, "f:000000:village:1")
    assert await double.wait_answered(old) == "Nút này đã hết hiệu lực."
    await p.tap("Vấn đề khác", "Bước 4/6")
    await p.say("Ngắn", "ít nhất 10 ký tự (Ông/Bà đã gõ 4 ký tự)")
    await p.say("x" * 3001, "tối đa 3000 ký tự (Ông/Bà đã gõ 3001 ký tự)")
    await p.say("/lichhop", "Hội trường")
    await p.expect("tiếp tục phiếu đăng ký", "Bước 4/6")
    await p.say("Đề nghị xã làm rõ kế hoạch nạo vét kênh tưới.", "Bước 5/6")
    await p.tap("Chỉ cần trả lời", "Bước 6/6")
    double.send_contact(p.user, "+84900000000", own=False)
    await p.expect("của chính mình")
    await p.say("12", "Số điện thoại chưa đúng")
    await p.say("Bỏ qua", "kiểm tra lại phiếu")
    review, send = p.find_button("Gửi")
    # A double tap: the second press reaches the bot after the first has retired the buttons.
    first = double.press(p.user, review, send)
    second = double.press_raw(p.user, review["message_id"], send)
    assert await double.wait_answered(first) == "Đã gửi. Mã phiếu GP-0001"
    assert await double.wait_answered(second) == "Nút này đã hết hiệu lực."
    await p.expect("Mã phiếu: GP-0001")
    assert len(await rows(meeting_db, Submission)) == 1
    [resident] = await rows(meeting_db, Resident)
    assert resident.state == {}


async def test_a_redelivered_update_is_handled_once(meeting_db, double, bot):
    p = await consented(double)
    update = p.send("/dangky")
    await p.expect("Bước 1/6")
    double.redeliver(update)
    await p.say("/trogiup", "Hướng dẫn")  # in order per chat: a second "Bước 1/6" would have come first
    assert sum("Bước 1/6" in m.get("text", "") for m in double.messages(p.user)) == 1


async def test_a_slow_chat_holds_back_only_itself(meeting_db, double, bot):
    """A reply Telegram is slow to take holds back that chat's later updates, in order, but no other
    chat's: the long poll stores each batch and asks for the next at once."""
    slow, quick = await consented(double), await consented(double, "Bình")
    double.hang_chat(slow.user, 4, times=1)
    slow.send("/dangky")
    slow.send("/trogiup")
    await double.wait_until(lambda: not double.pending_updates())  # both read and confirmed to Telegram
    started = asyncio.get_running_loop().time()
    await quick.say("/trogiup", "Hướng dẫn")
    await quick.say("/lichhop", "Hội nghị đối thoại")
    assert asyncio.get_running_loop().time() - started < 3  # not behind the slow chat's 4 s
    assert await rows(meeting_db, Inbound)  # the slow chat's help is stored, not yet handled
    await slow.expect("Bước 1/6", timeout=15)
    await slow.expect("Hướng dẫn")  # then its second update, in the order sent


async def test_group_chats_are_pointed_to_the_private_chat(meeting_db, double, bot):
    group = double.group("Thôn Phong Lâm")
    an = double.user(first_name="An")
    double.send_text(an, "/dangky", chat=group)
    reply = await double.next_message(group)
    assert "nhắn tin riêng" in reply["text"] and "https://t.me/doithoai_test_bot" in reply["text"]
    double.send_text(an, "Chào cả nhà", chat=group)
    double.send_text(an, "/lichhop", chat=group)
    assert "nhắn tin riêng" in (await double.next_message(group))["text"]  # the chatter got no answer
    assert await rows(meeting_db, Resident) == []


async def test_registering_without_consent_asks_for_it(meeting_db, double, bot):
    p = phone(double)
    await p.say("/dangky", "cần đồng ý")
    await p.expect("Ông/Bà có đồng ý không?")
    await p.tap("Không đồng ý", "không lưu thông tin")
    assert await rows(meeting_db, Resident) == []

    async def outbox_empty() -> bool:
        return await rows(meeting_db, Outbox) == []

    # What was sent to someone who never consented is not kept, not even their chat id.
    await eventually(outbox_empty)


async def test_english_app_gets_english(meeting_db, double, bot):
    p = phone(double, lang="en")
    await p.say("/start", "Welcome!")
    await p.expect("Do you agree?")


async def test_my_questions_withdraw_and_forget(meeting_db, double, bot):
    p = await consented(double)
    await register(p)
    listing = await p.say("📋 Câu hỏi của tôi", "GP-0001", "Đã tiếp nhận")
    assert "Vấn đề khác" in listing["text"]
    await p.tap("Rút câu hỏi GP-0001", "chắc chắn muốn rút")
    await p.tap("Có, rút câu hỏi", "Đã rút câu hỏi GP-0001")
    assert (await rows(meeting_db, Submission))[0].status == "withdrawn"
    await p.say("/xoadulieu", "xóa họ tên")
    await p.tap("Xóa dữ liệu của tôi", "Đã xóa")
    assert double.messages(p.user)[-1]["reply_keyboard"] == {"remove_keyboard": True}
    assert await rows(meeting_db, Resident) == []
    [s] = await rows(meeting_db, Submission)
    assert s.name is None and s.anonymised


async def test_deadline_passed(db, double):
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    await load(db, plan_text(closes=past, starts=past + timedelta(days=3)))
    async with running_bot(db, double):
        p = await consented(double)
        await p.say("📝 Đăng ký phát biểu", "hạn đăng ký phát biểu đã kết thúc", "Hội trường Nhà Văn hoá")
        assert await rows(db, Submission) == []


async def test_meeting_card_sends_a_map_pin(db, double):
    await load(db, plan_text(coords=True))
    async with running_bot(db, double):
        p = phone(double)
        await p.say("/lichhop", "Hội trường Nhà Văn hoá")
        pin = await double.next_message(p.user)
        assert pin["location"]["latitude"] == pytest.approx(20.45) and pin["location"]["longitude"] == pytest.approx(106.34)


async def test_a_resident_who_blocked_the_bot_does_not_stall_anything(meeting_db, double, bot):
    p = await consented(double)
    other = await consented(double, "Bình")
    double.block(p.user)
    p.send("/trogiup")
    await other.say("/trogiup", "Hướng dẫn")
    await double.wait_until(lambda: any(r.error_code == 403 for r in double.rejections))
    await double.wait_until(lambda: True)
    async def unreachable_rows() -> list[Outbox]:
        return [o for o in await rows(meeting_db, Outbox) if o.status == "unreachable"]

    unreachable = await eventually(unreachable_rows)
    assert "blocked" in unreachable[0].last_error
    blocked = [r for r in await rows(meeting_db, Resident) if r.external_id == str(p.user.id)][0]
    assert blocked.unreachable_at is not None  # nothing more is queued for them
    double.rejections.clear()  # the 403 was Telegram's answer to a blocked chat, not a bad request


async def test_hundreds_of_residents_at_once(meeting_db, double, bot):
    double.idle_timeouts = True  # 200 residents queue behind each other: a wait fails when the bot stalls, not when the machine is slow
    phones = [phone(double, f"Dân {i}") for i in range(200)]

    async def one(i: int, p: Phone) -> str:
        await p.say("/start", "Ông/Bà có đồng ý không?")
        await p.tap("Đồng ý", "Đăng ký phát biểu")
        receipt = await register(p, name=f"Người Dân {chr(65 + i % 26)}", question=f"Câu hỏi số {i} về đường làng ngõ xóm.")
        return receipt["text"]

    receipts = await asyncio.gather(*(one(i, p) for i, p in enumerate(phones)))
    refs = sorted(line.split(": ")[1] for r in receipts for line in r.splitlines() if "Mã phiếu" in line)
    assert refs == [f"GP-{n:04d}" for n in range(1, 201)]
    submissions = await rows(meeting_db, Submission)
    assert sorted(s.ref for s in submissions) == refs
    # Each resident's own question ended up under their own code.
    by_ref = {s.ref: s.question for s in submissions}
    for r in receipts:
        ref = next(line.split(": ")[1] for line in r.splitlines() if "Mã phiếu" in line)
        assert by_ref[ref][:14] in r
