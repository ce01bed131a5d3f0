"""The Bot API double refuses what Telegram refuses and accepts what it accepts.

Driven both by real aiogram (``Bot`` over ``AiohttpSession``) and by raw HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from tests.support.botapi_double import BotAPIDouble, DoubleTimeout


class FastSession(AiohttpSession):
    """aiogram's close() sleeps 250 ms for TLS shutdown; plain localhost HTTP needs none."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class RawAPI:
    """Minimal raw HTTP client, to send what aiogram would never send."""

    def __init__(self, double: BotAPIDouble, session: aiohttp.ClientSession) -> None:
        self.double = double
        self.session = session

    async def call(
        self, method: str, token: str | None = None, *, as_json: bool = False, **params: Any
    ) -> tuple[int, dict[str, Any]]:
        url = f"{self.double.base_url}/bot{token or self.double.token}/{method}"
        if as_json:
            kwargs: dict[str, Any] = {"json": params}
        else:
            form = aiohttp.FormData()
            for key, value in params.items():
                form.add_field(key, value if isinstance(value, str) else json.dumps(value))
            kwargs = {"data": form}
        async with self.session.post(url, **kwargs) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def double() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble() as d:
        yield d


@pytest.fixture
async def bot(double: BotAPIDouble) -> AsyncIterator[Bot]:
    b = Bot(double.token, session=FastSession(api=TelegramAPIServer.from_base(double.base_url)))
    yield b
    await b.session.close()


@pytest.fixture
async def raw(double: BotAPIDouble) -> AsyncIterator[RawAPI]:
    async with aiohttp.ClientSession() as session:
        yield RawAPI(double, session)


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows]
    )


# --- routing and authentication --------------------------------------------------


async def test_unknown_method_is_404_and_names_are_case_insensitive(double: BotAPIDouble, raw: RawAPI) -> None:
    status, body = await raw.call("sendMesage", chat_id="1", text="x")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})

    status, body = await raw.call("GETME")
    assert status == 200 and body["result"]["username"] == "doithoai_test_bot"
    assert double.calls[-1].method == "getMe"


async def test_wrong_token_is_401(double: BotAPIDouble, raw: RawAPI) -> None:
    status, body = await raw.call("getMe", token="123456789:WRONG")
    assert (status, body["description"]) == (401, "Unauthorized")

    wrong = Bot("123456789:WRONG", session=FastSession(api=TelegramAPIServer.from_base(double.base_url)))
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await wrong.session.close()


# --- parameters --------------------------------------------------------------------


async def test_missing_required_parameter_is_400(double: BotAPIDouble, raw: RawAPI) -> None:
    an = double.user()
    double.send_text(an, "xin chào")
    status, body = await raw.call("sendMessage", text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    status, body = await raw.call("sendMessage", chat_id=str(an.id))
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    assert double.rejections[-1].method == "sendMessage"


async def test_wrongly_typed_and_unknown_parameters_are_400(double: BotAPIDouble, raw: RawAPI) -> None:
    an = double.user()
    double.send_text(an, "hi")
    cases: list[dict[str, Any]] = [
        {"chat_id": str(an.id), "text": "x", "disable_notification": "yes"},  # not true/false
        {"chat_id": str(an.id), "text": "x", "reply_markup": "{not json"},
        {"chat_id": str(an.id), "text": "x", "reply_markup": {"inline_keyboard": "row"}},
        {"chat_id": str(an.id), "text": "x", "reply_markup": {"foo": []}},  # matches no markup type
        {"chat_id": str(an.id), "text": "x", "parse_mod": "HTML"},  # typo'd parameter
    ]
    for params in cases:
        status, body = await raw.call("sendMessage", **params)
        assert status == 400, (params, body)
        assert body["ok"] is False and body["description"].startswith("Bad Request: ")

    status, body = await raw.call("editMessageText", chat_id=str(an.id), message_id="abc", text="x")
    assert status == 400 and "message_id" in body["description"]


async def test_json_body_and_query_string_are_accepted(double: BotAPIDouble, raw: RawAPI) -> None:
    an = double.user()
    double.send_text(an, "hi")
    status, body = await raw.call(
        "sendMessage", as_json=True, chat_id=an.id, text="json", disable_notification=True,
        reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    )  # fmt: skip
    assert status == 200, body
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"

    async with raw.session.get(f"{double.api_url}/sendMessage", params={"chat_id": an.id, "text": "q"}) as resp:
        assert resp.status == 200
    assert [m["text"] for m in double.messages(an.id)] == ["json", "q"]


# --- limits ----------------------------------------------------------------------------


async def test_text_length_is_1_to_4096_characters(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(an.id, "a" * 4097)
    # characters, not bytes: 4096 multibyte Vietnamese characters are fine
    sent = await bot.send_message(an.id, "ệ" * 4096)
    assert len(sent.text or "") == 4096
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(an.id, "   ")
    # the limit applies after entity parsing: markup does not count
    await bot.send_message(an.id, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")


async def test_caption_is_at_most_1024_characters(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    pdf = BufferedInputFile(b"%PDF-1.4\n", filename="bien-ban.pdf")
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(an.id, pdf, caption="c" * 1025)
    sent = await bot.send_document(an.id, pdf, caption="c" * 1024)
    assert sent.document is not None and sent.document.file_name == "bien-ban.pdf"


async def test_callback_data_is_limited_to_64_bytes(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    await bot.send_message(an.id, "ok", reply_markup=keyboard([("A", "a" * 64)]))
    await bot.send_message(an.id, "ok", reply_markup=keyboard([("Đ", "đ" * 32)]))  # 32 chars, 64 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        # 33 characters but 66 UTF-8 bytes: Telegram counts bytes
        await bot.send_message(an.id, "too long", reply_markup=keyboard([("Đ", "đ" * 33)]))
    assert len(double.messages(an.id)) == 2


async def test_keyboards_are_validated_recursively(double: BotAPIDouble, bot: Bot, raw: RawAPI) -> None:
    an = double.user()
    double.send_text(an, "hi")
    valid = keyboard([("Đăng ký câu hỏi", "ask"), ("Xem lịch", "schedule")], [("Trợ giúp", "help")])
    sent = await bot.send_message(an.id, "Menu", reply_markup=valid)
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == valid.model_dump()
    await bot.send_message(
        an.id, "Chia sẻ số điện thoại",
        reply_markup=ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Gửi số", request_contact=True)]]),
    )  # fmt: skip
    assert double.messages(an.id)[-1]["reply_keyboard"]["keyboard"][0][0]["request_contact"] is True

    bad_buttons: list[tuple[dict[str, Any], str]] = [
        ({"text": "no action"}, "Text buttons are unallowed"),
        ({"text": "two", "callback_data": "a", "url": "https://example.org"}, "exactly one"),
        ({"text": "", "callback_data": "a"}, "non-empty"),
        ({"text": "typo", "callback_date": "a"}, "callback_date"),
    ]
    for button, why in bad_buttons:
        status, body = await raw.call(
            "sendMessage", chat_id=str(an.id), text="x", reply_markup={"inline_keyboard": [[button]]}
        )
        assert status == 400 and why in body["description"], body
    status, body = await raw.call(
        "sendMessage", chat_id=str(an.id), text="x", reply_markup={"keyboard": [[{"text": ""}]]}
    )
    assert status == 400 and "non-empty" in body["description"]


async def test_location_ranges(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    sent = await bot.send_location(an.id, latitude=21.0285, longitude=105.8542)
    assert sent.location is not None and sent.location.latitude == pytest.approx(21.0285)
    with pytest.raises(TelegramBadRequest, match="latitude"):
        await bot.send_location(an.id, latitude=91, longitude=0)
    with pytest.raises(TelegramBadRequest, match="longitude"):
        await bot.send_location(an.id, latitude=0, longitude=-180.5)


async def test_set_my_commands_validation(double: BotAPIDouble, bot: Bot) -> None:
    commands = [BotCommand(command="start", description="Bắt đầu"), BotCommand(command="help", description="Trợ giúp")]
    assert await bot.set_my_commands(commands, language_code="vi")
    assert [c["command"] for c in double.commands[("default", "vi")]] == ["start", "help"]
    fetched = await bot.get_my_commands(language_code="vi")
    assert [c.model_dump() for c in fetched] == [c.model_dump() for c in commands]
    assert await bot.get_my_commands() == []

    for bad in (
        [BotCommand(command="Start", description="x")],  # lowercase only
        [BotCommand(command="/start", description="x")],
        [BotCommand(command="a" * 33, description="x")],
        [BotCommand(command="start", description="d" * 257)],
        [BotCommand(command=f"c{i}", description="x") for i in range(101)],
    ):
        with pytest.raises(TelegramBadRequest):
            await bot.set_my_commands(bad)
    with pytest.raises(TelegramBadRequest, match="language code"):
        await bot.set_my_commands(commands, language_code="vie")
    assert list(double.commands) == [("default", "vi")]


async def test_formatting_errors_are_refused(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    with pytest.raises(TelegramBadRequest, match="reserved and must be escaped"):
        await bot.send_message(an.id, "Hạn chót: 30.6", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(an.id, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(an.id, "<b>unclosed", parse_mode="HTML")
    sent = await bot.send_message(an.id, "Hạn chót: *30\\.6*", parse_mode="MarkdownV2")
    assert sent.text == "Hạn chót: 30.6" and sent.entities and sent.entities[0].type == "bold"


# --- chats -------------------------------------------------------------------------


async def test_unknown_and_blocked_chats(double: BotAPIDouble, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello")
    silent = double.user()  # exists but never wrote to the bot
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(silent.id, "hello")

    an = double.user()
    double.send_text(an, "hi")
    await bot.send_message(an.id, "ok")
    update = double.block(an)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(an.id, "still there?")
    double.unblock(an)
    await bot.send_message(an.id, "welcome back")

    group = double.group("Tổ dân phố 5")
    double.send_text(an, "/start@doithoai_test_bot", chat=group)
    sent = await bot.send_message(group.id, "Chào cả tổ")
    assert sent.chat.type == "group" and sent.chat.title == "Tổ dân phố 5"


# --- editing -----------------------------------------------------------------------


async def test_edit_message_text_rules(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    menu = keyboard([("A", "a")])
    sent = await bot.send_message(an.id, "Chọn", reply_markup=menu)

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Chọn", chat_id=an.id, message_id=sent.message_id, reply_markup=menu)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=an.id, message_id=999)

    await bot.edit_message_text("Chọn", chat_id=an.id, message_id=sent.message_id, reply_markup=keyboard([("B", "b")]))
    # Like Telegram, editing the text without reply_markup removes the keyboard.
    edited = await bot.edit_message_text("Đã chọn B", chat_id=an.id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None and edited.edit_date
    [stored] = double.messages(an.id)
    assert stored["text"] == "Đã chọn B" and stored["edits"] == 2 and "reply_markup" not in stored

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=an.id, message_id=sent.message_id)
    await bot.edit_message_reply_markup(chat_id=an.id, message_id=sent.message_id, reply_markup=menu)
    assert double.messages(an.id)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"

    user_msg = double.send_text(an, "my own words")["message"]
    with pytest.raises(TelegramBadRequest, match="can't be edited"):
        await bot.edit_message_text("hijack", chat_id=an.id, message_id=user_msg["message_id"])


# --- callback queries -----------------------------------------------------------------


async def test_answer_callback_query_rules(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    sent = await bot.send_message(an.id, "Chọn", reply_markup=keyboard([("Có", "yes"), ("Không", "no")]))
    with pytest.raises(AssertionError, match="no inline button"):
        double.press(an, sent.message_id, "maybe")

    update = double.press(an, sent.message_id, "yes")
    qid = update["callback_query"]["id"]
    assert update["callback_query"]["message"]["message_id"] == sent.message_id
    assert double.unanswered_callbacks() == [qid]

    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345")
    with pytest.raises(TelegramBadRequest):
        await bot.answer_callback_query(qid, text="x" * 201)
    assert await bot.answer_callback_query(qid, text="Đã ghi nhận")
    assert await double.wait_answered(update, timeout=1) == "Đã ghi nhận"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(qid)  # answered twice
    assert double.unanswered_callbacks() == []

    # A stale button from an old message that no longer has buttons.
    await bot.edit_message_reply_markup(chat_id=an.id, message_id=sent.message_id)
    with pytest.raises(AssertionError):
        double.press(an, sent.message_id, "no")
    stale = double.press_raw(an, sent.message_id, "no")
    assert stale["callback_query"]["data"] == "no"


# --- getUpdates --------------------------------------------------------------------------


async def test_long_poll_wakes_promptly_and_honours_offset(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, double.send_text, an, "/start v3")
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    assert time.monotonic() - started < 1.0
    [update] = updates
    assert update.message and update.message.text == "/start v3"
    entity = (update.message.entities or [])[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)

    # Not confirmed yet: delivered again. Confirmed by offset: gone.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update.update_id]
    second = double.send_text(an, "câu hỏi")
    got = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert [u.update_id for u in got] == [second["update_id"]]
    assert await bot.get_updates(offset=second["update_id"] + 1, timeout=0) == []

    # After a crash Telegram delivers the same update again.
    copy = double.redeliver(second)
    again = await bot.get_updates(offset=second["update_id"] + 1, timeout=0)
    assert [u.update_id for u in again] == [copy["update_id"]] == [second["update_id"]]


async def test_get_updates_limits_and_allowed_updates(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    for i in range(3):
        double.send_text(an, f"m{i}")
    assert len(await bot.get_updates(limit=2)) == 2
    with pytest.raises(TelegramBadRequest):
        await bot.get_updates(limit=101)
    sent = await bot.send_message(an.id, "k", reply_markup=keyboard([("A", "a")]))
    double.press(an, sent, "a")
    only_messages = await bot.get_updates(allowed_updates=["message"])
    assert [u.event_type for u in only_messages] == ["message"] * 3
    assert double.filtered_updates[0]["callback_query"]["data"] == "a"


async def test_concurrent_get_updates_conflict(double: BotAPIDouble, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await double.wait_until(lambda: double._active_poll is not None, timeout=1)
    second = asyncio.create_task(bot.get_updates(timeout=5))
    # Like the real server, the older request is terminated.
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    update = double.send_text(double.user(), "hi")
    assert [u.update_id for u in await asyncio.wait_for(second, 2)] == [update["update_id"]]


async def test_reject_new_policy_and_disconnected_poll(raw: RawAPI) -> None:
    async with BotAPIDouble(conflict_policy="reject_new") as d:
        b = Bot(d.token, session=FastSession(api=TelegramAPIServer.from_base(d.base_url)))
        first = asyncio.create_task(b.get_updates(timeout=5))
        await d.wait_until(lambda: d._active_poll is not None, timeout=1)
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await b.get_updates(timeout=0)
        # The client hangs up mid long-poll: that poll no longer counts.
        first.cancel()
        await b.session.close()
        b2 = Bot(d.token, session=FastSession(api=TelegramAPIServer.from_base(d.base_url)))
        assert await b2.get_updates(timeout=0) == []
        await b2.session.close()


async def test_webhook_blocks_get_updates(double: BotAPIDouble, bot: Bot) -> None:
    await bot.set_webhook("https://example.org/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    double.send_text(double.user(), "pending")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


# --- files, faults, helpers ----------------------------------------------------------------


async def test_documents_and_photos(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    sent = await bot.send_document(an.id, BufferedInputFile(b"%PDF-1.4 data", filename="don.pdf"))
    assert sent.document and sent.document.mime_type == "application/pdf"
    call = double.calls_of("sendDocument")[0]
    assert call["document"].filename == "don.pdf" and call["document"].data == b"%PDF-1.4 data"
    again = await bot.send_document(an.id, sent.document.file_id)  # re-send by file_id
    assert again.document and again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(an.id, "no-such-file-id")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(an.id, BufferedInputFile(b"not an image", filename="x.jpg"))

    photo_update = double.send_photo(an, caption="ổ gà")
    file_id = photo_update["message"]["photo"][-1]["file_id"]
    file = await bot.get_file(file_id)
    assert file.file_path
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read().startswith(b"\xff\xd8\xff")
    await bot.send_photo(an.id, file_id, caption="Đã nhận ảnh")


async def test_fail_next_simulates_flood_control(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    double.fail_next("sendMessage", error_code=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(an.id, "x")
    assert info.value.retry_after == 3
    await bot.send_message(an.id, "x")
    assert [r.error_code for r in double.rejections] == [429]


async def test_injections_produce_complete_updates(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user(first_name="An", language_code="vi")
    contact = double.send_contact(an, "+84901234567")["message"]["contact"]
    assert contact["user_id"] == an.id
    assert "user_id" not in double.send_contact(an, "+84900000000", own=False)["message"]["contact"]
    double.send_sticker(an)
    double.send_voice(an)
    double.send_document(an)
    double.send_location(an, 10.77, 106.70)
    kinds = [u.message.content_type for u in await bot.get_updates() if u.message]
    assert kinds == ["contact", "contact", "sticker", "voice", "document", "location"]


async def test_next_message_and_wait_helpers(double: BotAPIDouble, bot: Bot) -> None:
    an = double.user()
    double.send_text(an, "hi")
    first = await bot.send_message(an.id, "một")
    await bot.send_message(an.id, "hai")
    assert (await double.next_message(an.id, timeout=1))["text"] == "một"
    await bot.edit_message_text("một!", chat_id=an.id, message_id=first.message_id)
    assert (await double.next_message(an, timeout=1))["text"] == "hai"  # edits are not new messages
    with pytest.raises(DoubleTimeout):
        await double.next_message(an.id, timeout=0.1)
    assert await double.wait_until(lambda: double.messages(an.id)[0]["edits"] == 1, timeout=1)


async def test_idle_timeouts_wait_while_the_bot_works_and_fail_once_it_stops(double: BotAPIDouble, bot: Bot) -> None:
    """A flood of residents on a slow machine: waits give up only when the bot stops calling."""
    an = double.user()
    double.send_text(an, "hi")

    async def slow_work(idle_timeouts: bool) -> None:
        double.idle_timeouts = idle_timeouts
        for i in range(5):
            await asyncio.sleep(0.1)  # deliberate: the bot's slow work between its calls
            await bot.send_message(an.id, f"bận {i}")
        await bot.send_message(an.id, "xong")

    work = asyncio.create_task(slow_work(False))
    with pytest.raises(DoubleTimeout):  # by the wall clock, 0.3 s is too short for this work
        await double.wait_until(lambda: any(m["text"] == "xong" for m in double.messages(an)), timeout=0.3)
    await work
    work = asyncio.create_task(slow_work(True))
    assert await double.wait_until(lambda: sum(m["text"] == "xong" for m in double.messages(an)) == 2, timeout=0.3)
    await work
    with pytest.raises(DoubleTimeout):  # the bot has stopped: the wait ends after 0.3 s of nothing
        await double.next_message(double.user(), timeout=0.3)


# --- end to end with a real aiogram Dispatcher ----------------------------------------------


async def test_real_dispatcher_round_trip(double: BotAPIDouble, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            "Chào mừng! Chọn ngôn ngữ:",
            reply_markup=keyboard([("Tiếng Việt", "lang:vi"), ("English", "lang:en")]),
        )

    @dp.callback_query(F.data.startswith("lang:"))
    async def choose(query: CallbackQuery) -> None:
        await query.answer("Đã lưu")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Ngôn ngữ: Tiếng Việt")

    polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
    try:
        an = double.user()
        double.send_text(an, "/start")
        welcome = await double.next_message(an.id, timeout=3)
        assert welcome["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "lang:vi"
        update = double.press(an, welcome, "lang:vi")
        assert await double.wait_answered(update, timeout=3) == "Đã lưu"
        await double.wait_until(lambda: welcome["edits"] == 1, timeout=3)
        assert welcome["text"] == "Ngôn ngữ: Tiếng Việt" and "reply_markup" not in welcome
        assert not double.rejections
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 3)


async def test_control_api(double: BotAPIDouble, bot: Bot, raw: RawAPI) -> None:
    base = f"{double.base_url}/_double"
    async with raw.session.post(f"{base}/users", json={"first_name": "Bình"}) as resp:
        user = (await resp.json())["result"]
    async with raw.session.post(f"{base}/send_text", json={"user_id": user["id"], "text": "/start"}) as resp:
        assert (await resp.json())["result"]["message"]["text"] == "/start"
    sent = await bot.send_message(user["id"], "Chào Bình", reply_markup=keyboard([("OK", "ok")]))
    async with raw.session.get(f"{base}/messages", params={"chat_id": user["id"]}) as resp:
        assert [m["text"] for m in (await resp.json())["result"]] == ["Chào Bình"]
    press = {"user_id": user["id"], "message_id": sent.message_id, "data": "nope"}
    async with raw.session.post(f"{base}/press", json=press) as resp:
        assert resp.status == 400 and "no inline button" in (await resp.json())["error"]
    async with raw.session.post(f"{base}/press", json={**press, "data": "ok"}) as resp:
        assert (await resp.json())["result"]["callback_query"]["data"] == "ok"
    async with raw.session.get(f"{base}/calls", params={"method": "sendmessage"}) as resp:
        assert len((await resp.json())["result"]) == 1
