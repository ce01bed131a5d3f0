"""Strict, in-process fakes of the two Zalo APIs the bot can use.

Both serve HTTP on 127.0.0.1 (a free port) with aiohttp.web, so the bot under
test, in this process or in a ``doithoai run`` subprocess, talks HTTP to them
exactly as it would to Zalo. Facts come from ``shared/zalo/README.md``; where the
sources are silent the choice is stated below ("chosen"), always on the strict
side, so a green test means Zalo would have accepted the requests.

``ZaloBotDouble``: Zalo Bot Platform (``https://bot-api.zaloplatforms.com``)::

    async with ZaloBotDouble() as zb:
        # the bot: POST {zb.base_url}/bot{zb.token}/{method} with a JSON body
        an = zb.user("An")
        zb.send_text(an, "xin chào")           # queued for getUpdates
        reply = await zb.next_message(an)       # {"method": "sendMessage", "text": ...}
        zb.block(an)                            # further sends to An: 403

    Replies are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code":
    N, "description": ...}``. Refused: a wrong token (401), an unknown method
    (404, exact case), a verb other than POST (405), a body that is not a JSON
    object (400; an empty body counts as ``{}``, as getMe/deleteWebhook are
    called without one), unknown parameters (400, stricter than Zalo, to catch
    typos), wrong types (``chat_id`` must be a non-empty string: an int is
    refused), text/caption outside 1-2000 characters (``len(str)``), a photo
    that is not an http(s) URL, an action other than typing/upload_photo, a
    chat whose user never wrote to the bot (400 "chat not found", chosen).

    getUpdates ``{"timeout": "30"}`` (string or int seconds; the wait is capped
    at ``max_poll_seconds``) answers ONE update as ``result`` or, when none
    arrives in time, ``{"ok": false, "error_code": 408, "description":
    "Request timeout"}`` with HTTP status ``poll_timeout_status`` (200 by
    default: openclaw's client parses the body and only then tests
    ``error_code == 408``; no source shows the HTTP status). Other errors are
    sent with HTTP status = error_code (``http_errors=False``: always 200), so
    a bot must read the JSON body whatever the status. A second getUpdates
    while one is running gets 409 (the running one goes on); getUpdates while a
    webhook is set gets 409 (chosen code). An update leaves the queue only
    once its response has been written: a poll the client abandons loses
    nothing. ``redeliver(update)`` queues it again.

    sendMessage/sendPhoto/sendSticker answer ``{"message_id", "date"}``;
    sendChatAction answers ``{"ok": true}`` with no ``result`` (as the docs'
    sample); getMe ``{"id", "account_name", "account_type", "can_join_groups"}``.

    Webhook: ``setWebhook {"url": https only, "secret_token": 8-256 chars}``
    -> ``{"url", "updated_at"}``; getWebhookInfo; deleteWebhook -> ``{"url": "",
    "updated_at"}``. While a webhook is set, ``send_*`` POST the update (bare,
    or ``{"ok": true, "result": update}`` when ``webhook_wrap``) with header
    ``X-Bot-Api-Secret-Token`` in a background task instead of queueing; since
    the bot under test listens on plain http, ``deliver_to(url)`` names where
    to POST while the registered URL stays https. ``await wait_delivered(update)``
    gives the HTTP status the bot answered (0: no answer), and ``await
    deliver(update, wrap=, secret=, raw_body=, url=)`` posts one by hand, for
    negative tests. Updates queued before setWebhook stay queued (not pushed).

    Faults: ``fail_next(method, times, error_code, description)``,
    ``fail_chat(chat, error_code, times=None)``, ``block(user)`` (sends to that
    user fail with 403 "Forbidden: the user has blocked the bot": the sources
    name no code, 403 is chosen), ``enforce_limits(per_second=, chat_per_second=)``
    (token buckets over sendMessage/sendPhoto/sendSticker, 429 "Too Many
    Requests" beyond; Zalo publishes no limits). Injected refusals are recorded
    with ``Rejection.injected=True``.

    Recording: ``calls`` (accepted), ``rejections``, ``messages(chat)``,
    ``chat_actions``, ``sent_log`` / ``max_rate(window)``, ``delivered``
    (updates handed to getUpdates), ``webhook_deliveries``. Awaiting:
    ``next_message(user_or_chat_id, timeout)``, ``wait_until(predicate, timeout)``.

``ZaloOADouble``: Official Account Open API v3 + OAuth v4, on one server::

    async with ZaloOADouble() as oa:
        # the bot: POST {oa.api_url}/v3.0/oa/message/cs   header access_token
        #          POST {oa.oauth_url}/v4/oa/access_token header secret_key
        binh = oa.user("Bình")
        status = await oa.send_text(binh, "chào", url=bot_webhook_url)  # signed event
        msg = await oa.next_message(binh)       # {"text", "buttons", ...}
        oa.expire_access_token()                # next send: error -216

    message/cs always answers HTTP 200, ``{"error": 0, "message": "Success",
    "data": {"message_id", "user_id"}}`` or a non-zero ``error``: -216 a
    missing, unknown, expired (``access_token_ttl``, 90000 s) or replaced
    access token (a refresh retires the previous access token: chosen, strict);
    -201 ``"<field> is invalid!"`` for a malformed body, unknown keys, a
    missing recipient, an empty text, a wrong button type or a ``user_id`` the
    OA has never seen (chosen); -210 "Parameter exceeds allowable limit" for
    text over 2000 characters (a pilot reports -210 for this), more than 5
    buttons (docs: up to five), a title over 100 characters (chosen) or a query
    payload over 1000 characters (docs); -230 when the user's last accepted
    event is older than ``window_days`` (7) by ``clock``. Only the brief's
    shape is accepted: ``message`` = ``text`` (required) + optional
    ``attachment {"type": "template", "payload": {"buttons": [...]}}``.

    OAuth refresh (form-urlencoded ``refresh_token``, ``app_id``,
    ``grant_type=refresh_token``; header ``secret_key``) answers ``{"access_token",
    "refresh_token", "expires_in": "90000"}``; each refresh token works once.
    Errors (HTTP 200, ``{"error", "error_name", "error_reason",
    "error_description"}``): -14002 "Invalid appId" (sourced), -14004 wrong
    secret_key, -14001 a malformed request, -14014 a reused or unknown
    refresh token (these three chosen).

    Events to the bot: ``send_text`` / ``post_event`` POST JSON (compact, UTF-8
    unescaped) with ``X-ZEvent-Signature: mac=sha256(app_id + raw body +
    timestamp + secret_key)`` (see ``oa_signature``). A user's event opens their
    7-day window as Zalo receives it, before the bot's webhook answers (the bot may
    reply while handling it); a forged one (``bad_signature``, ``raw_body``) does not.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import secrets
import struct
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.support.botapi_double import DoubleTimeout

__all__ = [
    "BOT_LIMITS",
    "Call",
    "DoubleTimeout",
    "OAUser",
    "Rejection",
    "Sent",
    "WebhookDelivery",
    "ZaloBotDouble",
    "ZaloOADouble",
    "ZaloUser",
    "oa_signature",
]

JSON = dict[str, Any]
T = TypeVar("T")

BOT_LIMITS = {"text": 2000, "caption": 2000, "secret_min": 8, "secret_max": 256}
OA_LIMITS = {"text": 2000, "buttons": 5, "title": 100, "payload": 1000}
_OA_BUTTON_TYPES = ("oa.query.show", "oa.query.hide", "oa.open.url")


class Call(NamedTuple):
    method: str  # Bot: the method name; OA: the request path ("/v3.0/oa/message/cs")
    params: JSON
    at: float


class Rejection(NamedTuple):
    method: str
    params: Any
    error_code: int
    description: str
    injected: bool = False


class Sent(NamedTuple):
    at: float
    chat_id: str
    method: str


@dataclass
class WebhookDelivery:
    update: JSON | None
    url: str
    status: int  # HTTP status the bot answered; 0 when it did not answer
    body: bytes


def _hex_id(nbytes: int = 10) -> str:
    """An identifier shaped like Zalo's (``"e4ea2cd5189df1c3a88c"``)."""
    return secrets.token_hex(nbytes)


def _num_id() -> str:
    """A numeric string id like OA user and app ids (``"2468458835296117922"``)."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b"")


_PNG = _tiny_png()


def _is_url(value: Any, schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.hostname)


def _max_in_window(times: list[float], window: float) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# ---------------------------------------------------------------------------
# Shared server plumbing
# ---------------------------------------------------------------------------


class _Server(ABC):
    """Lifecycle, change notification and waiting, shared by both doubles."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.calls: list[Call] = []
        self.rejections: list[Rejection] = []

    @abstractmethod
    def _routes(self, app: web.Application) -> None:
        """Each double adds its own API's routes."""

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._closing = False
        app = web.Application()
        self._routes(app)
        # handler_cancellation: a client hanging up mid long-poll cancels the poll.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self._port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession()

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self: T) -> T:
        await self.start()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self._host}:{self._port}"

    async def wait_until(self, predicate: Callable[[], T], timeout: float = 10) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change) and return it."""
        return await self._wait(predicate, timeout, lambda: f"condition {predicate!r} never became true")

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait(self, probe: Callable[[], T], timeout: float, explain: Callable[[], str]) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = probe()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(c.method for c in self.calls[-10:]) or "none"
                rejected = "; ".join(f"{r.method}: {r.description}" for r in self.rejections[-5:]) or "none"
                raise DoubleTimeout(f"timed out after {timeout}s: {explain()} (last calls: {recent}; last rejections: {rejected})")
            try:  # also poll: predicates may depend on state outside the double
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))
            except asyncio.TimeoutError:
                pass

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        try:
            async with self._client.post(url, data=body, headers=dict(headers), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return 0


# ---------------------------------------------------------------------------
# Zalo Bot Platform
# ---------------------------------------------------------------------------


class ZaloBotError(Exception):
    def __init__(self, error_code: int, description: str, *, injected: bool = False) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.injected = injected


def _bad(detail: str) -> ZaloBotError:
    return ZaloBotError(400, f"Bad Request: {detail}")


def _check_chat_id(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "chat_id must be a non-empty string"


def _check_text(name: str, limit: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"{name} must be a string"
        if not 1 <= len(v) <= limit:
            return f"{name} must be 1-{limit} characters, got {len(v)}"
        return None

    return check


def _check_nonempty(name: str) -> Callable[[Any], str | None]:
    return lambda v: None if isinstance(v, str) and v else f"{name} must be a non-empty string"


def _check_timeout(v: Any) -> str | None:
    if isinstance(v, bool) or not (isinstance(v, int) and v >= 0 or isinstance(v, str) and v.isdigit()):
        return "timeout must be a whole number of seconds (string or integer)"
    return None


def _check_photo(v: Any) -> str | None:
    return None if _is_url(v, ("http", "https")) else "photo must be an http(s) URL"


def _check_webhook_url(v: Any) -> str | None:
    return None if _is_url(v, ("https",)) else "webhook url must be an https URL"


def _check_secret(v: Any) -> str | None:
    lo, hi = BOT_LIMITS["secret_min"], BOT_LIMITS["secret_max"]
    return None if isinstance(v, str) and lo <= len(v) <= hi else f"secret_token must be {lo}-{hi} characters"


def _check_action(v: Any) -> str | None:
    return None if v in ("typing", "upload_photo") else "action must be 'typing' or 'upload_photo'"


Check = Callable[[Any], "str | None"]
# method -> parameter -> (check, required)
_BOT_METHODS: dict[str, dict[str, tuple[Check, bool]]] = {
    "getMe": {},
    "getUpdates": {"timeout": (_check_timeout, False)},
    "setWebhook": {"url": (_check_webhook_url, True), "secret_token": (_check_secret, True)},
    "deleteWebhook": {},
    "getWebhookInfo": {},
    "sendMessage": {"chat_id": (_check_chat_id, True), "text": (_check_text("text", BOT_LIMITS["text"]), True)},
    "sendPhoto": {
        "chat_id": (_check_chat_id, True),
        "photo": (_check_photo, True),
        "caption": (_check_text("caption", BOT_LIMITS["caption"]), False),
    },
    "sendSticker": {"chat_id": (_check_chat_id, True), "sticker": (_check_nonempty("sticker"), True)},
    "sendChatAction": {"chat_id": (_check_chat_id, True), "action": (_check_action, True)},
}
_SENDING = ("sendMessage", "sendPhoto", "sendSticker")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass
class ZaloUser:
    """A simulated Zalo person; ``id`` doubles as their PRIVATE chat id."""

    id: str
    display_name: str
    wrote: bool = False  # the bot may only write to people who wrote first
    blocked: bool = False

    @property
    def chat_id(self) -> str:
        return self.id


@dataclass
class _Fault:
    error_code: int
    description: str
    times: int | None  # None: until cleared


@dataclass
class _Bucket:
    capacity: float
    rate: float  # tokens a second
    tokens: float
    at: float

    def ready(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens >= 1


def _take(faults: dict[str, _Fault], key: str) -> _Fault | None:
    fault = faults.get(key)
    if fault is None:
        return None
    if fault.times is not None:
        fault.times -= 1
        if fault.times <= 0:
            del faults[key]
    return fault


class ZaloBotDouble(_Server):
    """Strict in-process Zalo Bot Platform server (see the module docstring).

    ``max_poll_seconds`` caps getUpdates' wait; ``poll_timeout_status`` is the
    HTTP status of the 408 "no update" answer; ``http_errors=False`` sends
    every other error with HTTP 200 too; ``clock`` (``time.monotonic``) times
    ``sent_log`` and the rate limits; ``webhook_timeout`` bounds a push.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        max_poll_seconds: float = 1.0,
        poll_timeout_status: int = 200,
        http_errors: bool = True,
        clock: Callable[[], float] = time.monotonic,
        webhook_timeout: float = 5.0,
    ) -> None:
        super().__init__(host)
        self.token = token or f"{_num_id()}:{secrets.token_urlsafe(24)}"
        self.bot_id = self.token.split(":", 1)[0]
        self.max_poll_seconds = max_poll_seconds
        self.poll_timeout_status = poll_timeout_status
        self.http_errors = http_errors
        self.clock = clock
        self.webhook_timeout = webhook_timeout
        self.users: dict[str, ZaloUser] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_updated_at: int = 0
        self.webhook_target: str | None = None  # deliver_to(): where pushes really go
        self.webhook_wrap = False  # push {"ok": true, "result": update} instead of the bare update
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.delivered: list[JSON] = []  # updates handed out by getUpdates
        self.chat_actions: list[JSON] = []
        self.sent_log: list[Sent] = []
        self._queue: list[JSON] = []
        self._messages: dict[str, list[JSON]] = {}
        self._cursors: dict[str, int] = {}
        self._poll: web.Request | None = None
        self._method_faults: dict[str, _Fault] = {}
        self._chat_faults: dict[str, _Fault] = {}
        self._limits: tuple[_Bucket | None, float | None, float] | None = None
        self._chat_buckets: dict[str, _Bucket] = {}

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/_photos/{name}", self._handle_photo)

    @property
    def api_url(self) -> str:
        """``{base_url}/bot{token}``: append ``/method``."""
        return f"{self.base_url}/bot{self.token}"

    # -- simulated people ------------------------------------------------------

    def user(self, display_name: str = "Nguyễn Văn An") -> ZaloUser:
        u = ZaloUser(_hex_id(), display_name)
        self.users[u.id] = u
        return u

    def block(self, user: ZaloUser | str) -> None:
        self._user(user).blocked = True

    def unblock(self, user: ZaloUser | str) -> None:
        self._user(user).blocked = False

    def send_text(self, user: ZaloUser | str, text: str) -> JSON:
        return self._inject(user, "message.text.received", {"text": text})

    def send_image(self, user: ZaloUser | str, caption: str | None = None) -> JSON:
        extra: JSON = {"photo_url": f"{self.base_url}/_photos/{_hex_id()}.png"}
        if caption is not None:
            extra["caption"] = caption
        return self._inject(user, "message.image.received", extra)

    def send_sticker(self, user: ZaloUser | str, sticker: str | None = None) -> JSON:
        return self._inject(user, "message.sticker.received", {"sticker": sticker or _hex_id()})

    def send_unsupported(self, user: ZaloUser | str) -> JSON:
        return self._inject(user, "message.unsupported.received", {})

    def redeliver(self, update: JSON) -> JSON:
        """Hand the same update (same message_id) to the bot again, as Zalo may."""
        self._dispatch(update)
        return update

    def pending_updates(self) -> list[JSON]:
        return list(self._queue)

    # -- webhook pushes --------------------------------------------------------

    def deliver_to(self, url: str | None) -> None:
        """POST pushed updates to ``url`` (plain http allowed) instead of the registered https URL."""
        self.webhook_target = url

    async def deliver(
        self,
        update: JSON | None = None,
        *,
        url: str | None = None,
        wrap: bool | None = None,
        secret: str | None = None,
        raw_body: bytes | str | None = None,
    ) -> int:
        """POST one update as Zalo's webhook would; return the bot's HTTP status (0: no answer).

        ``secret``: the header value (default: the registered secret; ``""``
        omits the header). ``raw_body`` replaces the body (malformed JSON tests).
        """
        target = url or self.webhook_target or self.webhook_url
        if target is None:
            raise RuntimeError("no webhook: call setWebhook (as the bot) or pass url=")
        if raw_body is not None:
            body = raw_body.encode() if isinstance(raw_body, str) else raw_body
        else:
            wrapped = self.webhook_wrap if wrap is None else wrap
            body = json.dumps({"ok": True, "result": update} if wrapped else update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        header_secret = self.webhook_secret if secret is None else secret
        if header_secret:
            headers["X-Bot-Api-Secret-Token"] = header_secret
        status = await self._post(target, body, headers, self.webhook_timeout)
        self.webhook_deliveries.append(WebhookDelivery(update, target, status, body))
        self._notify()
        return status

    async def wait_delivered(self, update: JSON, timeout: float = 10) -> int:
        """The HTTP status of the latest push of ``update`` (waits for one)."""
        mid = update["message"]["message_id"]

        def probe() -> int | None:
            for d in reversed(self.webhook_deliveries):
                if d.update is not None and d.update.get("message", {}).get("message_id") == mid:
                    return d.status if d.status else -1
            return None

        status = await self._wait(probe, timeout, lambda: f"update {mid} never pushed")
        return max(status, 0)

    # -- faults ----------------------------------------------------------------

    def fail_next(self, method: str, times: int = 1, error_code: int = 500, description: str | None = None) -> None:
        self._method_faults[method] = _Fault(error_code, description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error"), times)

    def fail_chat(self, chat: ZaloUser | str, error_code: int, times: int | None = None, description: str | None = None) -> None:
        self._chat_faults[self._chat_id(chat)] = _Fault(error_code, description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error"), times)

    def clear_faults(self) -> None:
        self._method_faults.clear()
        self._chat_faults.clear()

    def enforce_limits(
        self, per_second: float | None = None, chat_per_second: float | None = None, chat_burst: float | None = None
    ) -> None:
        """Token buckets over sending calls; no arguments turns them off."""
        now = self.clock()
        self._chat_buckets.clear()
        if per_second is None and chat_per_second is None:
            self._limits = None
            return
        glob = _Bucket(per_second, per_second, per_second, now) if per_second else None
        burst = chat_burst if chat_burst is not None else max(1.0, chat_per_second or 1.0)
        self._limits = (glob, chat_per_second, burst)

    # -- recording -------------------------------------------------------------

    def messages(self, chat: ZaloUser | str) -> list[JSON]:
        """What the bot sent to the chat, oldest first: dicts with method, text/photo/caption/sticker, message_id, date."""
        return list(self._messages.get(self._chat_id(chat), []))

    def calls_of(self, method: str) -> list[JSON]:
        return [c.params for c in self.calls if c.method == method]

    def real_rejections(self) -> list[Rejection]:
        return [r for r in self.rejections if not r.injected]

    def max_rate(self, window: float = 1.0) -> int:
        """The most accepted sending calls within any ``window`` seconds."""
        return _max_in_window([s.at for s in self.sent_log], window)

    async def next_message(self, chat: ZaloUser | str, timeout: float = 10) -> JSON:
        """The next bot message to the chat that this helper has not yet returned."""
        cid = self._chat_id(chat)

        def fetch() -> JSON | None:
            sent, cursor = self._messages.get(cid, []), self._cursors.get(cid, 0)
            if cursor >= len(sent):
                return None
            self._cursors[cid] = cursor + 1
            return sent[cursor]

        return await self._wait(fetch, timeout, lambda: f"no new bot message in chat {cid}")

    # -- internals ---------------------------------------------------------------

    def _user(self, user: ZaloUser | str) -> ZaloUser:
        if isinstance(user, ZaloUser):
            return user
        try:
            return self.users[user]
        except KeyError:
            raise KeyError(f"unknown simulated user {user}") from None

    @staticmethod
    def _chat_id(chat: ZaloUser | str) -> str:
        return chat.id if isinstance(chat, ZaloUser) else chat

    def _inject(self, user: ZaloUser | str, event_name: str, content: JSON) -> JSON:
        u = self._user(user)
        u.wrote = True
        message: JSON = {
            "from": {"id": u.id, "display_name": u.display_name, "is_bot": False},
            "chat": {"id": u.id, "chat_type": "PRIVATE"},
            **content,
            "message_id": _hex_id(),
            "date": _now_ms(),
        }
        update = {"event_name": event_name, "message": message}
        self._dispatch(update)
        return update

    def _dispatch(self, update: JSON) -> None:
        if self.webhook_url is not None:
            self._spawn(self.deliver(update))
        else:
            self._queue.append(update)
            self._notify()

    def _error(self, error_code: int, description: str, *, status: int | None = None) -> web.Response:
        if status is None:
            status = error_code if self.http_errors and 400 <= error_code <= 599 else 200
        return web.json_response({"ok": False, "error_code": error_code, "description": description}, status=status)

    async def _handle_photo(self, request: web.Request) -> web.Response:
        return web.Response(body=_PNG, content_type="image/png")

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params: Any = None
        try:
            if request.match_info["token"] != self.token:
                raise ZaloBotError(401, "Unauthorized")
            spec = _BOT_METHODS.get(method)
            if spec is None:
                raise ZaloBotError(404, f"Not Found: method {method} does not exist")
            if request.method != "POST":
                raise ZaloBotError(405, "Method Not Allowed: use POST")
            raw = await request.read()
            try:
                params = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise _bad("the body is not valid JSON") from None
            if not isinstance(params, dict):
                raise _bad("the body must be a JSON object")
            for key in params:
                if key not in spec:
                    raise _bad(f"unknown parameter '{key}' for {method}")
            for key, (check, required) in spec.items():
                if key not in params:
                    if required:
                        raise _bad(f"missing required parameter '{key}'")
                    continue
                problem = check(params[key])
                if problem:
                    raise _bad(problem)
            self._gate(method, params)
        except ZaloBotError as e:
            self.rejections.append(Rejection(method, params, e.error_code, e.description, e.injected))
            self._notify()
            return self._error(e.error_code, e.description)
        self.calls.append(Call(method, params, self.clock()))
        self._notify()
        if method == "getUpdates":
            return await self._get_updates(params, request)
        if method == "sendChatAction":
            self.chat_actions.append({"chat_id": params["chat_id"], "action": params["action"], "at": self.clock()})
            return web.json_response({"ok": True})
        return web.json_response({"ok": True, "result": self._execute(method, params)})

    def _gate(self, method: str, params: JSON) -> None:
        """Refusals that depend on the world, not the request's shape."""
        fault = _take(self._method_faults, method)
        if fault is not None:
            raise ZaloBotError(fault.error_code, fault.description, injected=True)
        if method == "getUpdates" and self.webhook_url is not None:
            raise ZaloBotError(409, "Conflict: getUpdates is not available while a webhook is set; call deleteWebhook first")
        if method == "getUpdates" and self._poll is not None:
            transport = self._poll.transport
            if transport is not None and not transport.is_closing():
                raise ZaloBotError(409, "Conflict: another getUpdates request is in progress")
        if "chat_id" not in params:
            return
        chat_id = params["chat_id"]
        user = self.users.get(chat_id)
        if user is None or not user.wrote:
            raise _bad("chat not found")
        if user.blocked:
            raise ZaloBotError(403, "Forbidden: the user has blocked the bot")
        fault = _take(self._chat_faults, chat_id)
        if fault is not None:
            raise ZaloBotError(fault.error_code, fault.description, injected=True)
        if method in _SENDING and self._limits is not None:
            now = self.clock()
            glob, chat_rate, burst = self._limits
            buckets = [b for b in (glob,) if b is not None]
            if chat_rate:
                bucket = self._chat_buckets.setdefault(chat_id, _Bucket(burst, chat_rate, burst, now))
                buckets.append(bucket)
            if not all([b.ready(now) for b in buckets]):
                raise ZaloBotError(429, "Too Many Requests")
            for b in buckets:
                b.tokens -= 1

    def _execute(self, method: str, params: JSON) -> JSON:
        if method == "getMe":
            return {"id": self.bot_id, "account_name": f"bot.{self.bot_id[-6:]}", "account_type": "BASIC", "can_join_groups": False}
        if method == "setWebhook":
            self.webhook_url, self.webhook_secret = params["url"], params["secret_token"]
            self.webhook_updated_at = _now_ms()
            return {"url": self.webhook_url, "updated_at": self.webhook_updated_at}
        if method == "deleteWebhook":
            self.webhook_url = self.webhook_secret = None
            self.webhook_updated_at = _now_ms()
            return {"url": "", "updated_at": self.webhook_updated_at}
        if method == "getWebhookInfo":
            return {"url": self.webhook_url or "", "updated_at": self.webhook_updated_at}
        # sendMessage / sendPhoto / sendSticker
        chat_id = params["chat_id"]
        result = {"message_id": _hex_id(), "date": _now_ms()}
        record = {"method": method, "chat_id": chat_id, **{k: v for k, v in params.items() if k != "chat_id"}, **result}
        self._messages.setdefault(chat_id, []).append(record)
        self.sent_log.append(Sent(self.clock(), chat_id, method))
        self._notify()
        return result

    async def _get_updates(self, params: JSON, request: web.Request) -> web.StreamResponse:
        self._poll = request
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(float(params.get("timeout", 30)), self.max_poll_seconds)
        try:
            while True:
                event = self._changed
                if self._queue and self.webhook_url is None:
                    update = self._queue[0]
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        raise asyncio.CancelledError  # the client left: keep the update
                    resp = web.json_response({"ok": True, "result": copy.deepcopy(update)})
                    await resp.prepare(request)
                    await resp.write_eof()
                    # Written: only now does the update leave the queue.
                    if update in self._queue:
                        self._queue.remove(update)
                    self.delivered.append(update)
                    self._notify()
                    return resp
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing:
                    return self._error(408, "Request timeout", status=self.poll_timeout_status)
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._poll is request:
                self._poll = None


# ---------------------------------------------------------------------------
# Zalo Official Account API v3 + OAuth v4
# ---------------------------------------------------------------------------


def oa_signature(app_id: str, body: bytes | str, timestamp: str | int, secret_key: str) -> str:
    """The ``X-ZEvent-Signature`` value: ``"mac=" + sha256(app_id + body + timestamp + secret_key)`` (plain SHA-256, not HMAC)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hashlib.sha256(app_id.encode() + raw + str(timestamp).encode() + secret_key.encode()).hexdigest()
    return f"mac={digest}"


class OAError(Exception):
    def __init__(self, error: int, message: str, *, injected: bool = False) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message
        self.injected = injected


def _invalid(field: str) -> OAError:
    return OAError(-201, f"{field} is invalid!")


def _too_long() -> OAError:
    return OAError(-210, "Parameter exceeds allowable limit")


_SEND_PATH = "/v3.0/oa/message/cs"
_TOKEN_PATH = "/v4/oa/access_token"


@dataclass
class OAUser:
    """A Zalo user as the OA sees them (ids are numeric strings)."""

    id: str
    display_name: str
    user_id_by_app: str


def _check_buttons(attachment: Any) -> list[JSON]:
    if not isinstance(attachment, dict) or set(attachment) != {"type", "payload"} or attachment["type"] != "template":
        raise _invalid("attachment")
    payload = attachment["payload"]
    if not isinstance(payload, dict) or set(payload) != {"buttons"}:
        raise _invalid("payload")
    buttons = payload["buttons"]
    if not isinstance(buttons, list) or not buttons:
        raise _invalid("buttons")
    if len(buttons) > OA_LIMITS["buttons"]:
        raise _too_long()
    for button in buttons:
        if not isinstance(button, dict) or set(button) != {"title", "type", "payload"}:
            raise _invalid("button")
        title, kind, value = button["title"], button["type"], button["payload"]
        if not isinstance(title, str) or not title.strip():
            raise _invalid("title")
        if len(title) > OA_LIMITS["title"]:
            raise _too_long()
        if kind not in _OA_BUTTON_TYPES:
            raise _invalid("type")
        if kind == "oa.open.url":
            if not isinstance(value, dict) or set(value) != {"url"} or not _is_url(value["url"], ("http", "https")):
                raise _invalid("payload")
        else:
            if not isinstance(value, str) or not value:
                raise _invalid("payload")
            if len(value) > OA_LIMITS["payload"]:
                raise _too_long()
    return buttons


def _check_cs_body(body: Any) -> tuple[str, str, list[JSON]]:
    """``(user_id, text, buttons)`` of a valid message/cs body, else OAError."""
    if not isinstance(body, dict):
        raise _invalid("body")
    for key in body:
        if key not in ("recipient", "message"):
            raise _invalid(key)
    recipient, message = body.get("recipient"), body.get("message")
    if not isinstance(recipient, dict) or set(recipient) != {"user_id"}:
        raise _invalid("recipient")
    if not isinstance(recipient["user_id"], str) or not recipient["user_id"]:
        raise _invalid("user_id")
    if not isinstance(message, dict) or not set(message) <= {"text", "attachment"}:
        raise _invalid("message")
    text = message.get("text")
    if not isinstance(text, str) or not text:
        raise _invalid("text")
    if len(text) > OA_LIMITS["text"]:
        raise _too_long()
    buttons = _check_buttons(message["attachment"]) if "attachment" in message else []
    return recipient["user_id"], text, buttons


class ZaloOADouble(_Server):
    """Strict in-process Zalo OA Open API + OAuth server (see the module docstring).

    ``clock`` (seconds, default ``time.time``) decides the 7-day window and
    access-token expiry; a test may pass a fake one and advance it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        app_id: str | None = None,
        secret_key: str | None = None,
        oa_id: str | None = None,
        window_days: float = 7,
        access_token_ttl: float = 90000,
        clock: Callable[[], float] = time.time,
        webhook_timeout: float = 5.0,
    ) -> None:
        super().__init__(host)
        self.app_id = app_id or _num_id()
        self.secret_key = secret_key or secrets.token_urlsafe(15)
        self.oa_id = oa_id or _num_id()
        self.window_days = window_days
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.webhook_timeout = webhook_timeout
        self.users: dict[str, OAUser] = {}
        self.refreshes = 0
        self.events: list[tuple[JSON | None, int]] = []  # (event, HTTP status the bot answered)
        self._interactions: dict[str, float] = {}
        self._sent: dict[str, list[JSON]] = {}
        self._cursors: dict[str, int] = {}
        self._faults: list[OAError] = []
        self.access_token = ""
        self.refresh_token = ""
        self._issued_at = 0.0
        self._access_valid = False
        self._used_refresh: set[str] = set()
        self._rotate()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post(f"/openapi{_SEND_PATH}", self._handle_send)
        app.router.add_post(f"/oauth{_TOKEN_PATH}", self._handle_token)
        # What users sent (a photo, a voice note): Zalo's CDN, which hands the bytes to whoever has the address.
        app.router.add_get("/_media/{name}", self._handle_media)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)

    async def _handle_media(self, request: web.Request) -> web.Response:
        found = getattr(self, "_media", {}).get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    async def send_attachment(self, user: "OAUser | str", kind: str, data: bytes, content_type: str, *, url: str, text: str | None = None) -> int:
        """POST a ``user_send_image`` or ``user_send_audio`` event whose ``attachments[0].payload.url``
        serves `data` from this double; return the webhook's HTTP status."""
        name = _hex_id()
        if not hasattr(self, "_media"):
            self._media: dict[str, tuple[bytes, str]] = {}
        self._media[name] = (data, content_type)
        u = self._oa_user(user)
        message: JSON = {"msg_id": _hex_id(), "attachments": [{"type": kind, "payload": {"url": f"{self.base_url}/_media/{name}"}}]}
        if text is not None:
            message["text"] = text
        event = {
            "app_id": self.app_id, "user_id_by_app": u.user_id_by_app, "event_name": f"user_send_{kind}",
            "timestamp": str(_now_ms()), "sender": {"id": u.id}, "recipient": {"id": self.oa_id}, "message": message,
        }
        return await self.post_event(event, url=url)

    @property
    def api_url(self) -> str:
        """Replaces ``https://openapi.zalo.me``."""
        return f"{self.base_url}/openapi"

    @property
    def oauth_url(self) -> str:
        """Replaces ``https://oauth.zaloapp.com``."""
        return f"{self.base_url}/oauth"

    # -- people and the window ----------------------------------------------------

    def user(self, display_name: str = "Trần Thị Bình") -> OAUser:
        u = OAUser(_num_id(), display_name, _num_id())
        self.users[u.id] = u
        return u

    def touch(self, user: OAUser | str) -> None:
        """Record an interaction now (as an accepted event would)."""
        self._interactions[self._uid(user)] = self.clock()

    def expire_window(self, user: OAUser | str) -> None:
        """Forget the user's interactions: sends to them get -230."""
        self._interactions.pop(self._uid(user), None)

    def in_window(self, user: OAUser | str) -> bool:
        last = self._interactions.get(self._uid(user))
        return last is not None and self.clock() - last <= self.window_days * 86400

    # -- tokens ----------------------------------------------------------------

    def expire_access_token(self) -> None:
        """The current access token stops working (error -216) until a refresh."""
        self._access_valid = False

    def access_token_valid(self, token: str | None) -> bool:
        return bool(token) and token == self.access_token and self._access_valid and self.clock() - self._issued_at < self.access_token_ttl

    def _rotate(self) -> None:
        if self.refresh_token:
            self._used_refresh.add(self.refresh_token)
        self.access_token = secrets.token_urlsafe(48)
        self.refresh_token = secrets.token_urlsafe(48)
        self._issued_at = self.clock()
        self._access_valid = True

    # -- faults and recording --------------------------------------------------

    def fail_next(self, error: int = -32, message: str = "Your OA reached limit call api", times: int = 1) -> None:
        """The next ``times`` valid message/cs calls answer ``error`` (after token and shape checks)."""
        self._faults.extend(OAError(error, message, injected=True) for _ in range(times))

    def messages(self, user: OAUser | str) -> list[JSON]:
        """What the bot sent to the user: dicts with text, buttons, message_id, user_id, at."""
        return list(self._sent.get(self._uid(user), []))

    async def next_message(self, user: OAUser | str, timeout: float = 10) -> JSON:
        uid = self._uid(user)

        def fetch() -> JSON | None:
            sent, cursor = self._sent.get(uid, []), self._cursors.get(uid, 0)
            if cursor >= len(sent):
                return None
            self._cursors[uid] = cursor + 1
            return sent[cursor]

        return await self._wait(fetch, timeout, lambda: f"no new OA message to {uid}")

    # -- events to the bot -------------------------------------------------------

    async def send_text(
        self,
        user: OAUser | str,
        text: str,
        *,
        url: str,
        msg_id: str | None = None,
        timestamp_ms: int | None = None,
        sign: bool = True,
        bad_signature: bool = False,
        raw_body: bytes | str | None = None,
    ) -> int:
        """POST a ``user_send_text`` event to the bot's webhook; return its HTTP status (0: no answer)."""
        u = self._oa_user(user)
        event = {
            "app_id": self.app_id,
            "user_id_by_app": u.user_id_by_app,
            "event_name": "user_send_text",
            "timestamp": str(timestamp_ms if timestamp_ms is not None else _now_ms()),
            "sender": {"id": u.id},
            "recipient": {"id": self.oa_id},
            "message": {"msg_id": msg_id or _hex_id(), "text": text},
        }
        return await self.post_event(event, url=url, sign=sign, bad_signature=bad_signature, raw_body=raw_body)

    async def post_event(
        self,
        event: JSON,
        *,
        url: str,
        sign: bool = True,
        bad_signature: bool = False,
        raw_body: bytes | str | None = None,
    ) -> int:
        """POST any event dict, signed over the exact bytes sent; a genuine one opens ``event["sender"]["id"]``'s window."""
        sender = event.get("sender", {}).get("id")
        if sign and not bad_signature and raw_body is None and isinstance(sender, str):
            # The person wrote to the OA: that is the interaction, whatever the bot's webhook answers.
            self._oa_user(sender)
            self._interactions[sender] = self.clock()
        if raw_body is not None:
            body = raw_body.encode() if isinstance(raw_body, str) else raw_body
        else:
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if sign:
            key = self.secret_key + ("-wrong" if bad_signature else "")
            headers["X-ZEvent-Signature"] = oa_signature(self.app_id, body, str(event.get("timestamp", "")), key)
        status = await self._post(url, body, headers, self.webhook_timeout)
        self.events.append((event, status))
        self._notify()
        return status

    # -- internals ---------------------------------------------------------------

    @staticmethod
    def _uid(user: OAUser | str) -> str:
        return user.id if isinstance(user, OAUser) else user

    def _oa_user(self, user: OAUser | str) -> OAUser:
        if isinstance(user, OAUser):
            return user
        if user not in self.users:
            self.users[user] = OAUser(user, "Người dùng Zalo", _num_id())
        return self.users[user]

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        self.rejections.append(Rejection(request.path, None, 404, "You currently access to an empty api"))
        self._notify()
        return web.json_response({"error": 404, "message": "You currently access to an empty api"}, status=404)

    async def _handle_send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any = None
        try:
            if not self.access_token_valid(request.headers.get("access_token")):
                raise OAError(-216, "Access token is invalid")
            try:
                body = json.loads(raw)
            except ValueError:
                raise _invalid("body") from None
            user_id, text, buttons = _check_cs_body(body)
            if self._faults:
                raise self._faults.pop(0)
            if user_id not in self.users:
                raise _invalid("user_id")
            if not self.in_window(user_id):
                raise OAError(-230, "User has not interacted with the OA in the past 7 days")
        except OAError as e:
            self.rejections.append(Rejection(_SEND_PATH, body, e.error, e.message, e.injected))
            self._notify()
            return web.json_response({"error": e.error, "message": e.message})
        self.calls.append(Call(_SEND_PATH, body, self.clock()))
        message_id = _hex_id(16)
        record = {"user_id": user_id, "text": text, "buttons": copy.deepcopy(buttons), "message_id": message_id, "at": self.clock()}
        self._sent.setdefault(user_id, []).append(record)
        self._notify()
        return web.json_response({"error": 0, "message": "Success", "data": {"message_id": message_id, "user_id": user_id}})

    async def _handle_token(self, request: web.Request) -> web.Response:
        fields: JSON = {}
        try:
            if request.content_type != "application/x-www-form-urlencoded":
                raise OAError(-14001, "Invalid parameter: the body must be form-urlencoded")
            fields = {k: str(v) for k, v in (await request.post()).items()}
            unknown = set(fields) - {"refresh_token", "app_id", "grant_type"}
            if unknown:
                raise OAError(-14001, f"Invalid parameter: unexpected {sorted(unknown)}")
            if fields.get("app_id") != self.app_id:
                raise OAError(-14002, "Invalid appId")
            if request.headers.get("secret_key") != self.secret_key:
                raise OAError(-14004, "Invalid secret key")
            if fields.get("grant_type") != "refresh_token":
                raise OAError(-14001, "Invalid parameter: grant_type must be refresh_token")
            token = fields.get("refresh_token", "")
            if token != self.refresh_token:
                reason = "refresh token was already used" if token in self._used_refresh else "unknown refresh token"
                raise OAError(-14014, f"Invalid refresh token: {reason}")
        except OAError as e:
            self.rejections.append(Rejection(_TOKEN_PATH, fields, e.error, e.message, e.injected))
            self._notify()
            name = e.message.split(":")[0]
            return web.json_response({"error": e.error, "error_name": name, "error_reason": e.message, "error_description": e.message})
        self.calls.append(Call(_TOKEN_PATH, fields, self.clock()))
        self._rotate()
        self.refreshes += 1
        self._notify()
        return web.json_response(
            {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_in": str(int(self.access_token_ttl))}
        )
