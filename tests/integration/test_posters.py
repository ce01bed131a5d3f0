"""Village posters: one A4 page per invited village, readable text with every diacritic, and QR
codes that really scan to that village's deep link.

The pages are rasterised with PDFium and the codes read back with zxing-cpp, as a phone camera
would see the printed page."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pypdf import PdfReader

from bot.services.exports.posters import PosterError, render_posters
from bot.text.catalogue import Translator
from bot.text.formatting import date, local, when
from storage.db import Database
from storage.uow import UnitOfWork
from tests.conftest import load, plan_text

BOT = "GiaPhucBot"
ZALO = "https://zalo.me/s/1234567890/?village={village_id}"
A4 = (595.28, 841.89)  # points


async def render(db: Database, code: str = "GP-2026", **kwargs) -> bytes:
    kwargs.setdefault("telegram_username", BOT)
    async with UnitOfWork(db, readonly=True) as uow:
        return await render_posters(uow, code, **kwargs)


async def invited(db: Database, code: str = "GP-2026"):
    async with UnitOfWork(db, readonly=True) as uow:
        meeting = await uow.meetings.by_code(code)
        commune = await uow.communes.get(meeting.commune_id)
        return meeting, commune, list(await uow.meetings.invited_villages(meeting.id))


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text, NFC, with line breaks and runs of spaces as one space."""
    reader = PdfReader(io.BytesIO(pdf))
    return [" ".join(unicodedata.normalize("NFC", page.extract_text()).split()) for page in reader.pages]


def scanned(pdf: bytes, tmp_path: Path) -> list[set[str]]:
    """What a QR reader finds on each printed page, rendered at 120 dpi as a phone camera would see it."""
    document = pdfium.PdfDocument(pdf)
    found = []
    for page in document:
        image = page.render(scale=120 / 72).to_pil()
        found.append({code.text for code in zxingcpp.read_barcodes(image) if code.format == zxingcpp.BarcodeFormat.QRCode})
    return found


def deep_link(village_id: int) -> str:
    return f"https://t.me/{BOT}?start=v{village_id}"


async def test_one_a4_page_per_invited_village_with_its_name_the_venue_and_the_date(meeting_db):
    pdf = await render(meeting_db)
    meeting, commune, villages = await invited(meeting_db)
    assert len(villages) == 7
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == len(villages)
    tr = Translator("vi")
    day = date(local(meeting.starts_at, commune.timezone))
    deadline = " ".join(when(meeting.registration_closes_at, commune.timezone, tr).split())
    for page, text, village in zip(reader.pages, page_texts(pdf), villages):
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4, abs=0.5)
        assert " ".join(tr("poster.title", village=village.name).split()) in text
        assert "Xã Gia Phúc".upper() in text
        assert "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc" in text
        assert f"ngày {day}" in text and re.search(r"Từ \d\d:\d\d đến \d\d:\d\d", text)
        assert deadline in text
        assert "Mở Telegram, dùng camera điện thoại quét mã QR" in text
        assert "Ông/Bà" in text
        assert deep_link(village.id) in text  # printed under the code, for those who type it
        others = {v.name for v in villages} - {village.name}
        assert not any(name in text for name in others)


async def test_the_font_is_embedded(meeting_db):
    reader = PdfReader(io.BytesIO(await render(meeting_db)))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    descriptors = [fonts[name].get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"] for name in fonts]
    assert descriptors and all("/FontFile2" in d for d in descriptors)
    assert all("BeVietnamPro" in str(d["/FontName"]) for d in descriptors)


async def test_a_plans_village_subset_gets_posters_and_no_other(db):
    text = plan_text().replace('# villages = ["Thôn Phong Lâm"]', 'villages = ["Thôn Lai Hà", "Thôn Đại Lương"]')
    await load(db, text)
    pdf = await render(db)
    texts = page_texts(pdf)
    assert len(texts) == 2
    assert "Thôn Lai Hà" in texts[0] and "Thôn Đại Lương" in texts[1]
    assert not any("Thôn Phong Lâm" in t for t in texts)


async def test_each_pages_qr_code_opens_the_bot_with_that_village(meeting_db, tmp_path):
    pdf = await render(meeting_db, telegram_username="@GiaPhucBot")
    _, _, villages = await invited(meeting_db)
    assert scanned(pdf, tmp_path) == [{deep_link(v.id)} for v in villages]


async def test_a_zalo_link_adds_a_second_code(meeting_db, tmp_path):
    pdf = await render(meeting_db, zalo_link=ZALO)
    _, _, villages = await invited(meeting_db)
    assert scanned(pdf, tmp_path) == [{deep_link(v.id), ZALO.format(village_id=v.id)} for v in villages]
    text = page_texts(pdf)[0]
    assert "Mở Telegram hoặc Zalo" in text and ZALO.format(village_id=villages[0].id) in text


async def test_a_plain_zalo_address_opens_the_chat_where_the_village_is_picked(meeting_db, tmp_path):
    oa = "https://zalo.me/2345678901234567890"
    pdf = await render(meeting_db, telegram_username="GiaPhucBot", zalo_link=oa)
    _, _, villages = await invited(meeting_db)
    assert scanned(pdf, tmp_path) == [{f"https://t.me/GiaPhucBot?start=v{v.id}", oa} for v in villages]


async def test_long_names_still_fit_on_one_page_and_scan(db, tmp_path):
    village = "Tổ dân phố Nguyễn Văn Cừ mở rộng số 12 khu vực phía Bắc"
    venue = "Hội trường Trung tâm Văn hoá - Thể thao xã Gia Phúc, số 18 đường Nguyễn Trãi, thôn Phong Lâm, xã Gia Phúc"
    text = plan_text(villages=[village, "Thôn Phong Lâm"])
    await load(db, text.replace('venue = "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc"', f'venue = "{venue}"'))
    pdf = await render(db, telegram_username="GiaPhucXaDoiThoaiNhanDan2026Bot", zalo_link=ZALO)
    _, _, villages = await invited(db)
    texts = page_texts(pdf)
    assert len(texts) == 2 and village in texts[0] and venue in texts[0]
    assert scanned(pdf, tmp_path)[0] == {f"https://t.me/GiaPhucXaDoiThoaiNhanDan2026Bot?start=v{villages[0].id}", ZALO.format(village_id=villages[0].id)}


async def test_english_posters(meeting_db):
    text = page_texts(await render(meeting_db, lang="en"))[0]
    assert "Residents of Thôn Phong Lâm are invited to the dialogue meeting" in text
    assert "Open Telegram and scan the QR code" in text


async def test_an_unknown_meeting_is_an_error(meeting_db):
    with pytest.raises(PosterError, match="NOPE-1"):
        await render(meeting_db, "NOPE-1")


@pytest.mark.parametrize("kwargs", [{"telegram_username": "gia phuc"}, {"telegram_username": ""}, {"zalo_link": "zalo.me/{village_id}"}, {"zalo_link": "https://zalo.me/ 123"}])
async def test_a_bad_username_or_zalo_link_is_an_error(meeting_db, kwargs):
    with pytest.raises(PosterError):
        await render(meeting_db, **kwargs)
