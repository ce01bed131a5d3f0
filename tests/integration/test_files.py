"""The files behind the Zalo bots' links (`/files/…`), served on the web console's host: only types we
read from the bytes, never a page that could run script there, and links signed with a key of their own."""

from __future__ import annotations

import io
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from pydantic import ValidationError

from bot.channels.files import FileLinks
from bot.channels.webhook import build_app
from bot.entrypoints.bootstrap import NoChannel, check
from bot.entrypoints.settings import Settings
from bot.services.notices import NoticeError, keep_notice_file
from storage.models import Attachment
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_telegram import consented, register
from tests.integration.test_village_heads import make_staff
from tests.support.phone import Phone, running_bot

BASE = "https://doithoai.example.gov.vn"
FILES_SECRET = "the-file-links-own-key"
WEBHOOK_SECRET = "the-webhook-secret"
HTML = b"<!doctype html><html><body><script>fetch('/staff').then(r => r.text()).then(alert)</script></body></html>"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


async def stored(db, filename: str, mime_type: str, data: bytes) -> Attachment:
    """A file as it sits in the database, whatever type it claims (as files kept before the check did)."""
    async with UnitOfWork(db) as uow:
        attachment = uow.meetings.add(Attachment(filename=filename, mime_type=mime_type, data=data, created_at=datetime.now(timezone.utc)))
        await uow.commit()
    return attachment


@asynccontextmanager
async def file_server(db):
    """The webhook listener with its file links, on a free port; yields (links, the server's base URL)."""
    links = FileLinks(BASE, FILES_SECRET)
    runner = web.AppRunner(build_app(db, secret=WEBHOOK_SECRET, files=links))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield links, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def get(server: str, url: str) -> tuple[aiohttp.ClientResponse, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(server + url.removeprefix(BASE)) as response:
            return response, await response.read()


def assert_sandboxed(response: aiohttp.ClientResponse) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"


async def test_a_page_sent_as_a_photo_is_refused_and_the_notice_is_kept(meeting_db, double):
    async with running_bot(meeting_db, double):
        resident = await consented(double, "An")
        await register(resident, village="Thôn Lai Hà")
        head = Phone(double, double.user(first_name="Trưởng thôn"))
        await make_staff(meeting_db, head, "village_head", villages=["Thôn Lai Hà"])
        await head.say("/thongbao", "Thông báo cho Thôn Lai Hà")
        await head.say("Chiều nay 14:00 họp thôn bàn việc làm đường.", "Xem trước")
        double.send_document(head.user, file_name="so-do.png", mime_type="image/png", data=HTML)
        await head.expect("không nhận loại tệp này", "thông báo đang soạn vẫn giữ nguyên", ".docx")
        assert await rows(meeting_db, Attachment) == []
        # A real picture under a misleading name and type is kept as what it is.
        double.send_document(head.user, file_name="so-do.html", mime_type="text/html", data=png())
        await head.expect("Xem trước", "Kèm theo: tệp so-do.html.png")
    [attachment] = await rows(meeting_db, Attachment)
    assert (attachment.filename, attachment.mime_type) == ("so-do.html.png", "image/png")


async def test_only_files_of_an_allowed_type_are_kept(meeting_db):
    async with UnitOfWork(meeting_db) as uow:
        with pytest.raises(NoticeError):
            await keep_notice_file(uow, filename="thong-bao.png", mime_type="image/png", data=HTML, now=datetime.now(timezone.utc))
        kept = await keep_notice_file(uow, filename="ke-hoach", mime_type="image/png", data=PDF, now=datetime.now(timezone.utc))
        attachment = await uow.session.get(Attachment, kept)
        assert attachment is not None and (attachment.filename, attachment.mime_type) == ("ke-hoach.pdf", "application/pdf")


async def test_a_page_already_stored_as_an_image_is_served_as_a_download_that_cannot_run(meeting_db):
    page = await stored(meeting_db, "thong-bao.png", "image/png", HTML)
    async with file_server(meeting_db) as (links, server):
        response, body = await get(server, links.url(page))
    assert response.status == 200 and body == HTML
    assert response.content_type == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert 'filename="thong-bao.png.bin"' in response.headers["Content-Disposition"]
    assert_sandboxed(response)


async def test_an_image_is_shown_inline_and_a_document_is_downloaded_under_its_vietnamese_name(meeting_db):
    picture = await stored(meeting_db, "ảnh.png", "image/png", png())
    document = await stored(meeting_db, "Lịch trực thôn Đông.pdf", "image/png", PDF)  # whatever it claims
    calendar = await stored(meeting_db, "GP-2026.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    async with file_server(meeting_db) as (links, server):
        shown, body = await get(server, links.url(picture))
        assert (shown.status, shown.content_type, body) == (200, "image/png", png())
        assert shown.headers["Content-Disposition"] == "inline; filename=\"anh.png\"; filename*=UTF-8''%E1%BA%A3nh.png"
        assert_sandboxed(shown)
        saved, body = await get(server, links.url(document))
        assert (saved.status, saved.content_type, body) == (200, "application/pdf", PDF)
        assert saved.headers["Content-Disposition"] == (
            "attachment; filename=\"Lich_truc_thon_Dong.pdf\"; filename*=UTF-8''L%E1%BB%8Bch%20tr%E1%BB%B1c%20th%C3%B4n%20%C4%90%C3%B4ng.pdf"
        )
        assert_sandboxed(saved)
        ics, _ = await get(server, links.url(calendar))
        assert ics.content_type == "text/calendar" and ics.headers["Content-Disposition"].startswith("attachment;")


async def test_every_answer_under_files_is_sandboxed_and_old_links_no_longer_open(meeting_db):
    picture = await stored(meeting_db, "anh.png", "image/png", png())
    async with file_server(meeting_db) as (links, server):
        # A link signed with the webhook secret (as every link was before), which Telegram and Zalo hold.
        old = FileLinks(BASE, WEBHOOK_SECRET).url(picture)
        gone = FileLinks(BASE, FILES_SECRET).url(Attachment(id=picture.id + 1000, filename="x.png", mime_type="image/png", data=b""))
        for url in (old, gone, f"{BASE}/files/not-a-token/x.png", f"{BASE}/files/only-a-token"):
            response, body = await get(server, url)
            assert response.status == 404 and HTML not in body and png() not in body
            assert_sandboxed(response)
        async with aiohttp.ClientSession() as http:
            async with http.post(server + links.url(picture).removeprefix(BASE)) as refused:
                assert refused.status == 405
                assert_sandboxed(refused)


def test_the_file_links_need_a_key_of_their_own(monkeypatch):
    for name in ("DOITHOAI_TELEGRAM_TOKEN", "DOITHOAI_ZALO_OA_APP_ID", "DOITHOAI_COMMUNES_FILE"):
        monkeypatch.delenv(name, raising=False)
    zalo = dict(_env_file=None, zalo_token="1:abc", webhook_base_url=BASE, webhook_secret=WEBHOOK_SECRET)
    with pytest.raises(NoChannel, match="DOITHOAI_FILES_SECRET"):
        check(Settings(**zalo), webhook=True)
    assert check(Settings(**zalo, files_secret=FILES_SECRET), webhook=True) == ["zalo"]
    with pytest.raises(ValidationError, match="differ from DOITHOAI_WEBHOOK_SECRET"):
        Settings(**{**zalo, "webhook_secret": FILES_SECRET}, files_secret=FILES_SECRET)
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(**zalo, files_secret="short")
    # Telegram alone sends files as uploads: no links, no key needed.
    assert check(Settings(_env_file=None, telegram_token="1:abc", webhook_base_url=BASE, webhook_secret=WEBHOOK_SECRET), webhook=True) == ["telegram"]


async def test_zalo_sends_as_a_photo_only_what_is_an_image_and_its_link_opens(meeting_db):
    from bot.channels.zalo.api import ZaloBotAPI
    from bot.channels.zalo.transport import ZaloTransport
    from bot.domain.messages import Reply
    from tests.support.zalo_double import ZaloBotDouble

    picture = await stored(meeting_db, "so-do.png", "image/png", png())
    page = await stored(meeting_db, "anh.png", "image/png", HTML)  # kept before the check, claiming to be an image
    async with ZaloBotDouble() as zb, file_server(meeting_db) as (links, server):
        api = ZaloBotAPI(zb.token, zb.base_url)
        try:
            transport = ZaloTransport(api, links)
            user = zb.user()
            zb.send_text(user, "xin chào")  # the chat exists once the person has written
            for attachment in (picture, page):
                await transport.deliver(user.id, Reply(text=""), attachment)
        finally:
            await api.close()
        photo, link = zb.messages(user)[-2:]
        assert photo["photo"] == links.url(picture)
        assert "photo" not in link and links.url(page) in link["text"]
        response, body = await get(server, photo["photo"])
        assert (response.status, response.content_type, body) == (200, "image/png", png())
