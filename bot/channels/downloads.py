"""Files a person sent that the platform hands over as an address (the Zalo bot's `photo_url`, the OA's
attachment `payload.url`): fetched only when a flow asks for the bytes, only over http(s), only from
the address the platform gave, and never more than a bound."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp

from bot.domain.messages import FileRef, FileUnavailable

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60  # seconds for the whole download
# No file a flow keeps is larger (a notice's file is bounded lower still, bot/services/notices.py):
# beyond this the download stops and the file counts as unavailable.
MAX_BYTES = 25 * 1024 * 1024


def web_address(value: object) -> str | None:
    """`value` when it is an http(s) address with a host, else None (file:, data:, ftp: and the rest are no download)."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.hostname else None


def _fetcher(url: str, max_bytes: int) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        try:
            timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                # No redirects: the bytes come from the address the platform gave, not from wherever it points.
                async with session.get(url, allow_redirects=False) as response:
                    if response.status != 200:
                        raise FileUnavailable(f"HTTP {response.status}")
                    if response.content_length is not None and response.content_length > max_bytes:
                        raise FileUnavailable("too big")
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        data += chunk
                        if len(data) > max_bytes:
                            raise FileUnavailable("too big")
                    return bytes(data)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            # Only the type: the address may carry a token of the platform's.
            log.warning("downloading a file a person sent failed: %s", type(exc).__name__)
            raise FileUnavailable(type(exc).__name__) from None

    return fetch


def file_at(url: object, kind: str, name: str, mime_type: str, *, max_bytes: int = MAX_BYTES) -> FileRef | None:
    """What a person sent, at `url`, to be downloaded if a flow needs it; None when `url` is no web
    address. Its real type is decided from the bytes once downloaded (bot/services/filetypes.py)."""
    address = web_address(url)
    if address is None:
        return None
    return FileRef(kind=kind, filename=f"{kind}-{name}", mime_type=mime_type, size=None, fetch=_fetcher(address, max_bytes))


def photo_at(url: object, name: str, *, max_bytes: int = MAX_BYTES) -> FileRef | None:
    return file_at(url, "photo", name, "image/jpeg", max_bytes=max_bytes)


def sound_at(url: object, name: str, *, max_bytes: int = MAX_BYTES) -> FileRef | None:
    """A voice message; its length is read from the bytes once downloaded (Zalo says nothing of it)."""
    return file_at(url, "voice", name, "audio/mp4", max_bytes=max_bytes)
