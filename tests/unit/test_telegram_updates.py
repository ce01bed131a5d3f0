"""Telegram's updates as the bot reads them (bot/channels/telegram/events.py), held to aiogram's own
`Update` model: the bot no longer imports aiogram, and what it accepts must still be what Telegram
sends, no more."""

from __future__ import annotations

import copy

import pytest
from aiogram.types import Update

from bot.channels.telegram.events import read_update
from bot.domain.messages import Kind

USER = {"id": 7, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
CHAT = {"id": 7, "type": "private", "first_name": "Lan"}
MESSAGE = {"message_id": 3, "date": 1_800_000_000, "chat": CHAT, "from": USER, "text": "Xin chào"}
PRESS = {"id": "q1", "from": USER, "chat_instance": "ci", "data": "c:y",
         "message": {"message_id": 4, "date": 1_800_000_000, "chat": CHAT, "text": "…",
                     "reply_markup": {"inline_keyboard": [[{"text": "Đồng ý", "callback_data": "c:y"}]]}}}

GOOD = [
    {"update_id": 1, "message": MESSAGE},
    {"update_id": 2, "message": {**MESSAGE, "text": "/dangky@GiaPhucBot v12"}},
    {"update_id": 3, "message": {**MESSAGE, "text": None, "contact": {"phone_number": "0912345678", "first_name": "Lan", "user_id": 7}}},
    {"update_id": 4, "message": {**MESSAGE, "text": None, "caption": "ảnh",
                                 "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90, "file_size": 900}]}},
    {"update_id": 5, "callback_query": PRESS},
    {"update_id": 6, "callback_query": {k: v for k, v in PRESS.items() if k != "message"}},
    {"update_id": 7, "message": {**MESSAGE, "chat": {"id": -100123, "type": "supergroup", "title": "Thôn 1"}}},
]


def spoiled(update: dict, path: tuple, value: object) -> dict:
    out = copy.deepcopy(update)
    part = out
    for key in path[:-1]:
        part = part[key]
    if value is KeyError:
        del part[path[-1]]
    else:
        part[path[-1]] = value
    return out


BAD = [
    spoiled(GOOD[0], ("message", "chat"), KeyError),
    spoiled(GOOD[0], ("message", "chat", "type"), KeyError),
    spoiled(GOOD[0], ("message", "message_id"), "x"),
    spoiled(GOOD[0], ("message", "date"), "yesterday"),
    spoiled(GOOD[0], ("message", "from"), "me"),
    spoiled(GOOD[0], ("message", "from", "id"), 7.5),
    spoiled(GOOD[0], ("message", "from", "is_bot"), KeyError),
    spoiled(GOOD[0], ("message", "from", "first_name"), KeyError),
    spoiled(GOOD[0], ("message", "from", "language_code"), 5),
    spoiled(GOOD[0], ("message", "text"), 5),
    spoiled(GOOD[0], ("message", "caption"), ["x"]),
    spoiled(GOOD[2], ("message", "contact"), "0912345678"),
    spoiled(GOOD[2], ("message", "contact", "phone_number"), 912345678),
    spoiled(GOOD[3], ("message", "photo"), "f"),
    spoiled(GOOD[4], ("callback_query", "data"), 5),
    spoiled(GOOD[4], ("callback_query", "from"), KeyError),
    spoiled(GOOD[4], ("callback_query", "id"), KeyError),
    spoiled(GOOD[4], ("callback_query", "chat_instance"), KeyError),
    spoiled(GOOD[4], ("callback_query", "message"), "oops"),
    spoiled(GOOD[4], ("callback_query", "message", "chat", "id"), [1]),
    spoiled(GOOD[0], ("update_id",), KeyError),
]
# Types Telegram never sends, which aiogram's lax validation would turn into numbers: refused here.
STRICTER = [
    spoiled(GOOD[0], ("message", "chat", "id"), "7"),
    spoiled(GOOD[0], ("message", "chat", "id"), True),
    spoiled(GOOD[4], ("callback_query", "from", "id"), "7"),
    spoiled(GOOD[0], ("update_id",), "1"),
]


@pytest.mark.parametrize("update", GOOD, ids=lambda u: str(u["update_id"]))
def test_what_telegram_sends_is_read_as_aiogram_reads_it(update):
    # Telegram leaves out a field it has no value for: None here stands for "absent".
    update = {k: ({f: v for f, v in part.items() if v is not None} if isinstance(part, dict) else part) for k, part in update.items()}
    typed = Update.model_validate(update)
    event, press = read_update(update, "GiaPhucBot")
    assert event is not None
    if typed.message is not None:
        assert (event.user_id, event.chat_id) == (str(typed.message.from_user.id), str(typed.message.chat.id))
        assert event.private == (typed.message.chat.type == "private")
        assert press is None
    else:
        query = typed.callback_query
        assert (event.kind, event.data, press) == (Kind.BUTTON, query.data, query.id)
        assert event.user_id == str(query.from_user.id)
        assert event.chat_id == str(query.message.chat.id if query.message else query.from_user.id)
        assert event.message_ref == (str(query.message.message_id) if query.message else None)


@pytest.mark.parametrize("update", BAD, ids=[str(i) for i in range(len(BAD))])
def test_what_aiogram_refuses_the_bot_refuses_too(update):
    with pytest.raises(ValueError):
        Update.model_validate(update)
    with pytest.raises(ValueError):
        read_update(update, "GiaPhucBot")


@pytest.mark.parametrize("update", STRICTER, ids=[str(i) for i in range(len(STRICTER))])
def test_numbers_sent_as_text_are_refused(update):
    with pytest.raises(ValueError):
        read_update(update, "GiaPhucBot")


def test_a_bot_s_message_and_other_kinds_of_update_are_nobody_s_to_answer():
    assert read_update({"update_id": 9, "message": {**MESSAGE, "from": {**USER, "is_bot": True}}}, None) == (None, None)
    assert read_update({"update_id": 9, "edited_message": MESSAGE}, None) == (None, None)
    assert read_update({"update_id": 9, "message": {**MESSAGE, "text": "/start@OtherBot"}}, "GiaPhucBot") == (None, None)


@pytest.mark.parametrize("status, body, kind", [
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, "BadRequest"),
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, "Unauthorized"),
    (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, "Forbidden"),
    (404, {"ok": False, "error_code": 404, "description": "Not Found"}, "NotFound"),
    (409, {"ok": False, "error_code": 409, "description": "Conflict: terminated by other getUpdates request"}, "Conflict"),
    (413, None, "BadRequest"),
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}, "RetryAfter"),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
           "parameters": {"migrate_to_chat_id": -1001}}, "BadRequest"),
    (502, "<html>Bad Gateway</html>", "ServerError"),
    (200, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}, "BadRequest"),
    (418, {"ok": False}, "BotAPIError"),
])
def test_a_refusal_is_sorted_as_telegram_words_it(status, body, kind):
    from bot.channels.telegram.client import refusal

    error = refusal("sendMessage", status, body)
    assert type(error).__name__ == kind
    assert error.method == "sendMessage"
    if kind == "RetryAfter":
        assert error.retry_after == 7
    assert error.description == (body["description"] if isinstance(body, dict) and "description" in body else f"HTTP {status}")
