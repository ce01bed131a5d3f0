"""A small client for the Zalo Bot Platform's HTTP API: POST {base}/bot{token}/{method} with JSON.

The API is a handful of methods, so it is called directly with aiohttp (as Telegram's is,
bot/channels/telegram/client.py) rather than through a young third-party wrapper.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class ZaloAPIError(Exception):
    """The platform said no (`ok: false`), or the request did not complete (code 0)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class ZaloBotAPI:
    # A send that takes longer is abandoned and retried later, not waited on.
    REQUEST_TIMEOUT = 20

    def __init__(self, token: str, base_url: str, channel: str = "zalo") -> None:
        # This bot among the deployment's bots ("zalo", or "zalo:TP" for commune TP's).
        self.channel = channel
        self._url = f"{base_url.rstrip('/')}/bot{token}"
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(self, method: str, *, request_timeout: float | None = None, **params: Any) -> Any:
        session = await self._client()
        try:
            async with session.post(
                f"{self._url}/{method}", json=params, timeout=aiohttp.ClientTimeout(total=request_timeout or self.REQUEST_TIMEOUT)
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    raise ZaloAPIError(response.status, "the answer was not JSON") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # Only the type: the error's text can carry the URL, and with it the token.
            raise ZaloAPIError(0, type(exc).__name__) from None
        if not isinstance(body, dict) or not body.get("ok"):
            body = body if isinstance(body, dict) else {}
            raise ZaloAPIError(int(body.get("error_code") or response.status), str(body.get("description") or "refused"))
        return body.get("result")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
