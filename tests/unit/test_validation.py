"""What text may be stored (bot/domain/validation.py): the doors refuse what nobody types, exports drop it."""

from __future__ import annotations

import pytest

from bot.domain import validation as textrules
from bot.text.catalogue import Translator


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b", "\x7f", "\x9b", "\ud800", "\ufffe", "\U0010ffff", "\ufdd0"])
def test_doors_refuse_what_nobody_types(bad):
    for clean in (textrules.line, textrules.block):
        with pytest.raises(textrules.BadText) as caught:
            clean(f"Nguyễn{bad}Văn An")
        assert caught.value.char == bad and f"U+{ord(bad):04X}" in str(caught.value)
    assert textrules.printable(f"Nguyễn{bad} Văn An") == "Nguyễn Văn An"


def test_single_line_fields_collapse_whitespace_and_multi_line_fields_keep_lines():
    decomposed = "Nguye\u0302\u0303n"  # typed on a Mac: "ễ" as e + two combining marks
    assert textrules.line(f"  {decomposed}\tVăn\r\nAn ") == "Nguyễn Văn An"
    # Word pastes its manual line break as a vertical tab.
    assert textrules.block("Dòng một\x0bdòng hai\r\n\r\n\r\n\r\nDòng\t ba  ") == "Dòng một\ndòng hai\n\nDòng ba"


def test_names_are_letters_of_any_script_with_the_punctuation_names_carry():
    assert textrules.is_name("H'Hen Niê") and textrules.is_name("Nguyễn Văn A.") and textrules.is_name("Lò Thị Mai-Anh")
    assert not textrules.is_name("😀😀") and not textrules.is_name("Nguyễn Văn An 👍") and not textrules.is_name("!!!")


def test_line_breaks_of_every_kind_are_text_and_the_first_control_after_them_is_named():
    # Vertical tab, form feed, NEL and the Unicode separators end a line; they are not refused.
    assert textrules.first_refused("một\x0bhai\x0cba\x85bốn\u2028năm\u2029sáu") is None
    assert textrules.first_refused("một\x0bhai\x01ba\x00") == "\x01"
    assert textrules.printable("Dòng một\r\nDòng hai\x00") == "Dòng một\nDòng hai"


def test_a_refusal_is_worded_by_the_reader_s_catalogue():
    refused = textrules.BadText("\x00")
    assert refused.key == "problem.text.bad_char" and refused.params == {"code": "U+0000"}
    assert "U+0000" in refused.text(Translator("en")) and "which is not text" in refused.text(Translator("en"))


def test_letters_and_digits_of_any_script_count():
    assert textrules.has_letters("Đ") and textrules.has_letters("山") and not textrules.has_letters("123 !?😀")
    assert textrules.has_digits("٣") and not textrules.has_digits("²")  # "²" is a digit to str.isdigit(), not to Unicode's Nd
