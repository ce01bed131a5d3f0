"""The conversation core on its own: events in, replies and database rows out (fast, no channel)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.conversation.engine import Conversation
from bot.domain.validation import normalise_phone
from storage.models import Outbox, Resident, Submission
from tests.conftest import invited_village, load, plan_text, rows
from tests.support.core_chat import CoreChat


async def test_start_greets_with_meeting_and_asks_consent_before_storing_anything(conv, meeting_db):
    c = CoreChat(conv)
    replies = await c.text("/start")
    text = c.texts(replies)
    assert "Xã Gia Phúc" in text and "Hội nghị đối thoại" in text
    assert "Hạn đăng ký phát biểu" in text and "Hội trường Nhà Văn hoá" in text
    assert "91/2025/QH15" in text and "/xoadulieu" in text and "12 tháng" in text
    assert [b.label for b in replies[-1].buttons[0]] == ["Đồng ý", "Không đồng ý"]
    assert await rows(meeting_db, Resident) == []
    await c.press("Không đồng ý")
    assert "không lưu thông tin" in c.texts(c.replies[-2:])
    assert await rows(meeting_db, Resident) == []


async def test_consent_creates_resident_and_shows_menu(conv, meeting_db):
    c = CoreChat(conv)
    await c.text("/start")
    replies = await c.press("Đồng ý")
    keyboard = next(r.keyboard for r in replies if r.keyboard)
    labels = [b.label for row in keyboard for b in row]
    assert labels == ["📝 Đăng ký phát biểu", "📅 Lịch hội nghị", "📋 Câu hỏi của tôi", "❓ Hướng dẫn"]
    [resident] = await rows(meeting_db, Resident)
    assert resident.external_id == "1001" and resident.name is None and resident.consented_at is not None


async def test_full_registration_gives_a_receipt_and_stores_the_submission(chat, meeting_db):
    receipt = await chat.register(phone="0912 345 678")
    assert "GP-0001" in receipt
    assert "08:00" in receipt and "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc" in receipt
    assert "Thông báo kết luận" in receipt and "Telegram" in receipt
    [s] = await rows(meeting_db, Submission)
    assert (s.ref, s.name, s.phone, s.wants_to_speak, s.status, s.channel) == (
        "GP-0001", "Nguyễn Văn An", "0912345678", True, "received", "telegram")
    [resident] = await rows(meeting_db, Resident)
    assert resident.state == {} and resident.name == "Nguyễn Văn An"


async def test_dates_are_local_weekday_dd_mm_yyyy_and_hh_mm(db):
    starts = datetime(2031, 6, 12, 1, 0, tzinfo=timezone.utc)  # 08:00 on a Thursday in Asia/Ho_Chi_Minh
    await load(db, plan_text(starts=starts, closes=datetime(2031, 5, 15, 16, 59, tzinfo=timezone.utc)))
    c = CoreChat(Conversation(db))
    card = c.texts(await c.text("/lichhop"))
    assert "Thứ Năm, ngày 12/06/2031, từ 08:00 đến 11:30" in card
    assert "Hạn đăng ký phát biểu: 23:59 Thứ Năm, ngày 15/05/2031" in card


async def test_second_registration_offers_remembered_name_and_numbers_on(chat, meeting_db):
    await chat.register()
    replies = await chat.text("/dangky")
    assert replies[-1].buttons[0][0].label == "👤 Nguyễn Văn An"
    await chat.press("Nguyễn Văn An")
    await chat.press("Thôn Văn Lâm")
    await chat.press("Vấn đề khác")
    await chat.text("Xin hỏi về chế độ cho người cao tuổi trong xã.")
    await chat.press("Chỉ cần trả lời")
    await chat.text("Bỏ qua")
    receipt = chat.texts(await chat.press("Gửi"))
    assert "GP-0002" in receipt and "trả lời bằng văn bản" in receipt


async def test_deep_link_preselects_the_village(conv, meeting_db):
    village = await invited_village(meeting_db, "Thôn Lai Hà")
    c = CoreChat(conv)
    await c.text(f"/start v{village.id}")
    assert await rows(meeting_db, Resident) == []  # the village rides in the button, not the database
    replies = await c.press("Đồng ý")
    assert "Bước 1/6" in c.texts(replies)
    replies = await c.text("Trần Thị Bình")
    assert "Bước 3/6" in c.texts(replies)  # the village step is skipped
    await c.press("Vấn đề khác")
    await c.text("Câu hỏi về nước sạch cho thôn Lai Hà.")
    await c.press("Chỉ cần trả lời")
    review = c.texts(await c.text("Bỏ qua"))
    assert "Thôn/Tổ dân phố: Thôn Lai Hà" in review


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A", "từ 2 đến 100 ký tự (Ông/Bà đã gõ 1 ký tự)"),
        ("A" * 101, "từ 2 đến 100 ký tự (Ông/Bà đã gõ 101 ký tự)"),
        ("12345", "không có chữ số"),
    ],
)
async def test_bad_names_are_refused_with_the_limit(chat, meeting_db, text, expected):
    await chat.text("/dangky")
    replies = await chat.text(text)
    assert expected in chat.texts(replies)
    assert "Bước 1/6" in chat.texts(replies)
    [resident] = await rows(meeting_db, Resident)
    assert "name" not in resident.state["draft"]


async def test_question_length_limits_are_told(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Lê Văn Cường")
    await chat.press("Thôn Trúc Lâm")
    await chat.press("Vấn đề khác")
    assert "ít nhất 10 ký tự (Ông/Bà đã gõ 4 ký tự)" in chat.texts(await chat.text("Hỏi?"))
    assert "tối đa 3000 ký tự (Ông/Bà đã gõ 3001 ký tự)" in chat.texts(await chat.text("x" * 3001))
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["step"] == "question" and "question" not in resident.state["draft"]
    assert "Bước 5/6" in chat.texts(await chat.text("y" * 3000))


async def test_stickers_and_text_where_buttons_are_expected(chat, meeting_db):
    await chat.text("/dangky")
    replies = await chat.sticker()
    assert "chỉ đọc được tin nhắn chữ" in chat.texts(replies) and "Bước 1/6" in chat.texts(replies)
    await chat.text("Phạm Thị Dung")
    replies = await chat.text("không biết")
    assert "bấm một nút" in chat.texts(replies) and "Bước 2/6" in chat.texts(replies)
    # Typed without diacritics, the village still counts (the way Zalo users answer).
    replies = await chat.text("thon dai luong")
    assert "✔️ Thôn Đại Lương" in chat.texts(replies)
    replies = await chat.text("7")
    assert "✔️ Vấn đề khác" in chat.texts(replies)


async def test_a_choice_typed_instead_of_pressed_is_read_as_on_a_channel_without_buttons(chat, meeting_db):
    """The form reads a typed choice with the engine's one reading (bot/domain/choices.py): the last
    words of a label, a small typo, a number with its full stop."""
    await chat.text("/dangky")
    await chat.text("Phạm Thị Dung")
    assert "✔️ Thôn Phong Lâm" in chat.texts(await chat.text("phong lam"))
    assert "✔️ Vấn đề khác" in chat.texts(await chat.text("van de khacc"))
    await chat.text("Đường liên thôn xuống cấp, khi nào sửa?")
    replies = await chat.text("9")  # off the list: the buttons are there to press
    assert "bấm một nút" in chat.texts(replies) and "Bước 5/6" in chat.texts(replies)
    assert "✔️ Chỉ cần trả lời bằng văn bản" in chat.texts(await chat.text("2."))


async def test_stale_buttons_expire_and_change_nothing(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Hoàng Văn Em")
    old_village = chat.button_data("Thôn Phong Lâm")
    await chat.press("Thôn Phong Lâm")
    before = (await rows(meeting_db, Resident))[0].state
    replies = await chat.press_data(old_village)
    assert chat.toast == "Nút này đã hết hiệu lực." and not [r for r in replies if r.text]
    assert (await rows(meeting_db, Resident))[0].state == before


async def test_double_tap_on_send_makes_one_submission(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Đỗ Thị Giang")
    await chat.press("Thôn Nghĩa Hy")
    await chat.press("Vấn đề khác")
    await chat.text("Đề nghị lắp đèn đường ở xóm trên.")
    await chat.press("Chỉ cần trả lời")
    await chat.text("Bỏ qua")
    send = chat.button_data("Gửi")
    await chat.press_data(send)
    await chat.press_data(send)
    assert chat.toast == "Nút này đã hết hiệu lực."
    assert len(await rows(meeting_db, Submission)) == 1


async def test_a_redelivered_update_is_processed_once(chat, meeting_db):
    await chat.text("/dangky")
    first = await chat.text("Vũ Văn Hải", update_id="dup-1")
    again = await chat.text("Vũ Văn Hải", update_id="dup-1")
    assert first and again == [] and chat.last.outcome.duplicate
    state = (await rows(meeting_db, Resident))[0].state
    assert state["step"] == "village"


async def test_group_chats_are_pointed_to_the_private_chat(conv, meeting_db):
    c = CoreChat(conv, private=False)
    replies = await c.text("/dangky")
    assert "nhắn tin riêng" in c.texts(replies)
    assert await c.text("chào cả nhà") == []
    assert await rows(meeting_db, Resident) == []


async def test_commands_mid_form_answer_then_resume_the_step(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Ngô Thị Hoa")
    replies = await chat.text("📅 Lịch hội nghị")
    text = chat.texts(replies)
    assert "Hội trường" in text and "tiếp tục phiếu đăng ký" in text and "Bước 2/6" in text
    replies = await chat.text("/dangky")
    assert "đang điền dở" in chat.texts(replies)
    replies = await chat.text("/khonghieu")
    assert "chưa hiểu lệnh" in chat.texts(replies) and "Bước 2/6" in chat.texts(replies)
    replies = await chat.text("/huy")
    assert "Đã hủy" in chat.texts(replies)
    assert (await rows(meeting_db, Resident))[0].state == {}


async def test_registering_without_consent_asks_for_it(conv, meeting_db):
    c = CoreChat(conv)
    replies = await c.text("/dangky")
    assert "cần đồng ý" in c.texts(replies) and replies[-1].buttons[0][0].label == "Đồng ý"
    replies = await c.text("📝 Đăng ký phát biểu")
    assert "cần đồng ý" in c.texts(replies)
    assert await rows(meeting_db, Resident) == []


async def test_edit_a_field_from_the_review(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Lý Văn Khoa")
    await chat.press("Thôn Long Tràng")
    await chat.press("Vấn đề khác")
    await chat.text("Câu hỏi ban đầu về thủy lợi nội đồng.")
    await chat.press("Phát biểu trực tiếp")
    await chat.text("Bỏ qua")
    await chat.press("Sửa")
    replies = await chat.press("Câu hỏi")
    assert "Bước 4/6" in chat.texts(replies)
    replies = await chat.text("Câu hỏi đã sửa về kênh mương nội đồng.")
    assert "Câu hỏi: Câu hỏi đã sửa về kênh mương nội đồng." in chat.texts(replies)
    await chat.press("Sửa")
    await chat.press("Thôn/Tổ dân phố")
    replies = await chat.press("Thôn Văn Lâm")
    assert "Thôn/Tổ dân phố: Thôn Văn Lâm" in chat.texts(replies)
    await chat.press("Gửi")
    [s] = await rows(meeting_db, Submission)
    assert s.question == "Câu hỏi đã sửa về kênh mương nội đồng."


async def test_phone_by_contact_must_be_ones_own(chat, meeting_db):
    await chat.text("/dangky")
    await chat.text("Mai Văn Lộc")
    await chat.press("Thôn Văn Lâm")
    await chat.press("Vấn đề khác")
    await chat.text("Hỏi về cấp giấy chứng nhận quyền sử dụng đất.")
    await chat.press("Chỉ cần trả lời")
    replies = await chat.contact("+84912000111", own=False)
    assert "của chính mình" in chat.texts(replies)
    replies = await chat.contact("84912000111")
    assert "Điện thoại: 0912000111" in chat.texts(replies)


def test_phone_numbers_are_normalised():
    assert normalise_phone("0912 345 678") == "0912345678"
    assert normalise_phone("+84 912 345 678") == "0912345678"
    assert normalise_phone("84912345678", from_contact=True) == "0912345678"
    assert normalise_phone("+1 202 555 0143") == "+12025550143"
    assert normalise_phone("12345") is None
    assert normalise_phone("abc") is None


async def test_deadline_closes_and_a_later_deadline_reopens(db):
    past = datetime.now(timezone.utc) - timedelta(days=1)
    await load(db, plan_text(closes=past, starts=past + timedelta(days=10)))
    c = CoreChat(Conversation(db))
    await c.text("/start")
    await c.press("Đồng ý")
    text = c.texts(await c.text("/dangky"))
    assert "hạn đăng ký phát biểu đã kết thúc" in text and "Hội trường Nhà Văn hoá" in text
    assert (await rows(db, Resident))[0].state == {}
    await load(db, plan_text(closes=past + timedelta(days=5), starts=past + timedelta(days=10)))
    assert "Bước 1/6" in c.texts(await c.text("/dangky"))


async def test_deadline_passing_mid_form_refuses_the_submission(meeting_db):
    now = [datetime.now(timezone.utc)]
    c = CoreChat(Conversation(meeting_db, clock=lambda: now[0]))
    await c.text("/start")
    await c.press("Đồng ý")
    await c.text("/dangky")
    await c.text("Trịnh Văn Minh")
    await c.press("Thôn Phong Lâm")
    await c.press("Vấn đề khác")
    await c.text("Hỏi về hỗ trợ giống lúa vụ mùa năm nay.")
    await c.press("Chỉ cần trả lời")
    await c.text("Bỏ qua")
    now[0] += timedelta(days=11)
    text = c.texts(await c.press("Gửi"))
    assert "đã kết thúc" in text
    assert await rows(meeting_db, Submission) == []


async def test_my_questions_and_withdrawal_with_confirmation(chat, meeting_db):
    await chat.register()
    replies = await chat.text("📋 Câu hỏi của tôi")
    text = chat.texts(replies)
    assert "GP-0001" in text and "Đã tiếp nhận" in text and "Môi trường" in text and "Đường liên thôn" in text
    await chat.press("Rút câu hỏi GP-0001")
    assert (await rows(meeting_db, Submission))[0].status == "received"  # not before the second tap
    confirm = chat.button_data("Có, rút câu hỏi")
    await chat.press("Có, rút câu hỏi")
    assert (await rows(meeting_db, Submission))[0].status == "withdrawn"
    await chat.press_data(confirm)
    assert "đã được rút" in chat.toast
    text = chat.texts(await chat.text("/cauhoi"))
    assert "Đã rút" in text and not chat.replies[-1].buttons


async def test_forget_erases_identity_and_keeps_questions_anonymised(chat, meeting_db):
    await chat.register(phone="0987654321")
    await chat.text("/xoadulieu")
    assert len(await rows(meeting_db, Resident)) == 1  # not before confirming
    replies = await chat.press("Xóa dữ liệu của tôi")
    assert "Đã xóa" in chat.texts(replies) and replies[-1].remove_keyboard
    assert await rows(meeting_db, Resident) == []
    [s] = await rows(meeting_db, Submission)
    assert (s.name, s.phone, s.resident_id, s.anonymised, s.question) == (None, None, None, True, "Đường liên thôn bị xuống cấp, khi nào được sửa?")
    # Only the confirmation is left in the outbox: nothing else about this person.
    outbox = await rows(meeting_db, Outbox)
    assert all("Nguyễn Văn An" not in str(o.payload) for o in outbox)


async def test_english_users_get_the_english_catalogue(conv):
    c = CoreChat(conv, language="en-GB")
    replies = await c.text("/start")
    assert "Do you agree?" in c.texts(replies) and replies[-1].buttons[0][0].label == "I agree"


async def test_meeting_card_carries_a_map_pin_when_the_plan_has_coordinates(db):
    await load(db, plan_text(coords=True))
    c = CoreChat(Conversation(db))
    replies = await c.text("/lichhop")
    assert [r.location for r in replies if r.location] == [(20.45, 106.34)]


async def test_hundreds_registering_at_once_get_unique_consecutive_codes(meeting_db):
    conv = Conversation(meeting_db)
    chats = [CoreChat(conv, user_id=str(5000 + i)) for i in range(200)]

    async def one(c: CoreChat) -> None:
        await c.text("/start")
        await c.press("Đồng ý")
        await c.register(name=f"Người Dân Số {chr(65 + int(c.user_id) % 26)}")

    await asyncio.gather(*(one(c) for c in chats))
    refs = sorted(s.ref for s in await rows(meeting_db, Submission))
    assert refs == [f"GP-{n:04d}" for n in range(1, 201)]


async def test_an_unexpected_error_rolls_back_and_apologises(chat, meeting_db, monkeypatch):
    import bot.conversation.engine as conversation

    await chat.text("/dangky")

    async def broken(ctx):
        ctx.set_state({"flow": "register", "step": "name", "tok": "x", "draft": {"name": "half-written"}})
        raise RuntimeError("boom")

    monkeypatch.setattr(conversation, "route", broken)
    replies = await chat.text("Nguyễn Văn An")
    assert "hệ thống đang gặp sự cố" in chat.texts(replies) and "/huy" in chat.texts(replies)
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["draft"] == {}  # the half-done change was rolled back
    monkeypatch.undo()
    assert "Đã hủy" in chat.texts(await chat.text("/huy"))
