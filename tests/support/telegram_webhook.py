"""Telegram's side of a webhook, for the Bot API double: every update the double queues is POSTed to the
bot until the bot acknowledges it with a 2xx, as Telegram does.

Like Telegram it keeps several connections open at once (`max_connections`, 40 by default), sends a
chat's updates one after another (the next only once the previous one is acknowledged), and repeats an
update whose delivery failed: a refused or broken connection, a timeout, any answer but 2xx. An update
counts as received (`acknowledged`) only once a 2xx came back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.support.botapi_double import BotAPIDouble

RETRY_AFTER = 0.2  # Telegram waits longer between tries; a test has no reason to


def chat_of(update: dict[str, Any]) -> int:
    if "callback_query" in update:
        return update["callback_query"]["message"]["chat"]["id"]
    return update["message"]["chat"]["id"]


class TelegramWebhook:
    def __init__(self, double: BotAPIDouble, url: str, secret: str, *, max_connections: int = 40, timeout: float = 60) -> None:
        self.double, self.url, self.secret = double, url, secret
        self.max_connections, self.timeout = max_connections, timeout
        self.acknowledged: set[int] = set()
        self.attempts = 0
        self.failures = 0
        self._chats: dict[int, asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def unacknowledged(self) -> list[dict]:
        return [u for u in self.double.pending_updates() if u["update_id"] not in self.acknowledged]

    async def __aenter__(self) -> "TelegramWebhook":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret}
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
            try:
                while True:
                    for update in self.unacknowledged():
                        chat = chat_of(update)
                        if chat in self._chats or len(self._chats) >= self.max_connections:
                            continue
                        self._chats[chat] = asyncio.create_task(self._deliver(http, update, chat))
                    await asyncio.sleep(0.01)
            finally:
                for task in self._chats.values():
                    task.cancel()
                await asyncio.gather(*self._chats.values(), return_exceptions=True)

    async def _deliver(self, http: aiohttp.ClientSession, update: dict, chat: int) -> None:
        try:
            while True:
                self.attempts += 1
                try:
                    async with http.post(self.url, json=update) as response:
                        if 200 <= response.status < 300:
                            self.acknowledged.add(update["update_id"])
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass  # the bot went down mid-request, or never answered: send it again
                self.failures += 1
                await asyncio.sleep(RETRY_AFTER)
        finally:
            del self._chats[chat]
