"""A small client for Telegram's Bot API: POST {base}/bot{token}/{method}, JSON or a multipart upload,
and GET {base}/file/bot{token}/{path} for a file, as core.telegram.org/bots/api documents them.

The bot calls a dozen methods, by name, with the parameters Telegram documents, and reads a few
fields of the answers. aiogram did this before; it is not imported by the running bot any more,
because importing it builds a pydantic model for each of the Bot API's ~300 types and ~150
methods: about 5 s of CPU at every `doithoai run` start (and in every worker), before the first
update, and its typed calls cost more CPU per update than the rest of the update's handling.
aiogram stays where it earns its place: the Bot API double's own tests drive the double with it,
and the benchmark's baseline bot is written with it (README, "How it is built").

A refusal is sorted the way Telegram words it (`error_code`, `parameters.retry_after`), into the
classes below. No error carries the request's URL, which holds the token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class BotAPIError(Exception):
    """Telegram refused a call (`description` is Telegram's), or the call did not complete."""

    def __init__(self, method: str, description: str) -> None:
        super().__init__(f"{method}: {description}")
        self.method = method
        self.description = description


class BadRequest(BotAPIError):
    """400 (and 413, a file too big): this call will never succeed as it is."""


class Unauthorized(BotAPIError):
    """401: the token is wrong or revoked."""


class Forbidden(BotAPIError):
    """403: the person blocked the bot, or the bot was removed from the group."""


class NotFound(BotAPIError):
    """404: no such method (or token)."""


class Conflict(BotAPIError):
    """409: another process polls this bot, or a webhook is set while polling."""


class RetryAfter(BotAPIError):
    """429: too many requests; Telegram says how many seconds to wait."""

    def __init__(self, method: str, description: str, retry_after: float) -> None:
        super().__init__(method, description)
        self.retry_after = retry_after


class ServerError(BotAPIError):
    """5xx: Telegram's trouble, worth another try later."""


class NetworkError(BotAPIError):
    """No answer: the connection failed or the call took longer than its timeout."""


_BY_CODE: dict[int, type[BotAPIError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: BadRequest}


def refusal(method: str, status: int, body: Any) -> BotAPIError:
    """The error for an answer that is not `ok`, as Telegram documents its answers."""
    body = body if isinstance(body, dict) else {}
    description = body.get("description")
    description = description if isinstance(description, str) else f"HTTP {status}"
    code = body.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else status
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after")
    if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool) and retry_after > 0:
        return RetryAfter(method, description, float(retry_after))
    if parameters.get("migrate_to_chat_id"):
        return BadRequest(method, description)  # the group became a supergroup: this chat id is gone for good
    cls = _BY_CODE.get(code) or (ServerError if code >= 500 else BotAPIError)
    return cls(method, description)


class BotAPI:
    """One bot's connection to the Bot API. `base_url` is https://api.telegram.org, a local Bot API
    server, or the test double."""

    def __init__(self, token: str, base_url: str) -> None:
        base = base_url.rstrip("/")
        self._url = f"{base}/bot{token}"
        self._files = f"{base}/file/bot{token}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(json_serialize=_compact)
        return self._session

    async def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float) -> Any:
        """`method` with `params` as JSON (no None values); its `result`, or the refusal raised."""
        return await self._post(method, timeout, json=params or {})

    async def username(self, *, timeout: float) -> str | None:
        """The bot's @username, from getMe."""
        me = await self.call("getMe", timeout=timeout)
        name = me.get("username") if isinstance(me, dict) else None
        return name if isinstance(name, str) else None

    async def upload(self, method: str, params: dict[str, Any], field: str, filename: str, data: bytes,
                     content_type: str, *, timeout: float) -> Any:
        """`method` with a file in `field`, as multipart/form-data (how the Bot API takes uploads)."""
        form = aiohttp.FormData(quote_fields=False)
        for name, value in params.items():
            form.add_field(name, value if isinstance(value, str) else _compact(value))
        form.add_field(field, data, filename=filename, content_type=content_type)
        return await self._post(method, timeout, data=form)

    async def download(self, file_path: str, *, timeout: float) -> bytes:
        """The bytes of a file getFile pointed to."""
        try:
            async with self._client().get(f"{self._files}/{file_path}", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status != 200:
                    raise refusal("download", resp.status, None)
                return await resp.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise NetworkError("download", type(exc).__name__) from None

    async def _post(self, method: str, timeout: float, **body: Any) -> Any:
        try:
            async with self._client().post(f"{self._url}/{method}", timeout=aiohttp.ClientTimeout(total=timeout), **body) as resp:
                status, content = resp.status, await resp.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            # Only the type: the error's text can hold the request's URL, and with it the token.
            raise NetworkError(method, type(exc).__name__) from None
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if status == 200 and isinstance(answer, dict) and answer.get("ok") is True and "result" in answer:
            return answer["result"]
        raise refusal(method, status, answer)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
