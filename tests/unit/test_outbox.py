"""A message cut into what a platform takes in one call (bot/services/outbox.split_text and parts), before it is queued."""

from __future__ import annotations

from bot.domain.messages import Button, KeyButton, Reply
from bot.services.outbox import parts, split_text

VILLAGES = [[Button("Thôn Đông", "v:1"), Button("Thôn Tây", "v:2")]]


def test_split_text_prefers_paragraphs_then_lines_then_words():
    assert split_text("abc", 10) == ["abc"]
    assert split_text("aaaa\n\nbbbb", 6) == ["aaaa", "bbbb"]
    assert split_text("aaaa bbbb cccc", 9) == ["aaaa", "bbbb cccc"]
    assert all(len(p) <= 5 for p in split_text("x" * 23, 5))


def test_on_a_channel_without_buttons_the_choices_are_numbered_into_the_text_and_the_buttons_kept():
    [part] = parts(Reply(text="Chọn thôn:", buttons=VILLAGES), "zalo")
    assert part.text == "Chọn thôn:\n\n1. Thôn Đông\n2. Thôn Tây"
    assert part.buttons == VILLAGES  # what the chat can answer is known once this part is delivered


def test_a_commune_s_own_telegram_bot_shows_buttons_and_leaves_the_text_alone():
    [part] = parts(Reply(text="Chọn thôn:", buttons=VILLAGES), "telegram:TP")
    assert part.text == "Chọn thôn:" and part.buttons == VILLAGES


def test_a_long_text_goes_in_pieces_within_the_limit_with_the_buttons_on_the_last():
    long = "\n\n".join(f"Đoạn {n}. " + "chữ " * 400 for n in range(3))  # 3 × ~1600 characters
    pieces = parts(Reply(text=long, buttons=[[Button("👍 Hài lòng", "fb:1:1:y")]]), "zalo")
    assert len(pieces) == 3 and all(len(p.text) <= 2000 for p in pieces)  # Zalo's limit
    assert [p.text.split(".")[0] for p in pieces] == ["Đoạn 0", "Đoạn 1", "Đoạn 2"]
    assert [bool(p.buttons) for p in pieces] == [False, False, True]
    assert len(parts(Reply(text=long), "telegram")) == 2  # 4096 a message there


def test_a_map_pin_and_a_file_follow_the_text_as_calls_of_their_own():
    reply = Reply(text="Lịch hội nghị", keyboard=[[KeyButton("📅 Lịch hội nghị")]], location=(20.45, 106.34), document=7)
    text, pin, file = parts(reply, "telegram")
    assert (text.text, text.keyboard, text.location, text.document) == ("Lịch hội nghị", reply.keyboard, None, None)
    assert pin == Reply(location=(20.45, 106.34)) and file == Reply(document=7)


def test_a_reply_without_text_is_one_call_as_it_is():
    retire = Reply(retire_buttons_of="m1")
    assert parts(retire, "zalo") == [retire]
