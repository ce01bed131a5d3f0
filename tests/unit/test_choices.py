"""Reading a typed answer against a numbered list: number, name, no diacritics, typo, out of range, garbage."""

from __future__ import annotations

from bot.domain.choices import Choice, numbered, offered, pick
from bot.domain.messages import Button, KeyButton, Reply

VILLAGES = [Choice(name, data=f"v:{n}") for n, name in enumerate(["Thôn Phong Lâm", "Thôn Đông", "Thôn Tây", "Tổ dân phố 3"], 1)]


def test_a_number_on_the_list_picks_that_choice():
    assert pick("2", VILLAGES).choice == VILLAGES[1]
    assert pick(" 4. ", VILLAGES).choice == VILLAGES[3]
    assert pick("1)", VILLAGES).choice == VILLAGES[0]


def test_a_number_off_the_list_says_how_long_the_list_is():
    assert pick("0", VILLAGES).out_of_range == 4
    assert pick("9", VILLAGES).out_of_range == 4
    assert pick("9", VILLAGES).choice is None


def test_a_long_number_is_an_answer_of_its_own_not_a_choice():
    picked = pick("0912345678", [Choice("Bỏ qua", text="Bỏ qua")])
    assert picked.choice is None and picked.out_of_range is None


def test_a_name_in_any_case_with_or_without_diacritics():
    assert pick("Thôn Đông", VILLAGES).choice == VILLAGES[1]
    assert pick("THON DONG", VILLAGES).choice == VILLAGES[1]
    assert pick("thon tay", VILLAGES).choice == VILLAGES[2]
    assert pick("tổ dân phố 3", VILLAGES).choice == VILLAGES[3]


def test_one_word_that_only_one_label_holds():
    assert pick("Đông", VILLAGES).choice == VILLAGES[1]
    assert pick("thon", VILLAGES).choice is None  # every village is a "thôn": ambiguous


def test_the_last_words_of_one_label_only():
    assert pick("phong lam", VILLAGES).choice == VILLAGES[0]  # a village called without its "Thôn"
    near = [Choice("Thôn Đông", data="d"), Choice("Thôn Đông Hải", data="dh")]
    assert pick("dong", near).choice == near[0]  # a word both hold, but only one ends with
    both = [Choice("Thôn Phong Lâm", data="p"), Choice("Thôn Văn Lâm", data="v")]
    assert pick("lam", both).choice is None


def test_the_end_of_the_name_offered_on_the_name_step_takes_that_name():
    offered = [Choice("👤 Nguyễn Văn An", data="f:ab12cd:name:same")]
    assert pick("Văn An", offered).choice == offered[0]
    assert pick("Trần Văn An", offered).choice is None  # someone else's name


def test_a_small_typo_still_finds_the_choice_but_not_a_different_word():
    assert pick("thon phong lamm", VILLAGES).choice == VILLAGES[0]
    assert pick("thon phog lam", VILLAGES).choice == VILLAGES[0]
    assert pick("thon nam", VILLAGES).choice is None


def test_garbage_is_no_choice():
    for text in ("", "   ", "???", "cây xăng", "😀", "xin chào các bác"):
        picked = pick(text, VILLAGES)
        assert picked.choice is None and picked.out_of_range is None, text


def test_nothing_offered_means_nothing_picked():
    assert pick("1", []).choice is None and pick("1", []).out_of_range is None


def test_emoji_and_punctuation_in_labels_do_not_get_in_the_way():
    menu = [Choice("📝 Đăng ký phát biểu", text="📝 Đăng ký phát biểu"), Choice("❓ Hướng dẫn", text="❓ Hướng dẫn")]
    assert pick("dang ky phat bieu", menu).choice == menu[0]
    assert pick("Hướng dẫn", menu).choice == menu[1]


def test_a_reply_offers_its_buttons_in_reading_order_else_its_menu_without_contact_sharing():
    reply = Reply(text="?", buttons=[[Button("A", "a"), Button("B", "b")], [Button("C", "c")]])
    assert [c.data for c in offered(reply)] == ["a", "b", "c"]
    menu = Reply(text="?", keyboard=[[KeyButton("📱 Chia sẻ số", request_contact=True)], [KeyButton("Bỏ qua")]])
    assert offered(menu) == [Choice("Bỏ qua", text="Bỏ qua")]
    assert offered(Reply(text="no choices")) == []
    assert numbered("Chọn thôn:", VILLAGES[:2]) == "Chọn thôn:\n\n1. Thôn Phong Lâm\n2. Thôn Đông"
    assert Choice.from_dict(VILLAGES[0].to_dict()) == VILLAGES[0]
