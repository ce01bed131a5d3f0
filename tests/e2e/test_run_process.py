"""`doithoai run` as its own process, as an operator starts it: killed mid-form, stopped by signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import plan_text
from tests.support.botapi_double import BotAPIDouble
from tests.support.phone import Phone
from tests.support.process import RunningBot, bot_env, ok


@pytest.fixture
async def env(tmp_path: Path, double: BotAPIDouble) -> dict:
    e = bot_env(tmp_path, double, DOITHOAI_LOG_LEVEL="INFO")
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    await ok(e, "db", "upgrade")
    await ok(e, "meeting", "load", str(plan))
    return e


async def test_killed_mid_form_the_bot_resumes_at_the_same_step(env, double, tmp_path):
    log = tmp_path / "run.log"
    p = Phone(double, double.user(first_name="An"))
    bot = RunningBot(env, log)
    await bot.start()
    try:
        await p.say("/start", "Ông/Bà có đồng ý không?")
        await p.tap("Đồng ý", "Đăng ký phát biểu")
        await p.say("📝 Đăng ký phát biểu", "Bước 1/6")
        await p.say("Nguyễn Văn An", "Bước 2/6")
        await p.tap("Thôn Văn Lâm", "Bước 3/6")
    finally:
        await bot.kill()
    # While the bot is down the resident carries on; Telegram keeps the updates.
    message, data = p.find_button("Vấn đề khác")
    pressed = double.press(p.user, message, data)
    await bot.start()
    try:
        assert await double.wait_answered(pressed, timeout=30) is None
        await p.expect("✔️ Vấn đề khác", "Bước 4/6", timeout=30)
        await p.say("Đề nghị xã sửa lại cống thoát nước ở đầu thôn.", "Bước 5/6")
        await p.tap("Chỉ cần trả lời", "Bước 6/6")
        await p.say("Bỏ qua", "kiểm tra lại phiếu")
        await p.tap("Gửi", "Mã phiếu: GP-0001")
    finally:
        await bot.stop()
    [row] = json.loads(await ok(env, "submissions", "list", "--json"))
    assert (row["ref"], row["name"], row["village"], row["topic"], row["channel"]) == (
        "GP-0001", "Nguyễn Văn An", "Thôn Văn Lâm", "Vấn đề khác", "telegram")
    assert row["question"] == "Đề nghị xã sửa lại cống thoát nước ở đầu thôn."
    text = log.read_text(encoding="utf-8")
    assert "Nguyễn Văn An" not in text and "cống thoát nước" not in text  # no personal data in logs
    assert "stopped cleanly" in text


async def test_sigterm_finishes_the_updates_in_hand(env, double, tmp_path):
    phones = [Phone(double, double.user(first_name=f"Dân {i}")) for i in range(8)]
    bot = RunningBot(env, tmp_path / "run.log")
    await bot.start()
    try:
        await phones[0].say("/lichhop", "Hội trường")  # the bot is up and polling
        for p in phones:
            p.send("/trogiup")  # queued together: one batch
        await double.wait_until(lambda: any(double.messages(p.user)[-1:] and "Hướng dẫn" in double.messages(p.user)[-1].get("text", "") for p in phones))
    finally:
        await bot.stop()  # asserts a clean exit, 0
    for p in phones:
        assert "Hướng dẫn" in double.messages(p.user)[-1]["text"]
    assert double.pending_updates() == []  # the batch was confirmed before exiting
