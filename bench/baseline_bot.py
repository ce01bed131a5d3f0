"""The baseline of `python -m bench inbound`: the same registration form written the way most
Telegram bots are written: aiogram's Dispatcher, an FSM (`StatesGroup`) in `MemoryStorage`, one
handler a step, replies sent with ordinary Bot API calls, updates taken from aiogram's own aiohttp
webhook handler (`SimpleRequestHandler`, which answers 200 at once and handles the update in the
background), or with `--poll` aiogram's own long polling (`Dispatcher.start_polling`, which confirms
a batch as soon as it has read it and handles each update as a task). Same texts and buttons as
doithoai's, roughly; nothing is written to disk.

    python -m bench.baseline_bot --port 8090 --api http://127.0.0.1:8081 --token 123:ABC --secret S --plan plan.toml
    python -m bench.baseline_bot --poll --api http://127.0.0.1:8081 --token 123:ABC --plan plan.toml
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import tomllib
from datetime import datetime
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

REGISTER = "📝 Đăng ký phát biểu"
MENU = ReplyKeyboardMarkup(
    keyboard=[[KeyboardButton(text=REGISTER), KeyboardButton(text="📅 Lịch hội nghị")],
              [KeyboardButton(text="📋 Câu hỏi của tôi"), KeyboardButton(text="❓ Hướng dẫn")]],
    is_persistent=True, resize_keyboard=True,
)
PHONE = ReplyKeyboardMarkup(
    keyboard=[[KeyboardButton(text="📱 Chia sẻ số điện thoại", request_contact=True)], [KeyboardButton(text="Bỏ qua")]],
    resize_keyboard=True, one_time_keyboard=True,
)
CONSENT = (
    "🔒 Xin phép Ông/Bà về dữ liệu cá nhân\n\nTheo Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định 13/2023/NĐ-CP:\n"
    "• Thông tin thu thập: họ tên, thôn/tổ dân phố, câu hỏi và số điện thoại (nếu Ông/Bà muốn cung cấp).\n"
    "• Mục đích: chuẩn bị hội nghị đối thoại và gửi câu trả lời về cho Ông/Bà.\n"
    "• Người được xem: Văn phòng Đảng ủy, Ủy ban Mặt trận Tổ quốc xã và các phòng, ban được giao trả lời.\n"
    "• Thời gian lưu: đến khi câu hỏi được trả lời xong, tối đa 12 tháng sau hội nghị.\n"
    "• Xóa dữ liệu: bất cứ lúc nào, Ông/Bà gõ /xoadulieu.\n\nÔng/Bà có đồng ý không?"
)
WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]


class Form(StatesGroup):
    name = State()
    village = State()
    topic = State()
    question = State()
    speak = State()
    phone = State()
    review = State()


def inline(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows])


def build_router(plan: dict) -> Router:
    commune, meeting = plan["commune"], plan["meeting"]
    villages = [v["name"] for v in commune["villages"]]
    topics = meeting["topics"]
    starts = datetime.fromisoformat(meeting["starts_at"])
    ends = datetime.fromisoformat(meeting["ends_at"])
    closes = datetime.fromisoformat(meeting["registration_closes_at"])
    day = lambda d: f"{WEEKDAYS[d.weekday()]}, ngày {d:%d/%m/%Y}"  # noqa: E731
    card = (f"📅 {meeting['title']}\n🏛 {commune['name']}\n🗓 {day(starts)}, từ {starts:%H:%M} đến {ends:%H:%M}\n"
            f"📍 {meeting['venue']}\n✍️ Hạn đăng ký phát biểu: {closes:%H:%M} {day(closes)}")
    greeting = (f"Kính chào Ông/Bà! Đây là kênh tiếp nhận ý kiến, kiến nghị của Nhân dân gửi đến hội nghị đối thoại của "
                f"{commune['name']}.\n\n{card}")
    refs = itertools.count(1)
    submissions: list[dict] = []
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer(greeting)
        await message.answer(CONSENT, reply_markup=inline([[("Đồng ý", "c:y"), ("Không đồng ý", "c:n")]]))

    @router.callback_query(F.data == "c:y")
    async def consent(query: CallbackQuery, state: FSMContext) -> None:
        await state.update_data(consented=True)
        await query.answer("Cảm ơn Ông/Bà đã đồng ý.")
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer("Cảm ơn Ông/Bà. Để gửi câu hỏi cho hội nghị, xin bấm nút 📝 Đăng ký phát biểu ở menu bên dưới.",
                                   reply_markup=MENU)

    @router.message(StateFilter(None), F.text == REGISTER)
    @router.message(StateFilter(None), Command("dangky"))
    async def register(message: Message, state: FSMContext) -> None:
        if not (await state.get_data()).get("consented"):
            await message.answer("Để đăng ký phát biểu, Ông/Bà cần đồng ý cho phép xử lý dữ liệu cá nhân trước.")
            return
        await state.set_state(Form.name)
        await message.answer("Bước 1/6. Xin Ông/Bà cho biết họ và tên đầy đủ (từ 2 đến 100 ký tự).")

    @router.message(Form.name, F.text)
    async def name(message: Message, state: FSMContext) -> None:
        text = message.text.strip()
        if not 2 <= len(text) <= 100 or re.search(r"\d", text):
            await message.answer("Họ tên chỉ gồm chữ cái, từ 2 đến 100 ký tự. Xin Ông/Bà gõ lại.")
            return
        await state.update_data(name=text)
        await state.set_state(Form.village)
        rows = [[(v, f"v:{i}") for i, v in enumerate(villages[k:k + 2], start=k)] for k in range(0, len(villages), 2)]
        await message.answer(f"✔️ {text}\n\nBước 2/6. Ông/Bà ở thôn hoặc tổ dân phố nào? Xin bấm chọn bên dưới.", reply_markup=inline(rows))

    @router.callback_query(Form.village, F.data.startswith("v:"))
    async def village(query: CallbackQuery, state: FSMContext) -> None:
        chosen = villages[int(query.data[2:])]
        await state.update_data(village=chosen)
        await state.set_state(Form.topic)
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        listing = "\n".join(f"{i}. {t}" for i, t in enumerate(topics, start=1))
        await query.message.answer(f"✔️ {chosen}\n\nBước 3/6. Câu hỏi của Ông/Bà thuộc lĩnh vực nào? Xin bấm chọn bên dưới.\n\n{listing}",
                                   reply_markup=inline([[(f"{i}. {t}", f"t:{i - 1}")] for i, t in enumerate(topics, start=1)]))

    @router.callback_query(Form.topic, F.data.startswith("t:"))
    async def topic(query: CallbackQuery, state: FSMContext) -> None:
        chosen = topics[int(query.data[2:])]
        await state.update_data(topic=chosen)
        await state.set_state(Form.question)
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(f"✔️ {chosen}\n\nBước 4/6. Xin Ông/Bà viết câu hỏi, ý kiến hoặc kiến nghị (từ 10 đến 3000 ký tự), rồi gửi.")

    @router.message(Form.question, F.text)
    async def question(message: Message, state: FSMContext) -> None:
        if not 10 <= len(message.text.strip()) <= 3000:
            await message.answer("Câu hỏi cần từ 10 đến 3000 ký tự. Xin Ông/Bà gõ lại.")
            return
        await state.update_data(question=message.text.strip())
        await state.set_state(Form.speak)
        await message.answer("✔️ Đã ghi nhận câu hỏi.\n\nBước 5/6. Ông/Bà muốn phát biểu trực tiếp tại hội nghị, hay chỉ cần trả lời bằng văn bản?",
                             reply_markup=inline([[("Phát biểu trực tiếp tại hội nghị", "s:1")], [("Chỉ cần trả lời bằng văn bản", "s:0")]]))

    @router.callback_query(Form.speak, F.data.startswith("s:"))
    async def speak(query: CallbackQuery, state: FSMContext) -> None:
        await state.update_data(speak=query.data == "s:1")
        await state.set_state(Form.phone)
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        chosen = "Phát biểu trực tiếp tại hội nghị" if query.data == "s:1" else "Chỉ cần trả lời bằng văn bản"
        await query.message.answer(f"✔️ {chosen}\n\nBước 6/6. Ông/Bà có muốn để lại số điện thoại để cán bộ liên hệ khi cần không? "
                                   "Bấm 📱 Chia sẻ số điện thoại, gõ số, hoặc bấm Bỏ qua.", reply_markup=PHONE)

    @router.message(Form.phone)
    async def phone(message: Message, state: FSMContext) -> None:
        if message.contact is not None:
            number = message.contact.phone_number
        elif message.text == "Bỏ qua":
            number = None
        elif message.text and re.fullmatch(r"\+?\d{9,12}", message.text.strip()):
            number = message.text.strip()
        else:
            await message.answer("Số điện thoại chưa đúng. Xin Ông/Bà gõ lại, hoặc bấm Bỏ qua.")
            return
        await state.update_data(phone=number)
        await state.set_state(Form.review)
        data = await state.get_data()
        await message.answer(f"✔️ Số điện thoại: {number}" if number else "✔️ Không để lại số điện thoại.", reply_markup=MENU)
        mode = "Phát biểu trực tiếp tại hội nghị" if data["speak"] else "Chỉ cần trả lời bằng văn bản"
        await message.answer(
            f"Xin Ông/Bà kiểm tra lại phiếu đăng ký:\n\n👤 Họ tên: {data['name']}\n🏠 Thôn/Tổ dân phố: {data['village']}\n"
            f"📂 Lĩnh vực: {data['topic']}\n❓ Câu hỏi: {data['question']}\n🎤 Hình thức: {mode}\n"
            f"📱 Điện thoại: {number or 'không để lại'}\n\nNếu đúng, xin bấm ✅ Gửi. Cần sửa, bấm ✏️ Sửa.",
            reply_markup=inline([[("✅ Gửi", "r:send")], [("✏️ Sửa", "r:edit"), ("❌ Hủy", "r:cancel")]]),
        )

    @router.callback_query(Form.review, F.data == "r:send")
    async def send(query: CallbackQuery, state: FSMContext) -> None:
        data = await state.get_data()
        ref = f"{commune['code']}-{next(refs):04d}"
        submissions.append({**data, "ref": ref, "chat": query.from_user.id})
        await state.set_state(None)
        await query.answer(f"Đã gửi. Mã phiếu {ref}")
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            f"✅ Ông/Bà đã gửi câu hỏi thành công.\n\n🔖 Mã phiếu: {ref}\n❓ {data['question']}\n\n📅 {meeting['title']}\n"
            f"🕗 {starts:%H:%M} {day(starts)}\n📍 {meeting['venue']}\n\nCâu hỏi sẽ được trả lời bằng văn bản: sau hội nghị, khi Thông báo "
            "kết luận được ban hành, câu trả lời sẽ được gửi về đây qua Telegram. Xin Ông/Bà ghi lại mã phiếu để tra cứu.",
            reply_markup=MENU,
        )

    @router.callback_query()
    async def stale(query: CallbackQuery) -> None:
        await query.answer("Nút này đã hết hiệu lực.")

    return router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="where the webhook listens")
    parser.add_argument("--poll", action="store_true", help="long-poll instead (aiogram's start_polling)")
    parser.add_argument("--api", required=True, help="Bot API base URL (the double)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", help="the webhook's secret header")
    parser.add_argument("--plan", type=Path, required=True)
    args = parser.parse_args()
    if not args.poll and (args.port is None or args.secret is None):
        parser.error("a webhook needs --port and --secret (or --poll)")
    logging.basicConfig(level=logging.WARNING)
    plan = tomllib.loads(args.plan.read_text(encoding="utf-8"))
    bot = Bot(args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(build_router(plan))
    if args.poll:
        async def ready(bot: Bot) -> None:
            print("polling", flush=True)  # the benchmark waits for this line

        dispatcher.startup.register(ready)
        asyncio.run(dispatcher.start_polling(bot, allowed_updates=["message", "callback_query"], handle_signals=True))
        return

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook("https://bench.invalid/webhook/telegram", secret_token=args.secret,
                              allowed_updates=["message", "callback_query"])

    dispatcher.startup.register(on_startup)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=args.secret).register(app, path="/webhook/telegram")
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
