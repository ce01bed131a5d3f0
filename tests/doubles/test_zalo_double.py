"""The Zalo doubles refuse what Zalo refuses and accept what it accepts, over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.eventually import eventually
from tests.support.zalo_double import DoubleTimeout, ZaloBotDouble, ZaloOADouble, oa_signature

SECRET = "s3cret-token-for-tests"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def zb() -> AsyncIterator[ZaloBotDouble]:
    async with ZaloBotDouble(max_poll_seconds=0.3) as d:
        yield d


@pytest.fixture
async def oa() -> AsyncIterator[ZaloOADouble]:
    async with ZaloOADouble() as d:
        yield d


class Receiver:
    """A stand-in for the bot's webhook: records requests, answers ``answer(request, body)``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer: Callable[[web.Request, bytes], int] = lambda request, body: 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        return web.Response(status=self.answer(request, body), text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    r.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield r
    await runner.cleanup()


async def call(
    session: aiohttp.ClientSession,
    zb: ZaloBotDouble,
    method: str,
    body: Any = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    verb: str = "POST",
) -> tuple[int, dict[str, Any]]:
    url = f"{zb.base_url}/bot{token or zb.token}/{method}"
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else ({"json": body} if body is not None else {})
    async with session.request(verb, url, **kwargs) as resp:
        return resp.status, await resp.json()


# ---------------------------------------------------------------------------
# Zalo Bot Platform: requests
# ---------------------------------------------------------------------------


async def test_get_me_and_token_format(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    bot_id, _, secret = zb.token.partition(":")
    assert bot_id.isdigit() and secret
    status, body = await call(session, zb, "getMe")  # no body at all, as openclaw sends it
    assert status == 200 and body["ok"] is True
    assert body["result"] == {
        "id": bot_id,
        "account_name": body["result"]["account_name"],
        "account_type": "BASIC",
        "can_join_groups": False,
    }
    assert (await call(session, zb, "getMe", {}))[0] == 200


async def test_wrong_token_unknown_method_and_verb(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    assert await call(session, zb, "getMe", {}, token="123:nope") == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await call(session, zb, "editMessageText", {})
    assert status == 404 and body["ok"] is False and body["error_code"] == 404
    assert (await call(session, zb, "sendmessage", {}))[0] == 404  # exact case only
    assert (await call(session, zb, "getMe", verb="GET"))[0] == 405
    assert [r.error_code for r in zb.rejections] == [401, 404, 404, 405]


async def test_body_must_be_a_json_object_without_unknown_parameters(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user("An")
    zb.send_text(an, "hi")
    assert (await call(session, zb, "sendMessage", raw=b"{not json"))[0] == 400
    assert (await call(session, zb, "sendMessage", ["x"]))[0] == 400
    status, body = await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "hi", "parse_mode": "HTML"})
    assert status == 400 and "parse_mode" in body["description"]
    status, body = await call(session, zb, "sendMessage", {"chat_id": an.id})
    assert status == 400 and "text" in body["description"]
    assert zb.messages(an) == []


async def test_send_message_validation_and_recording(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user("An")
    assert (await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "hi"}))[1]["description"] == "Bad Request: chat not found"
    zb.send_text(an, "xin chào")
    assert (await call(session, zb, "sendMessage", {"chat_id": 12345, "text": "hi"}))[0] == 400
    assert (await call(session, zb, "sendMessage", {"chat_id": "", "text": "hi"}))[0] == 400
    assert (await call(session, zb, "sendMessage", {"chat_id": an.id, "text": ""}))[0] == 400
    assert (await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "ệ" * 2001}))[0] == 400
    assert (await call(session, zb, "sendMessage", {"chat_id": "e4ea2cd5189df1c3a88c", "text": "hi"}))[0] == 400

    status, body = await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "ệ" * 2000})
    assert status == 200 and body["ok"] is True
    result = body["result"]
    assert isinstance(result["message_id"], str) and isinstance(result["date"], int) and result["date"] > 10**12
    sent = await zb.next_message(an)
    assert sent["method"] == "sendMessage" and sent["text"] == "ệ" * 2000 and sent["message_id"] == result["message_id"]
    assert zb.messages(an.id) == [sent]
    with pytest.raises(DoubleTimeout):
        await zb.next_message(an, timeout=0.1)


async def test_send_photo_sticker_and_chat_action(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user()
    zb.send_text(an, "hi")
    assert (await call(session, zb, "sendPhoto", {"chat_id": an.id}))[0] == 400
    assert (await call(session, zb, "sendPhoto", {"chat_id": an.id, "photo": "/tmp/x.jpg"}))[0] == 400
    assert (await call(session, zb, "sendPhoto", {"chat_id": an.id, "photo": "ftp://x.vn/a.jpg"}))[0] == 400
    assert (await call(session, zb, "sendPhoto", {"chat_id": an.id, "photo": "https://x.vn/a.jpg", "caption": "c" * 2001}))[0] == 400
    assert (await call(session, zb, "sendPhoto", {"chat_id": an.id, "photo": "https://x.vn/a.jpg", "caption": None}))[0] == 400
    status, body = await call(session, zb, "sendPhoto", {"chat_id": an.id, "photo": "https://x.vn/a.jpg", "caption": "Giấy mời"})
    assert status == 200 and set(body["result"]) == {"message_id", "date"}
    assert (await call(session, zb, "sendSticker", {"chat_id": an.id, "sticker": ""}))[0] == 400
    assert (await call(session, zb, "sendSticker", {"chat_id": an.id, "sticker": "0e078a2fb66a5f34067b"}))[0] == 200
    assert (await call(session, zb, "sendChatAction", {"chat_id": an.id, "action": "record_voice"}))[0] == 400
    assert await call(session, zb, "sendChatAction", {"chat_id": an.id, "action": "typing"}) == (200, {"ok": True})
    kinds = [(m["method"], m.get("caption"), m.get("sticker")) for m in zb.messages(an)]
    assert kinds == [("sendPhoto", "Giấy mời", None), ("sendSticker", None, "0e078a2fb66a5f34067b")]
    assert zb.messages(an)[0]["photo"] == "https://x.vn/a.jpg"
    assert [a["action"] for a in zb.chat_actions] == ["typing"]


# ---------------------------------------------------------------------------
# getUpdates
# ---------------------------------------------------------------------------


async def test_get_updates_returns_one_update_object(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user("An")
    first = zb.send_text(an, "một")
    second = zb.send_text(an, "hai")
    status, body = await call(session, zb, "getUpdates", {"timeout": "30"})
    assert status == 200 and body["ok"] is True
    assert body["result"] == first and isinstance(body["result"], dict)
    msg = body["result"]["message"]
    assert body["result"]["event_name"] == "message.text.received"
    assert msg["from"] == {"id": an.id, "display_name": "An", "is_bot": False}
    assert msg["chat"] == {"id": an.id, "chat_type": "PRIVATE"}
    assert isinstance(msg["message_id"], str) and len(msg["message_id"]) == 20 and msg["date"] > 10**12
    assert (await call(session, zb, "getUpdates", {"timeout": 30}))[1]["result"] == second
    assert zb.delivered == [first, second] and zb.pending_updates() == []


async def test_get_updates_times_out_with_408_and_delivers_each_update_once(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user()
    zb.send_text(an, "once")
    assert (await call(session, zb, "getUpdates", {"timeout": "30"}))[1]["ok"] is True
    started = time.monotonic()
    status, body = await call(session, zb, "getUpdates", {"timeout": "30"})
    assert time.monotonic() - started < 2  # capped by max_poll_seconds
    assert (status, body) == (200, {"ok": False, "error_code": 408, "description": "Request timeout"})
    assert zb.rejections == []  # a timeout is not a refusal
    for bad in ({"timeout": "soon"}, {"timeout": -1}, {"timeout": True}, {"offset": 1}):
        assert (await call(session, zb, "getUpdates", bad))[0] == 400


async def test_get_updates_long_polls_until_an_update_arrives(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    zb.max_poll_seconds = 5
    an = zb.user()
    poll = asyncio.create_task(call(session, zb, "getUpdates", {"timeout": "30"}))
    # Recorded as it starts waiting: the update below arrives during the poll, not before it.
    await eventually(lambda: [c for c in zb.calls if c.method == "getUpdates"], what="the poll waiting")
    update = zb.send_text(an, "late")
    status, body = await asyncio.wait_for(poll, 2)
    assert body["result"] == update


async def test_poll_timeout_status_and_http_errors_are_configurable(session: aiohttp.ClientSession) -> None:
    async with ZaloBotDouble(max_poll_seconds=0.05, poll_timeout_status=408, http_errors=False) as d:
        assert (await call(session, d, "getUpdates", {}))[0] == 408
        status, body = await call(session, d, "getMe", {}, token="1:x")
        assert status == 200 and body["error_code"] == 401


async def test_concurrent_get_updates_is_refused_with_409(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    first = asyncio.create_task(call(session, zb, "getUpdates", {"timeout": "30"}))
    await zb.wait_until(lambda: zb.calls_of("getUpdates"))
    status, body = await call(session, zb, "getUpdates", {"timeout": "30"})
    assert status == 409 and body["error_code"] == 409
    assert (await first)[1]["error_code"] == 408  # the running poll goes on


async def test_abandoned_poll_loses_no_update_and_blocks_nothing(zb: ZaloBotDouble) -> None:
    zb.max_poll_seconds = 5
    an = zb.user()
    async with aiohttp.ClientSession() as leaving:
        poll = asyncio.create_task(call(leaving, zb, "getUpdates", {"timeout": "30"}))
        await zb.wait_until(lambda: zb._poll is not None)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
    await zb.wait_until(lambda: zb._poll is None, timeout=2)
    update = zb.send_text(an, "kept")
    async with aiohttp.ClientSession() as s:
        status, body = await call(s, zb, "getUpdates", {"timeout": "1"})
    assert status == 200 and body["result"] == update


async def test_update_shapes_and_redelivery(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an = zb.user("An")
    image = zb.send_image(an, caption="ảnh")
    sticker = zb.send_sticker(an)
    other = zb.send_unsupported(an)
    assert image["event_name"] == "message.image.received" and image["message"]["caption"] == "ảnh"
    async with session.get(image["message"]["photo_url"]) as resp:
        assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")
    assert sticker["event_name"] == "message.sticker.received" and isinstance(sticker["message"]["sticker"], str)
    assert other["event_name"] == "message.unsupported.received" and "text" not in other["message"]
    for expected in (image, sticker, other):
        assert (await call(session, zb, "getUpdates", {}))[1]["result"] == expected
    zb.redeliver(image)
    again = (await call(session, zb, "getUpdates", {}))[1]["result"]
    assert again["message"]["message_id"] == image["message"]["message_id"]


# ---------------------------------------------------------------------------
# Webhook
# ---------------------------------------------------------------------------


async def test_set_webhook_validation_and_info(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    assert (await call(session, zb, "setWebhook", {"url": "http://bot.vn/hook", "secret_token": SECRET}))[0] == 400
    assert (await call(session, zb, "setWebhook", {"url": "https://bot.vn/hook", "secret_token": "short"}))[0] == 400
    assert (await call(session, zb, "setWebhook", {"url": "https://bot.vn/hook", "secret_token": "x" * 257}))[0] == 400
    assert (await call(session, zb, "setWebhook", {"url": "https://bot.vn/hook"}))[0] == 400
    status, body = await call(session, zb, "setWebhook", {"url": "https://bot.vn/hook", "secret_token": SECRET})
    assert status == 200 and body["result"]["url"] == "https://bot.vn/hook" and body["result"]["updated_at"] > 10**12
    assert (await call(session, zb, "getWebhookInfo"))[1]["result"]["url"] == "https://bot.vn/hook"
    status, body = await call(session, zb, "getUpdates", {"timeout": "1"})
    assert status == 409 and "webhook" in body["description"]
    assert (await call(session, zb, "deleteWebhook"))[1]["result"]["url"] == ""
    assert (await call(session, zb, "getWebhookInfo"))[1]["result"]["url"] == ""
    assert (await call(session, zb, "getUpdates", {"timeout": "0"}))[1]["error_code"] == 408


async def test_webhook_pushes_updates_with_the_secret_header(zb: ZaloBotDouble, session: aiohttp.ClientSession, receiver: Receiver) -> None:
    receiver.answer = lambda request, body: 200 if request.headers.get("X-Bot-Api-Secret-Token") == SECRET else 401
    await call(session, zb, "setWebhook", {"url": "https://bot.example.vn/hook", "secret_token": SECRET})
    zb.deliver_to(receiver.url)
    an = zb.user("An")
    update = zb.send_text(an, "qua webhook")
    assert await zb.wait_delivered(update) == 200
    headers, body = receiver.requests[-1]
    assert headers["X-Bot-Api-Secret-Token"] == SECRET and json.loads(body) == update
    assert zb.pending_updates() == []

    zb.webhook_wrap = True
    wrapped = zb.send_text(an, "bọc")
    assert await zb.wait_delivered(wrapped) == 200
    assert json.loads(receiver.requests[-1][1]) == {"ok": True, "result": wrapped}

    assert await zb.deliver(update, secret="wrong-secret") == 401
    assert await zb.deliver(update, secret="") == 401
    assert "X-Bot-Api-Secret-Token" not in receiver.requests[-1][0]
    receiver.answer = lambda request, body: 400 if not body.startswith(b'{"') else 200
    assert await zb.deliver(raw_body=b"{broken") == 400
    assert await zb.deliver(update, url="http://127.0.0.1:9/nowhere") == 0


# ---------------------------------------------------------------------------
# Faults and limits
# ---------------------------------------------------------------------------


async def test_fail_chat_fail_next_and_block(zb: ZaloBotDouble, session: aiohttp.ClientSession) -> None:
    an, binh = zb.user("An"), zb.user("Bình")
    zb.send_text(an, "hi")
    zb.send_text(binh, "hi")
    zb.fail_chat(an, 500, times=1)
    assert (await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "x"}))[0] == 500
    assert (await call(session, zb, "sendMessage", {"chat_id": an.id, "text": "x"}))[0] == 200
    zb.fail_next("getMe", times=2, error_code=502, description="Bad Gateway")
    assert [(await call(session, zb, "getMe"))[0] for _ in range(3)] == [502, 502, 200]

    zb.block(binh)
    status, body = await call(session, zb, "sendMessage", {"chat_id": binh.id, "text": "x"})
    assert status == 403 and body["error_code"] == 403 and "blocked" in body["description"]
    assert (await call(session, zb, "sendChatAction", {"chat_id": binh.id, "action": "typing"}))[0] == 403
    zb.unblock(binh)
    assert (await call(session, zb, "sendMessage", {"chat_id": binh.id, "text": "x"}))[0] == 200
    assert [r.error_code for r in zb.rejections if r.injected] == [500, 502, 502]
    assert [r.error_code for r in zb.real_rejections()] == [403, 403]


async def test_rate_limits_answer_429(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with ZaloBotDouble(clock=clock) as d:
        an, binh = d.user(), d.user()
        d.send_text(an, "hi")
        d.send_text(binh, "hi")
        d.enforce_limits(per_second=3, chat_per_second=1)
        codes = [(await call(session, d, "sendMessage", {"chat_id": u.id, "text": "x"}))[0] for u in (an, an, binh)]
        assert codes == [200, 429, 200]
        assert (await call(session, d, "sendChatAction", {"chat_id": an.id, "action": "typing"}))[0] == 200  # not a send
        clock.now += 1.0
        assert (await call(session, d, "sendMessage", {"chat_id": an.id, "text": "x"}))[0] == 200
        assert d.max_rate(1.0) == 2 and len(d.sent_log) == 3
        d.enforce_limits()
        assert all([(await call(session, d, "sendMessage", {"chat_id": an.id, "text": "x"}))[0] == 200 for _ in range(3)])


# ---------------------------------------------------------------------------
# Zalo OA: sending
# ---------------------------------------------------------------------------


async def oa_send(
    session: aiohttp.ClientSession, oa: ZaloOADouble, body: Any, *, token: str | None = "current", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["access_token"] = oa.access_token if token == "current" else token
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs.setdefault("Content-Type", "application/json")
    async with session.post(f"{oa.api_url}/v3.0/oa/message/cs", data=data, headers=hdrs) as resp:
        return resp.status, await resp.json()


def text_body(user_id: str, text: str = "Xin chào", buttons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"text": text}
    if buttons is not None:
        message["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
    return {"recipient": {"user_id": user_id}, "message": message}


async def test_oa_send_succeeds_inside_the_window(oa: ZaloOADouble, session: aiohttp.ClientSession, receiver: Receiver) -> None:
    binh = oa.user("Bình")
    assert await oa.send_text(binh, "chào OA", url=receiver.url) == 200
    buttons = [
        {"title": "Đăng ký", "type": "oa.query.show", "payload": "#dang-ky"},
        {"title": "Ẩn", "type": "oa.query.hide", "payload": "#an"},
        {"title": "Xem lịch", "type": "oa.open.url", "payload": {"url": "https://xa.vn/lich"}},
    ]
    status, body = await oa_send(session, oa, text_body(binh.id, "Mời anh chị", buttons))
    assert status == 200 and body["error"] == 0 and body["message"] == "Success"
    assert body["data"]["user_id"] == binh.id and isinstance(body["data"]["message_id"], str)
    sent = await oa.next_message(binh)
    assert sent["text"] == "Mời anh chị" and sent["buttons"] == buttons and sent["message_id"] == body["data"]["message_id"]
    assert oa.messages(binh.id) == [sent] and oa.calls[-1].method == "/v3.0/oa/message/cs"


async def test_oa_access_token_errors(oa: ZaloOADouble, session: aiohttp.ClientSession) -> None:
    binh = oa.user()
    oa.touch(binh)
    assert await oa_send(session, oa, text_body(binh.id), token=None) == (200, {"error": -216, "message": "Access token is invalid"})
    bearer = {"Authorization": f"Bearer {oa.access_token}"}
    assert (await oa_send(session, oa, text_body(binh.id), token=None, headers=bearer))[1]["error"] == -216
    assert (await oa_send(session, oa, text_body(binh.id), token="forged"))[1]["error"] == -216
    assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0
    oa.expire_access_token()
    status, body = await oa_send(session, oa, text_body(binh.id))
    assert status == 200 and body["error"] == -216


async def test_oa_access_token_expires_after_its_ttl() -> None:
    clock = FakeClock()
    async with ZaloOADouble(clock=clock) as oa, aiohttp.ClientSession() as session:
        binh = oa.user()
        oa.touch(binh)
        clock.now += 89_000
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0
        clock.now += 1_001
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == -216


async def test_oa_window_refuses_with_230() -> None:
    clock = FakeClock()
    async with ZaloOADouble(clock=clock, access_token_ttl=10**9) as oa, aiohttp.ClientSession() as session:
        binh = oa.user()
        expected = {"error": -230, "message": "User has not interacted with the OA in the past 7 days"}
        assert await oa_send(session, oa, text_body(binh.id)) == (200, expected)  # never interacted
        oa.touch(binh)
        clock.now += 7 * 86400 - 1
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0
        clock.now += 2
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == -230
        oa.touch(binh)
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0
        oa.expire_window(binh)
        assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == -230
        assert [r.error_code for r in oa.rejections] == [-230, -230, -230]


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b.pop("recipient"), -201),
        (lambda b: b.update(extra=1), -201),
        (lambda b: b["recipient"].update(user_id=123), -201),
        (lambda b: b["recipient"].update(user_id="999"), -201),  # unknown to the OA
        (lambda b: b["message"].update(text=""), -201),
        (lambda b: b["message"].pop("text"), -201),
        (lambda b: b["message"].update(quick_reply=[]), -201),
        (lambda b: b["message"].update(text="ệ" * 2001), -210),
        (lambda b: b["message"].update(attachment={"type": "template", "payload": {"buttons": []}}), -201),
        (lambda b: b["message"].update(attachment={"type": "file", "payload": {"buttons": [{}]}}), -201),
        (
            lambda b: b["message"].update(
                attachment={
                    "type": "template",
                    "payload": {"template_type": "button", "buttons": [{"title": "a", "type": "oa.query.show", "payload": "a"}]},
                }
            ),
            -201,
        ),
    ],
)
async def test_oa_invalid_parameters(
    oa: ZaloOADouble, session: aiohttp.ClientSession, mutate: Callable[[dict[str, Any]], Any], error: int
) -> None:
    binh = oa.user()
    oa.touch(binh)
    body = text_body(binh.id)
    mutate(body)
    status, answer = await oa_send(session, oa, body)
    assert status == 200 and answer["error"] == error
    assert oa.messages(binh) == []


@pytest.mark.parametrize(
    ("buttons", "error"),
    [
        ([{"title": f"n{i}", "type": "oa.query.show", "payload": f"p{i}"} for i in range(6)], -210),
        ([{"title": "t" * 101, "type": "oa.query.show", "payload": "p"}], -210),
        ([{"title": "t", "type": "oa.query.show", "payload": "p" * 1001}], -210),
        ([{"title": "t", "type": "oa.open.phone", "payload": {"phone_code": "0912"}}], -201),
        ([{"title": "t", "type": "oa.open.url", "payload": "https://xa.vn"}], -201),
        ([{"title": "t", "type": "oa.open.url", "payload": {"url": "javascript:alert(1)"}}], -201),
        ([{"title": "", "type": "oa.query.show", "payload": "p"}], -201),
        ([{"title": "t", "type": "oa.query.show"}], -201),
        ([{"title": "t", "type": "oa.query.show", "payload": "p", "color": "red"}], -201),
    ],
)
async def test_oa_button_limits(oa: ZaloOADouble, session: aiohttp.ClientSession, buttons: list[dict[str, Any]], error: int) -> None:
    binh = oa.user()
    oa.touch(binh)
    assert (await oa_send(session, oa, text_body(binh.id, buttons=buttons)))[1]["error"] == error
    five = [{"title": "t" * 100, "type": "oa.query.show", "payload": "p" * 1000} for _ in range(5)]
    assert (await oa_send(session, oa, text_body(binh.id, "ệ" * 2000, buttons=five)))[1]["error"] == 0


async def test_oa_malformed_json_fault_and_unknown_paths(oa: ZaloOADouble, session: aiohttp.ClientSession) -> None:
    binh = oa.user()
    oa.touch(binh)
    assert await oa_send(session, oa, b"{oops") == (200, {"error": -201, "message": "body is invalid!"})
    oa.fail_next(-32, "Your OA reached limit call api")
    assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == -32
    assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0
    async with session.post(
        f"{oa.oauth_url}/v3.0/oa/message/cs", json=text_body(binh.id), headers={"access_token": oa.access_token}
    ) as resp:
        assert resp.status == 404  # the API host is not the OAuth host
    async with session.get(f"{oa.api_url}/v3.0/oa/message/cs", headers={"access_token": oa.access_token}) as resp:
        assert resp.status == 404


# ---------------------------------------------------------------------------
# Zalo OA: OAuth refresh
# ---------------------------------------------------------------------------


async def refresh(
    session: aiohttp.ClientSession,
    oa: ZaloOADouble,
    *,
    refresh_token: str | None = None,
    app_id: str | None = None,
    secret_key: str | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    fields = {"refresh_token": refresh_token or oa.refresh_token, "app_id": app_id or oa.app_id, "grant_type": "refresh_token"}
    kwargs: dict[str, Any] = {"json": fields} if as_json else {"data": fields}
    async with session.post(f"{oa.oauth_url}/v4/oa/access_token", headers={"secret_key": secret_key or oa.secret_key}, **kwargs) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_refresh_rotates_the_pair_and_each_refresh_token_works_once(oa: ZaloOADouble, session: aiohttp.ClientSession) -> None:
    binh = oa.user()
    oa.touch(binh)
    old_access, old_refresh = oa.access_token, oa.refresh_token
    answer = await refresh(session, oa)
    assert set(answer) == {"access_token", "refresh_token", "expires_in"} and answer["expires_in"] == "90000"
    assert (answer["access_token"], answer["refresh_token"]) == (oa.access_token, oa.refresh_token)
    assert answer["access_token"] != old_access and answer["refresh_token"] != old_refresh and oa.refreshes == 1
    assert (await oa_send(session, oa, text_body(binh.id), token=old_access))[1]["error"] == -216
    assert (await oa_send(session, oa, text_body(binh.id), token=answer["access_token"]))[1]["error"] == 0

    reused = await refresh(session, oa, refresh_token=old_refresh)
    assert reused["error"] == -14014 and "already used" in reused["error_reason"] and {"error_name", "error_description"} <= set(reused)
    assert (await refresh(session, oa, refresh_token="never-issued"))["error"] == -14014
    assert oa.refreshes == 1 and oa.access_token == answer["access_token"]

    oa.expire_access_token()
    assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == -216
    assert "access_token" in await refresh(session, oa)
    assert (await oa_send(session, oa, text_body(binh.id)))[1]["error"] == 0 and oa.refreshes == 2


async def test_refresh_refuses_wrong_credentials_and_shape(oa: ZaloOADouble, session: aiohttp.ClientSession) -> None:
    assert (await refresh(session, oa, app_id="123"))["error"] == -14002
    assert (await refresh(session, oa, secret_key="wrong"))["error"] == -14004
    assert (await refresh(session, oa, as_json=True))["error"] == -14001
    async with session.post(
        f"{oa.oauth_url}/v4/oa/access_token",
        headers={"secret_key": oa.secret_key},
        data={"refresh_token": oa.refresh_token, "app_id": oa.app_id, "grant_type": "authorization_code"},
    ) as resp:
        assert (await resp.json())["error"] == -14001
    assert oa.refreshes == 0 and len(oa.rejections) == 4
    assert "access_token" in await refresh(session, oa)  # the refresh token survived the refusals


# ---------------------------------------------------------------------------
# Zalo OA: signed events to the bot
# ---------------------------------------------------------------------------


def test_oa_signature_is_plain_sha256_of_the_concatenation() -> None:
    body = '{"a":"ệ"}'
    expected = hashlib.sha256(("app1" + body + "1700000000000" + "key").encode()).hexdigest()
    assert oa_signature("app1", body, "1700000000000", "key") == f"mac={expected}"
    assert oa_signature("app1", body.encode(), 1700000000000, "key") == f"mac={expected}"


async def test_oa_events_are_signed_and_open_the_window(oa: ZaloOADouble, session: aiohttp.ClientSession, receiver: Receiver) -> None:
    def verify(request: web.Request, body: bytes) -> int:
        event = json.loads(body)
        expected = oa_signature(oa.app_id, body, event["timestamp"], oa.secret_key)
        return 200 if request.headers.get("X-ZEvent-Signature") == expected else 401

    receiver.answer = verify
    binh = oa.user("Bình")
    assert await oa.send_text(binh, "Tôi muốn đăng ký", url=receiver.url, msg_id="m1", timestamp_ms=1_700_000_000_000) == 200
    headers, body = receiver.requests[-1]
    event = json.loads(body)
    assert event == {
        "app_id": oa.app_id,
        "user_id_by_app": binh.user_id_by_app,
        "event_name": "user_send_text",
        "timestamp": "1700000000000",
        "sender": {"id": binh.id},
        "recipient": {"id": oa.oa_id},
        "message": {"msg_id": "m1", "text": "Tôi muốn đăng ký"},
    }
    assert "Tôi".encode() in body  # raw UTF-8, compact: re-serialising would break the MAC
    assert oa.in_window(binh)

    chi = oa.user("Chi")
    assert await oa.send_text(chi, "giả mạo", url=receiver.url, bad_signature=True) == 401
    assert await oa.send_text(chi, "không ký", url=receiver.url, sign=False) == 401
    assert "X-ZEvent-Signature" not in receiver.requests[-1][0]
    assert not oa.in_window(chi)  # refused events open no window
    assert (await oa_send(session, oa, text_body(chi.id)))[1]["error"] == -230
    receiver.answer = lambda request, body: 400
    assert await oa.send_text(chi, "x", url=receiver.url, raw_body=b"{broken") == 400
    assert await oa.send_text(chi, "x", url="http://127.0.0.1:9/nowhere") == 0
    assert [status for _, status in oa.events] == [200, 401, 401, 400, 0]


async def test_oa_wait_until_and_timeout(oa: ZaloOADouble) -> None:
    binh = oa.user()
    with pytest.raises(DoubleTimeout, match="no new OA message"):
        await oa.next_message(binh, timeout=0.1)
    assert await oa.wait_until(lambda: oa.users.get(binh.id)) is binh
