"""`doithoai run` as its own process, as an operator starts it: killed mid-form, stopped by signal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import plan_text
from tests.support.botapi_double import BotAPIDouble
from tests.support.phone import Phone

BIN = Path(sys.executable).parent / "doithoai"


def command(*args: str) -> list[str]:
    return [str(BIN), *args] if BIN.exists() else [sys.executable, "-m", "bot", *args]


@pytest.fixture
async def double():
    async with BotAPIDouble() as d:
        yield d
    assert d.rejections == [], d.rejections


@pytest.fixture
async def env(tmp_path: Path, double: BotAPIDouble) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    e.update(
        DOITHOAI_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        DOITHOAI_TELEGRAM_TOKEN=double.token,
        DOITHOAI_TELEGRAM_API_URL=double.base_url,
        DOITHOAI_LOG_LEVEL="INFO",
        # Test residents answer faster than any person: no per-chat pacing (tests/test_delivery.py checks it).
        DOITHOAI_TELEGRAM_CHAT_RATE="1000",
        DOITHOAI_TELEGRAM_CHAT_BURST="1000",
    )
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    for args in (("db", "upgrade"), ("meeting", "load", str(plan))):
        proc = await asyncio.create_subprocess_exec(*command(*args), env=e)
        assert await proc.wait() == 0
    return e


async def start(env: dict, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*command("run"), env=env, stdout=log.open("ab"), stderr=log.open("ab"))


async def output(env: dict, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(*command(*args), env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()


async def test_killed_mid_form_the_bot_resumes_at_the_same_step(env, double, tmp_path):
    log = tmp_path / "run.log"
    p = Phone(double, double.user(first_name="An"))
    bot = await start(env, log)
    try:
        await p.say("/start", "Ông/Bà có đồng ý không?")
        await p.tap("Đồng ý", "Đăng ký phát biểu")
        await p.say("📝 Đăng ký phát biểu", "Bước 1/6")
        await p.say("Nguyễn Văn An", "Bước 2/6")
        await p.tap("Thôn Văn Lâm", "Bước 3/6")
    finally:
        bot.kill()  # SIGKILL: no chance to tidy up
        await bot.wait()
    # While the bot is down the resident carries on; Telegram keeps the updates.
    message, data = p.find_button("Vấn đề khác")
    pressed = double.press(p.user, message, data)
    bot = await start(env, log)
    try:
        assert await double.wait_answered(pressed, timeout=30) is None
        await p.expect("✔️ Vấn đề khác", "Bước 4/6", timeout=30)
        await p.say("Đề nghị xã sửa lại cống thoát nước ở đầu thôn.", "Bước 5/6")
        await p.tap("Chỉ cần trả lời", "Bước 6/6")
        await p.say("Bỏ qua", "kiểm tra lại phiếu")
        await p.tap("Gửi", "Mã phiếu: GP-0001")
    finally:
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), timeout=30) == 0
    [row] = json.loads(await output(env, "submissions", "list", "--json"))
    assert (row["ref"], row["name"], row["village"], row["topic"], row["channel"]) == (
        "GP-0001", "Nguyễn Văn An", "Thôn Văn Lâm", "Vấn đề khác", "telegram")
    assert row["question"] == "Đề nghị xã sửa lại cống thoát nước ở đầu thôn."
    text = log.read_text(encoding="utf-8")
    assert "Nguyễn Văn An" not in text and "cống thoát nước" not in text  # no personal data in logs
    assert "stopped cleanly" in text


async def test_sigterm_finishes_the_updates_in_hand(env, double, tmp_path):
    log = tmp_path / "run.log"
    phones = [Phone(double, double.user(first_name=f"Dân {i}")) for i in range(8)]
    bot = await start(env, log)
    try:
        await phones[0].say("/lichhop", "Hội trường")  # the bot is up and polling
        for p in phones:
            p.send("/trogiup")  # queued together: one batch
        await double.wait_until(lambda: any(double.messages(p.user)[-1:] and "Hướng dẫn" in double.messages(p.user)[-1].get("text", "") for p in phones))
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), timeout=30) == 0
    finally:
        if bot.returncode is None:
            bot.kill()
    for p in phones:
        assert "Hướng dẫn" in double.messages(p.user)[-1]["text"]
    assert double.pending_updates() == []  # the batch was confirmed before exiting
