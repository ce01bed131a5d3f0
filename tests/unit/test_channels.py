"""What each channel can show (bot/domain/channels.py), and so how a resident is asked to choose."""

from __future__ import annotations

from bot.domain.channels import DEFAULT, Traits, commune_code, platform_of, traits, translator


def test_a_commune_s_own_bot_is_of_its_platform_and_names_its_commune():
    assert (platform_of("telegram:TP"), commune_code("telegram:TP")) == ("telegram", "TP")
    assert (platform_of("zalo"), commune_code("zalo")) == ("zalo", None)


def test_zalo_has_no_buttons_and_shorter_messages_whichever_commune_s_bot():
    assert traits("zalo") == Traits(buttons=False, text_limit=2000)
    assert traits("zalo_oa:GP") == Traits(buttons=False, text_limit=2000, voice=True)
    assert traits("telegram:TP") == Traits(buttons=True, text_limit=4096, staff=True, voice=True)
    assert traits("console") == Traits(buttons=True, text_limit=4096)
    assert traits("a-platform-added-later") == DEFAULT


def test_residents_without_buttons_are_told_to_type_and_the_others_to_tap():
    assert "gõ số thứ tự" in translator("vi", "zalo")("form.ask_village")
    assert "bấm chọn" in translator("vi", "telegram")("form.ask_village")
    assert "type its number" in translator("en", "zalo_oa")("form.ask_village")


def test_staff_work_from_telegram_only_so_far():
    assert [p for p in ("telegram", "telegram:TP", "zalo", "zalo_oa", "console") if traits(p).staff] == ["telegram", "telegram:TP"]
