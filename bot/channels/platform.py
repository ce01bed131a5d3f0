"""One interface for every platform the bot speaks on.

The wiring (bot/entrypoints/bootstrap.py) and the webhook listener (bot/channels/webhook.py) go
through the table of platforms (bot/channels/registry.py) and never name one: each platform's
package says how its bots connect, run, listen and register. A platform's modules are imported
only once one of its bots is configured.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, Coroutine, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels.files import FileLinks
    from bot.conversation.engine import Conversation
    from bot.delivery.inbox import Inbox
    from bot.delivery.sender import Sender
    from bot.delivery.transport import Transport
    from storage.db import Database


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Runner(Protocol):
    """A bot at work: what its platform's updates come to, by long poll or by webhook."""

    channel: str


@dataclass(frozen=True)
class Connection:
    """A bot's link to its platform: what sends (`transport`), what its runner reads updates with
    and answers through (`client`), and how to let go of both."""

    transport: Transport
    client: Any
    close: Callable[[], Awaitable[None]]


def revealed(value: Any) -> str | None:
    """A secret setting's value, or None when it is not set."""
    return value.get_secret_value() if value is not None else None


class Platform(ABC):
    name: ClassVar[str]  # as the bots' channels name it, before any commune's code: "telegram" for "telegram:TP"
    path: ClassVar[str]  # where its webhook is served; a further commune's bot adds its code
    # The header in which the platform echoes the secret we registered its webhook with (see
    # SecretEchoingPlatform). None: we do not register it (the OA's is set by hand in its console,
    # and its deliveries are signed).
    secret_header: ClassVar[str | None] = None
    # It can long-poll. One that cannot has its webhook listen whether or not --webhook is given.
    polls: ClassVar[bool] = True
    # It sends files as links to our listener (bot/channels/files.py), which DOITHOAI_FILES_SECRET signs.
    links_files: ClassVar[bool] = False

    @property
    def registers_webhook(self) -> bool:
        """With --webhook, we set its webhook at start: our address and our secret are needed."""
        return self.secret_header is not None

    def webhook_path(self, channel: str) -> str:
        """Where a bot's webhook is served: "telegram" → /webhook/telegram, "telegram:TP" → /webhook/telegram/TP."""
        code = channel.partition(":")[2]
        return self.path + (f"/{code}" if code else "")

    @abstractmethod
    def connect(self, channel: str, credentials: Any, settings: Any, db: Database, files: FileLinks | None) -> Connection:
        """The bot's client and transport. `credentials`: its BotCredentials; `settings`: the
        deployment's Settings, for the platform's addresses (both bot/entrypoints/settings.py)."""

    @abstractmethod
    def runner(self, client: Any, conversation: Conversation, sender: Sender, inbox: Inbox, channel: str) -> Runner:
        """The bot at work, reading its updates through `client`."""

    async def start(
        self, runner: Any, webhook_url: str | None, secret: str | None, *, register: bool, stop: asyncio.Event,
    ) -> Coroutine[Any, Any, None] | None:
        """Make the bot ready: for its webhook at `webhook_url` (with --webhook), else for polling,
        and `register` its webhook and menus with the platform. The long poll to run, if it polls."""
        return None

    @abstractmethod
    def webhook(self, runner: Any, secret: str | None) -> Handler | None:
        """The handler of the bot's webhook deliveries; None when it cannot be checked (no secret)."""


class SecretEchoingPlatform(Platform):
    """A platform that echoes the secret we register its webhook with in `secret_header` (Telegram,
    the Zalo bot): its deliveries are checked against it, and a taken one gets `answer()`."""

    secret_header: ClassVar[str]

    @abstractmethod
    def answer(self) -> web.Response:
        """What a webhook delivery that was taken is answered with."""

    def webhook(self, runner: Any, secret: str | None) -> Handler | None:
        from bot.channels.webhook import echoed_secret  # the listener's module reads this table

        if not secret:
            return None
        return echoed_secret(runner.channel, self.secret_header, secret, runner.receive, self.answer)
