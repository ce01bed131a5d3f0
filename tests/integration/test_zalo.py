"""Residents on the Zalo bot and the Zalo OA: typed numbers instead of buttons, the same core."""

from __future__ import annotations

import pytest

from storage.models import ChannelToken, Inbound, Outbox, ProcessedUpdate, Resident, Submission
from tests.conftest import rows
from tests.support.eventually import eventually
from tests.support.zalo_double import ZaloBotDouble, ZaloOADouble, oa_signature
from tests.support.zalo_phone import OAPhone, ZaloPhone, oa_registered, running_oa, running_zalo


def answers_are(db, *statuses: str):
    """A probe for `eventually`: the database is written just after a message reaches the double."""
    async def probe() -> bool:
        return [o.status for o in await rows(db, Outbox) if o.kind == "answer"] == list(statuses)

    return probe


@pytest.fixture
async def zb():
    async with ZaloBotDouble() as d:
        yield d
    assert d.real_rejections() == [], d.real_rejections()


@pytest.fixture
async def oa_double():
    async with ZaloOADouble() as d:
        yield d
    # An expired token (-216) and a closed window (-230) are part of the protocol; anything else is a bad request.
    assert [r for r in d.rejections if not r.injected and r.error_code not in (-216, -230)] == []


async def test_a_resident_registers_on_the_zalo_bot_by_typing_numbers_and_names(meeting_db, zb):
    async with running_zalo(meeting_db, zb):
        p = ZaloPhone(double=zb, user=zb.user("Nguyễn Văn An"))
        consent = await p.say("xin chào", "Ông/Bà có đồng ý không?")
        assert "1. Đồng ý\n2. Không đồng ý" in consent["text"]
        assert await rows(meeting_db, Resident) == []  # nothing kept before consent

        menu = await p.say("1", "Cảm ơn Ông/Bà", "gõ 1")
        assert "1. 📝 Đăng ký phát biểu" in menu["text"] and "bấm" not in menu["text"]
        await p.say("đăng ký", "Bước 1/6")
        villages = await p.say("Nguyễn Văn An", "Bước 2/6", "gõ số thứ tự hoặc tên thôn")
        assert "1. Thôn Phong Lâm" in villages["text"]
        await p.say("thon phong lam", "Bước 3/6")  # no diacritics, any case
        await p.say("van de khac", "Bước 4/6")
        await p.say("Đường liên thôn xuống cấp, khi nào sửa?", "Bước 5/6")
        await p.choose("Chỉ cần trả lời", "Bước 6/6", "gõ 1 để bỏ qua")
        review = await p.say("1", "kiểm tra lại phiếu", "gõ 1 (Gửi)")
        assert "Thôn Phong Lâm" in review["text"] and "Vấn đề khác" in review["text"]
        receipt = await p.say("1", "Mã phiếu", "qua Zalo")
        assert len(receipt["text"]) <= 2000

    [submission] = await rows(meeting_db, Submission)
    assert (submission.channel, submission.name, submission.wants_to_speak) == ("zalo", "Nguyễn Văn An", False)
    assert submission.ref in receipt["text"]
    [resident] = await rows(meeting_db, Resident)
    assert (resident.channel, resident.chat_id) == ("zalo", p.chat_id)
    assert await rows(meeting_db, Inbound) == []  # handled updates are not kept


async def test_out_of_range_garbage_and_typos_change_nothing_until_understood(meeting_db, zb):
    async with running_zalo(meeting_db, zb):
        p = ZaloPhone(double=zb, user=zb.user())
        await p.say("chào", "Ông/Bà có đồng ý không?")
        await p.say("Đồng ý", "Cảm ơn Ông/Bà")
        await p.say("/dangky", "Bước 1/6")
        await p.say("Trần Thị Bình", "Bước 2/6")
        await p.say("9", "Danh sách chỉ có từ 1 đến")
        await p.say("cây xăng", "gõ số thứ tự (1, 2, 3…) hoặc tên")
        state = (await rows(meeting_db, Resident))[0].state
        assert state["step"] == "village" and "village_id" not in state["draft"]
        await p.say("thon phong lamm", "Bước 3/6")  # a typo still finds the village
        assert (await rows(meeting_db, Resident))[0].state["draft"]["village_id"]
        await p.say("hủy", "Đã hủy phiếu đăng ký")  # a plain word works as the command
        assert (await rows(meeting_db, Resident))[0].state == {}


async def test_a_long_text_is_split_on_paragraphs_under_2000_characters(meeting_db, zb):
    async with running_zalo(meeting_db, zb):
        p = ZaloPhone(double=zb, user=zb.user())
        await p.say("chào", "Ông/Bà có đồng ý không?")
        sent = [m["text"] for m in zb.messages(p.user)]
    consent = "".join(sent)
    assert all(1 <= len(text) <= 2000 for text in sent)
    assert "91/2025/QH15" in consent


async def test_a_zalo_webhook_needs_the_secret_and_valid_json(meeting_db, zb):
    from aiohttp import web

    from bot.channels.registry import PATHS
    from bot.channels.webhook import build_app
    from bot.channels.zalo.api import ZaloBotAPI
    from bot.channels.zalo.runner import ZaloBot
    from bot.channels.zalo.transport import ZaloTransport
    from bot.conversation.engine import Conversation
    from bot.delivery.inbox import Inbox
    from bot.delivery.sender import Sender

    api = ZaloBotAPI(zb.token, zb.base_url)
    inbox = Inbox(meeting_db)
    sender = Sender(meeting_db, {"zalo": ZaloTransport(api)})
    bot = ZaloBot(api, Conversation(meeting_db), sender, inbox)
    runner = web.AppRunner(build_app(meeting_db, secret="s3cret-s3cret", zalo=bot))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}{PATHS['zalo']}"  # type: ignore[union-attr]
    try:
        await bot.prepare("https://bot.example.gov.vn" + PATHS["zalo"], "s3cret-s3cret")
        zb.deliver_to(url)
        user = zb.user()
        update = zb.send_text(user, "xin chào")  # the double posts it to our webhook, with the secret
        assert await zb.wait_delivered(update) == 200
        forged = {**update, "message": {**update["message"], "message_id": "forged-1", "text": "giả mạo"}}
        assert await zb.deliver(forged, secret="wrong-secret") == 403
        assert await zb.deliver(forged, secret="") == 403
        assert await zb.deliver(raw_body=b"{not json") == 400
        assert await zb.deliver({"event_name": "message.text.received"}) == 400
        wrapped = {**update, "message": {**update["message"], "message_id": "wrapped-1", "text": "bọc trong ok/result"}}
        assert await zb.deliver(wrapped, wrap=True) == 200
        # The two genuine ones were handled before the answer (their chat was idle); the rest changed nothing.
        handled = await rows(meeting_db, ProcessedUpdate)
        assert sorted(r.update_id for r in handled if r.channel == "zalo") == sorted([update["message"]["message_id"], "wrapped-1"])
        assert await rows(meeting_db, Inbound) == []
        assert not any("giả mạo" in m.get("text", "") for m in zb.messages(user))
        assert zb.webhook_url == "https://bot.example.gov.vn/webhook/zalo"
    finally:
        await runner.cleanup()
        await inbox.locks.close()
        await api.close()


async def test_oa_resident_registers_and_taps_quick_replies(meeting_db, oa_double):
    async with running_oa(meeting_db, oa_double) as running:
        p = OAPhone(double=oa_double, user=oa_double.user(), url=running.url)
        consent = await p.say("Xin chào", "Ông/Bà có đồng ý không?")
        assert [b["payload"] for b in consent["buttons"]] == ["1", "2"]
        await p.say("1", "Cảm ơn Ông/Bà")
        await p.say("Đăng ký", "Bước 1/6")
        await p.say("Lê Văn Cường", "Bước 2/6")
        await p.choose("Thôn Phong Lâm", "Bước 3/6")
        await p.choose("Vấn đề khác", "Bước 4/6")
        await p.say("Xin hỏi khi nào có điện chiếu sáng đường thôn?", "Bước 5/6")
        await p.choose("Phát biểu trực tiếp", "Bước 6/6")
        await p.say("0912345678", "kiểm tra lại phiếu", "0912345678")
        await p.say("1", "Mã phiếu")
    [submission] = await rows(meeting_db, Submission)
    assert (submission.channel, submission.phone, submission.wants_to_speak) == ("zalo_oa", "0912345678", True)


async def test_oa_webhook_refuses_forgeries_replays_and_bad_json(meeting_db, oa_double):
    async with running_oa(meeting_db, oa_double) as running:
        user = oa_double.user()
        assert await oa_double.send_text(user, "giả mạo", url=running.url, bad_signature=True) == 403
        assert await oa_double.send_text(user, "không ký", url=running.url, sign=False) == 403
        assert await oa_double.send_text(user, "x", url=running.url, raw_body=b"{oops") == 403
        stale = 1_000_000_000_000
        assert await oa_double.send_text(user, "cũ quá", url=running.url, timestamp_ms=stale) == 403
        assert await rows(meeting_db, Resident) == [] and oa_double.messages(user) == []

        assert await oa_double.send_text(user, "xin chào", url=running.url, msg_id="m-1") == 200
        await OAPhone(double=oa_double, user=user).expect("Ông/Bà có đồng ý không?")
        # The same message again (a replay) is refused; if it slipped through it would be answered again.
        status = await oa_double.send_text(user, "xin chào", url=running.url, msg_id="m-1")
        assert status == 409
        before = len(oa_double.messages(user))
        await oa_double.send_text(user, "1", url=running.url, msg_id="m-2")
        await OAPhone(double=oa_double, user=user).expect("Cảm ơn Ông/Bà")
        assert len([m for m in oa_double.messages(user)[:before] if "đồng ý không" in m["text"]]) == 1
    assert oa_signature("a", b"b", "1", "s").startswith("mac=")


async def test_oa_token_is_refreshed_once_and_stored_before_use(meeting_db, oa_double):
    async with running_oa(meeting_db, oa_double) as running:
        p = OAPhone(double=oa_double, user=oa_double.user(), url=running.url)
        await p.say("xin chào", "Ông/Bà có đồng ý không?")
        oa_double.expire_access_token()
        await p.say("1", "Cảm ơn Ông/Bà")
        assert oa_double.refreshes == 1
        [token] = await rows(meeting_db, ChannelToken)
        assert (token.access_token, token.refresh_token) == (oa_double.access_token, oa_double.refresh_token)
        # A second client (another process, a restart) reads the stored pair rather than the spent seed.
        oa_double.expire_access_token()
        await p.say("trợ giúp", "Hướng dẫn")
        assert oa_double.refreshes == 2


async def test_an_oa_answer_outside_the_window_waits_until_the_resident_writes(meeting_db, oa_double):
    from bot.services.answers import publish_conclusion, record_answer
    from bot.services.staff import OPERATOR
    from storage.uow import UnitOfWork

    async with running_oa(meeting_db, oa_double) as running:
        p = OAPhone(double=oa_double, user=oa_double.user(), url=running.url)
        await oa_registered(p)
        [submission] = await rows(meeting_db, Submission)
        oa_double.expire_window(p.user)
        async with UnitOfWork(meeting_db) as uow:
            await record_answer(uow, submission.ref, text="Tháng 12 xã sẽ nạo vét.", now=submission.created_at)
            await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=submission.created_at)
            await uow.commit()
        running.channel.sender.wake()
        await eventually(answers_are(meeting_db, "unreachable"), timeout=10, what="the answer held as unreachable")
        assert any(r.error_code == -230 for r in oa_double.rejections)
        # The resident writes again: the window opens, and the answer goes out.
        await p.say("câu hỏi", "Tháng 12 xã sẽ nạo vét.")
        await eventually(answers_are(meeting_db, "sent"), timeout=10, what="the answer sent")
