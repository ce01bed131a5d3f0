"""Digits that are not ASCII where a number is expected: "²" and "①" pass str.isdigit() but int() refuses
them, and int() takes "１" and "٣" and numbers too long for any id. Each is simply no match: the
resident gets the usual "type the number or the name" reply, never "hệ thống đang gặp sự cố"."""

from __future__ import annotations

import pytest

from storage.models import Resident
from tests.conftest import rows
from tests.integration.test_telegram import phone
from tests.integration.test_web import app, as_staff, clock, refs_on, world  # noqa: F401  (the console's fixtures)
from tests.support.phone import running_bot
from tests.support.zalo_double import ZaloBotDouble
from tests.support.zalo_phone import ZaloPhone, running_zalo
from tests.unit.test_messages import NOT_NUMBERS


@pytest.fixture
async def zb():
    async with ZaloBotDouble() as d:
        yield d


async def test_odd_digits_at_a_numbered_choice_are_no_match(meeting_db, zb):
    async with running_zalo(meeting_db, zb):
        p = ZaloPhone(double=zb, user=zb.user())
        await p.say("chào", "Ông/Bà có đồng ý không?")
        await p.say("①", "Ông/Bà có đồng ý không?")  # the consent question again, not an error
        await p.say("1", "Cảm ơn Ông/Bà")
        await p.say("/dangky", "Bước 1/6")
        await p.say("Trần Thị Bình", "Bước 2/6")
        for typed in NOT_NUMBERS:
            reply = await p.say(typed, "gõ số thứ tự (1, 2, 3…) hoặc tên")
            assert "sự cố" not in reply["text"], typed
        assert "village_id" not in (await rows(meeting_db, Resident))[0].state["draft"]
        await p.say("2", "Bước 3/6")  # a plain number still chooses


@pytest.mark.parametrize("payload", ["v²", "v①", "v１", "v٣", "v99999999999999999999"])
async def test_a_deep_link_with_odd_digits_greets_as_a_plain_start(meeting_db, double, payload):
    async with running_bot(meeting_db, double):
        p = phone(double, "An")
        greeting = await p.say(f"/start {payload}", "Ông/Bà có đồng ý không?")
        assert "sự cố" not in greeting["text"]
        await p.tap("Đồng ý", "Đăng ký phát biểu")
        await p.say("📝 Đăng ký phát biểu", "Bước 1/6")
        await p.say("Nguyễn Văn An", "Bước 2/6")  # no village came with the link: it is asked for


async def test_the_consoles_page_and_filters_ignore_numbers_that_are_not_ids(app, world, as_staff):  # noqa: F811
    client, _ = await as_staff("vanphong")
    for query in ("?page=99999999999999999999", "?village=99999999999999999999", "?topic=٣", "?page=²", "?meeting=１"):
        response = await client.get("/submissions" + query)
        assert response.status_code == 200, query
        assert refs_on(response.text) == ["GP-0001", "GP-0002"], query
