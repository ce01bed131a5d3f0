"""The console's figures, sorted as a Vietnamese reader expects."""

from __future__ import annotations

import re

from bot.conversation.engine import Conversation
from tests.integration.test_web import app, as_staff, clock, world  # noqa: F401  (fixtures)
from tests.support.core_chat import CoreChat


async def test_villages_with_as_many_questions_are_listed_in_vietnamese_order(app, world, as_staff):  # noqa: F811
    for user in ("21", "22"):
        chat = CoreChat(Conversation(world), user_id=user)
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(name="Vũ Thị Hoa", village="Thôn Đại Lương", question="Xin hỏi kế hoạch hỗ trợ giống lúa vụ xuân.")
    client, _ = await as_staff("vanphong")
    page = (await client.get("/stats")).text
    groups = re.findall(r'data-group="(Thôn [^"]+)"', page)
    # Lai Hà, Văn Lâm and Đại Lương have two questions each; Phong Lâm one.
    assert groups == ["Thôn Đại Lương", "Thôn Lai Hà", "Thôn Văn Lâm", "Thôn Phong Lâm"]
