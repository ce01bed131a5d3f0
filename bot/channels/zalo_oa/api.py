"""Sending as the OA, with its short-lived access token renewed by a refresh token that works once.

The current token pair lives in the database (table channel_token), seeded from the settings
the first time. A refresh writes the new pair and commits it before the new access token is
used for anything: a crash at any point then leaves a refresh token that still works.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import aiohttp

from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
TOKEN_INVALID = -216  # access token invalid or expired
OUTSIDE_WINDOW = -230  # the person has not interacted with the OA in the past 7 days


class OAError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OAClient:
    REQUEST_TIMEOUT = 20

    def __init__(
        self, db: Database, *, app_id: str, secret_key: str, api_url: str, oauth_url: str,
        access_token: str | None, refresh_token: str | None, channel: str = CHANNEL,
    ) -> None:
        self.db = db
        # This OA among the deployment's bots: its token pair is stored under this name.
        self.channel = channel
        self.app_id = app_id
        self.secret_key = secret_key
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._seed = (access_token or "", refresh_token or "")
        self._access: str | None = None
        self._refreshing = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.REQUEST_TIMEOUT))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def access_token(self) -> str:
        if self._access is None:
            async with UnitOfWork(self.db) as uow:
                await uow.tokens.seed(self.channel, self._seed[0], self._seed[1], utcnow())
                stored = await uow.tokens.get(self.channel)
                await uow.commit()
            assert stored is not None
            self._access = stored.access_token
        return self._access

    async def send(self, user_id: str, message: dict[str, Any]) -> dict:
        """POST /v3.0/oa/message/cs; on an expired token, refresh once and try again."""
        token = await self.access_token()
        body = await self._send(token, user_id, message)
        if body.get("error") == TOKEN_INVALID:
            await self.refresh(stale=token)
            body = await self._send(await self.access_token(), user_id, message)
        if body.get("error", 0) != 0:
            raise OAError(int(body["error"]), str(body.get("message", "")))
        return body.get("data") or {}

    async def _send(self, token: str, user_id: str, message: dict[str, Any]) -> dict:
        session = await self._client()
        try:
            async with session.post(
                f"{self.api_url}/v3.0/oa/message/cs", headers={"access_token": token},
                json={"recipient": {"user_id": user_id}, "message": message},
            ) as response:
                if response.status >= 500:
                    raise OAError(0, f"HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise OAError(0, type(exc).__name__) from None  # never the text: it can carry the token
        if not isinstance(body, dict):
            raise OAError(0, "the answer was not a JSON object")
        return body

    async def refresh(self, stale: str) -> None:
        """Trade the stored refresh token for a new pair, unless another sender already did."""
        async with self._refreshing:
            async with UnitOfWork(self.db) as uow:
                # Locked until commit: another worker refreshing at the same moment waits, then
                # finds the new pair here instead of spending the used refresh token again.
                stored = await uow.tokens.get(self.channel, for_update=True)
                if stored is not None and stored.access_token != stale:
                    self._access = stored.access_token  # refreshed meanwhile: use the new one
                    return
                refresh_token = stored.refresh_token if stored is not None else self._seed[1]
                pair = await self._exchange(refresh_token)
                expires = utcnow() + timedelta(seconds=int(pair.get("expires_in") or 90000))
                await uow.tokens.save(self.channel, pair["access_token"], pair["refresh_token"], expires, utcnow())
                # Committed before the new token is used: the old refresh token no longer works.
                await uow.commit()
            self._access = pair["access_token"]
            log.info("Zalo OA access token renewed")

    async def _exchange(self, refresh_token: str) -> dict:
        session = await self._client()
        try:
            async with session.post(
                f"{self.oauth_url}/v4/oa/access_token", headers={"secret_key": self.secret_key},
                data={"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"},
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise OAError(0, f"token refresh: {type(exc).__name__}") from None
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
            code = int(body.get("error", -1)) if isinstance(body, dict) else -1
            log.error("Zalo OA token refresh refused (%s): set a new DOITHOAI_ZALO_OA_REFRESH_TOKEN", code)
            raise OAError(code, "token refresh refused")
        return body
