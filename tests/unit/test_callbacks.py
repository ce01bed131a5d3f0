"""What a button carries (bot/domain/callbacks.py): packed within Telegram's 64 bytes, read back typed or not at all."""

from __future__ import annotations

import pytest

from bot.domain.callbacks import KINDS, Consent, Feedback, Form, VillageNotice, Withdraw, read


def test_each_kind_of_button_reads_back_as_it_was_packed():
    for button in (Consent("y", start="v12"), Form("ab12cd", "v", "3"), Withdraw(7), Feedback(12, 2, "n"), VillageNotice("ab12cd", "send")):
        assert read(button.pack()) == button
    assert {kind.prefix for kind in KINDS} == {"c", "x", "f", "w", "wy", "wn", "fb", "fu", "vh"}  # one prefix each


def test_the_wire_format_is_the_one_already_in_residents_chats():
    # Buttons sent before an upgrade must still work after it.
    assert Form("ab12cd", "send").pack() == "f:ab12cd:send"
    assert read("fb:12:2:y") == Feedback(submission_id=12, revision=2, satisfied="y")
    assert read("c:y") == Consent("y") and read("c:y:v12") == Consent("y", start="v12")


@pytest.mark.parametrize("data", ["", "zz:1", "w", "w:²", "w:1:2", "fb:12:2:maybe", "vh:ab:publish", "x:y:extra", "w:99999999999"])
def test_a_press_that_is_no_button_of_ours_is_none_never_an_error(data):
    assert read(data) is None


def test_data_that_cannot_be_a_button_fails_where_it_is_written():
    with pytest.raises(ValueError):
        Form("t" * 70, "send").pack()  # over 64 bytes
    with pytest.raises(ValueError):
        Form("a:b", "send").pack()  # the separator inside a field
