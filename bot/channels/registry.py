"""The platforms the bot speaks on, by the name its channels carry ("telegram", "zalo", "zalo_oa").

A new platform is a package with its `Platform` (bot/channels/platform.py) and one line here;
the wiring and the webhook listener read this table and name no platform themselves.
"""

from __future__ import annotations

from bot.channels.platform import Platform
from bot.channels.telegram.platform import TelegramPlatform
from bot.channels.zalo.platform import ZaloBotPlatform
from bot.channels.zalo_oa.platform import ZaloOAPlatform
from bot.domain.channels import platform_of

PLATFORMS: dict[str, Platform] = {p.name: p for p in (TelegramPlatform(), ZaloBotPlatform(), ZaloOAPlatform())}
# Each platform's webhook, for the settings' own bots: a further commune's adds its code (`Platform.webhook_path`).
PATHS = {name: p.path for name, p in PLATFORMS.items()}


def platform(channel: str) -> Platform:
    """The platform of a bot: Telegram's for "telegram" and for commune TP's "telegram:TP"."""
    return PLATFORMS[platform_of(channel)]
