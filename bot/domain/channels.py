"""What each channel can show, for the parts of the code that write to residents on any of them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.text.catalogue import Translator


@dataclass(frozen=True)
class Traits:
    buttons: bool  # shows tappable buttons; without them, choices are numbered in the text and typed back
    text_limit: int  # the longest text one message may carry
    staff: bool = False  # staff accounts are bound to their user id here: a village head works from this chat
    voice: bool = False  # a resident can send a voice note the bot can fetch (the Zalo bot passes none on)


TRAITS = {
    "telegram": Traits(buttons=True, text_limit=4096, staff=True, voice=True),
    "console": Traits(buttons=True, text_limit=4096),
    "zalo": Traits(buttons=False, text_limit=2000),
    # The OA shows up to a few quick-reply buttons, but not for every list (villages, topics):
    # it reads and writes like the Zalo bot, numbers and all, so both behave the same.
    "zalo_oa": Traits(buttons=False, text_limit=2000, voice=True),
}
DEFAULT = Traits(buttons=True, text_limit=4096)


def platform_of(channel: str) -> str:
    """The platform of a bot: "telegram" for "telegram" and for commune TP's "telegram:TP"."""
    return channel.partition(":")[0]


def commune_code(channel: str) -> str | None:
    """The commune a bot serves, when it is one of a commune's own bots ("telegram:TP" → "TP")."""
    return channel.partition(":")[2] or None


# The platforms where a staff member is known by a Zalo id of theirs (`Staff.zalo_id`) rather than a Telegram one.
ZALO_PLATFORMS = ("zalo", "zalo_oa")


def staff_binding(channel: str) -> str | None:
    """How staff are recognised on this bot: "telegram" (their Telegram id), "zalo" (a Zalo bot or OA
    user id bound to them), or None (the console, where nobody works as staff in a chat)."""
    if traits(channel).staff:
        return "telegram"
    return "zalo" if platform_of(channel) in ZALO_PLATFORMS else None


def traits(channel: str) -> Traits:
    return TRAITS.get(platform_of(channel), DEFAULT)


def translator(lang: str, channel: str) -> Translator:
    """Texts for someone on `channel`: "bấm nút" where there are buttons, "gõ số" where there are none."""
    return Translator(lang, typed=not traits(channel).buttons)
