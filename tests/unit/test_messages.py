"""What goes into the conversation core and comes out of it (bot/domain/messages.py), without a channel."""

from __future__ import annotations

from dataclasses import asdict

from bot.domain.messages import Button, Event, KeyButton, Kind, Reply, number, split_command, typed_event

# Digits Python reads as digits but no Vietnamese keyboard types, and a number longer than any id.
NOT_NUMBERS = ["²", "①", "１", "٣", "2²", "１２", "99999999999999999999"]


def test_only_ascii_digits_are_a_number():
    assert [number(t) for t in ("1", "007", "123456789")] == [1, 7, 123456789]
    assert [number(t) for t in NOT_NUMBERS + ["", " 1", "1 ", "-1", "+1", "1_0", "1.0", "1234567890"]] == [None] * 15


def test_a_command_is_split_from_what_follows_it():
    assert split_command("/start v12") == ("start", "v12")
    assert split_command("/dangky") == ("dangky", "")
    assert split_command("/start   v12  ") == ("start", "v12")
    assert split_command("/") is None and split_command("dangky") is None and split_command("") is None


def test_what_is_typed_is_a_command_only_when_it_starts_with_a_slash():
    base = {"channel": "zalo", "user_id": "u1", "chat_id": "c1"}
    assert typed_event("/DangKy v3", **base) == Event(kind=Kind.COMMAND, text="/DangKy v3", command="dangky", args="v3", **base)
    assert typed_event("Thôn Đông", **base) == Event(kind=Kind.TEXT, text="Thôn Đông", **base)


def test_a_reply_comes_back_whole_from_its_stored_payload():
    reply = Reply(
        text="Chọn thôn:",
        buttons=[[Button("Thôn Đông", "f:ab12:v:1")], [Button("Thôn Tây", "f:ab12:v:2")]],
        keyboard=[[KeyButton("📱 Chia sẻ số", request_contact=True)], [KeyButton("Bỏ qua")]],
        one_time_keyboard=True,
        location=(20.45, 106.34),
        document=7,
    )
    assert Reply.from_payload(reply.to_payload()) == reply
    # Every field, in the shape stored before to_payload was written out by hand.
    assert reply.to_payload() == asdict(reply)
    assert Reply(text="x").to_payload() == asdict(Reply(text="x"))
    assert Reply.from_payload({"text": "chỉ chữ"}) == Reply(text="chỉ chữ")  # older payloads lack the newer fields
