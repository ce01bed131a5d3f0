"""`doithoai run --webhook --workers 2` on PostgreSQL, as an operator starts it, serving two communes.

Xã Gia Phúc's residents write to its Telegram bot, Xã Tân Phong's to its Zalo bot; both bots'
webhooks are served by the same two worker processes. One worker is killed mid-way; the
supervisor replaces it and nobody notices: every registration gets one receipt with its own
commune's code, and every answer arrives once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from storage.db import Database
from storage.models import Outbox
from tests.conftest import plan_text, rows, second_commune_plan
from tests.support import pg
from tests.support.botapi_double import BotAPIDouble
from tests.support.eventually import eventually
from tests.support.phone import Phone
from tests.support.process import RunningBot, bot_env, free_port, ok, wait_listening
from tests.support.zalo_double import ZaloBotDouble
from tests.support.zalo_phone import ZaloPhone

SECRET = "workers-webhook-secret"
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"]


@pytest.fixture
def pg_url():
    name = pg.create(migrated=False)
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


class TelegramPush:
    """Telegram's side of a webhook: each update the double queues is POSTed to the bot, once, and
    re-POSTed if the answer is not 200 (as Telegram retries)."""

    def __init__(self, double: BotAPIDouble, url: str) -> None:
        self.double, self.url = double, url
        self.posted: set[int] = set()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                for update in self.double.pending_updates():
                    if update["update_id"] in self.posted:
                        continue
                    try:
                        async with http.post(self.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                            if r.status == 200:
                                self.posted.add(update["update_id"])
                    except aiohttp.ClientError:
                        pass  # a worker going down mid-request: try again
                await asyncio.sleep(0.05)


def workers_of(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's helper)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"resource_tracker" not in cmdline:
            found.append(child)
    return found


async def nothing_pending(url: str, timeout: float = 30) -> None:
    db = Database(url)
    try:
        async def none_pending() -> bool:
            return not any(r.status == "pending" for r in await rows(db, Outbox))

        await eventually(none_pending, timeout=timeout, what="no message pending")
    finally:
        await db.dispose()


async def register_on_telegram(p: Phone, name: str, question: str) -> str:
    await p.say("/start", "Xã Gia Phúc")
    await p.expect("Ông/Bà có đồng ý không?")
    await p.tap("Đồng ý", "Đăng ký phát biểu")
    await p.say("📝 Đăng ký phát biểu", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.tap("Thôn Phong Lâm", "Bước 3/6")
    await p.tap("Vấn đề khác", "Bước 4/6")
    await p.say(question, "Bước 5/6")
    await p.tap("Chỉ cần trả lời", "Bước 6/6")
    await p.say("Bỏ qua", "kiểm tra lại phiếu")
    await p.tap("Gửi")
    receipt = await p.expect("Mã phiếu")
    return next(word for word in receipt["text"].split() if word.startswith("GP-"))


async def register_on_zalo(p: ZaloPhone, name: str, question: str) -> str:
    await p.say("bắt đầu", "Xã Tân Phong")
    await p.expect("Ông/Bà có đồng ý không?")
    await p.say("1", "Cảm ơn Ông/Bà")
    await p.say("dang ky", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.choose("Thôn Đông Hải", "Bước 3/6")
    await p.choose("Vấn đề khác", "Bước 4/6")
    await p.say(question, "Bước 5/6")
    await p.choose("Chỉ cần trả lời", "Bước 6/6")
    await p.say("1", "kiểm tra lại phiếu")
    receipt = await p.say("1", "Mã phiếu")
    return next(word for word in receipt["text"].split() if word.startswith("TP-"))


async def test_two_workers_serve_two_communes_in_order_once_and_survive_a_killed_worker(tmp_path: Path, double: BotAPIDouble, pg_url: str):
    port = free_port()
    double.enforce_limits(per_second=10, chat_per_second=1000, chat_burst=1000)
    async with ZaloBotDouble() as zb:
        communes = tmp_path / "communes.toml"
        communes.write_text(f'[TP]\nzalo_token = "{zb.token}"\n', encoding="utf-8")
        env = bot_env(
            tmp_path, double, DOITHOAI_DATABASE_URL=pg_url, DOITHOAI_COMMUNE="GP", DOITHOAI_COMMUNES_FILE=str(communes),
            DOITHOAI_ZALO_API_URL=zb.base_url, DOITHOAI_ZALO_CHAT_RATE="1000", DOITHOAI_ZALO_CHAT_BURST="1000",
            DOITHOAI_TELEGRAM_RATE="10", DOITHOAI_WEBHOOK_BASE_URL="https://doithoai.example.gov.vn", DOITHOAI_WEBHOOK_SECRET=SECRET,
            DOITHOAI_FILES_SECRET="khoa-rieng-cho-lien-ket-tep-2026",
        )
        await ok(env, "db", "upgrade")
        for name, text in (("gp.toml", plan_text()), ("tp.toml", second_commune_plan())):
            (tmp_path / name).write_text(text, encoding="utf-8")
            await ok(env, "meeting", "load", str(tmp_path / name))
        bot = RunningBot(env, tmp_path / "run.log", "--webhook", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
        await bot.start()
        push = TelegramPush(double, f"http://127.0.0.1:{port}/webhook/telegram")
        pusher = asyncio.create_task(push.run())
        try:
            await wait_listening(port)
            assert bot.proc is not None
            await eventually(lambda: len(workers_of(bot.proc.pid)) == 2, timeout=30)
            assert double.webhook_url == "https://doithoai.example.gov.vn/webhook/telegram"
            assert zb.webhook_url == "https://doithoai.example.gov.vn/webhook/zalo/TP"
            zb.deliver_to(f"http://127.0.0.1:{port}/webhook/zalo/TP")

            telegram = [Phone(double, double.user(first_name=f"Gia Phúc {i}")) for i in range(4)]
            zalo = [ZaloPhone(double=zb, user=zb.user(f"Tân Phong {i}")) for i in range(3)]
            first = await asyncio.gather(
                *(register_on_telegram(p, f"{NAMES[i]} Gia", f"Câu hỏi số {i} của Gia Phúc về đường thôn.") for i, p in enumerate(telegram[:2])),
                *(register_on_zalo(p, f"{NAMES[i]} Tân", f"Câu hỏi số {i} của Tân Phong về kênh mương.") for i, p in enumerate(zalo)),
            )
            # A message the platform has taken but whose delivery is not yet recorded would go again after
            # a kill (at least once, by design: README "The delivery queue"); the receipts are counted
            # exactly, so the kill comes once the last receipt's delivery is recorded.
            await nothing_pending(pg_url)
            # kill -9 one worker: what it held is in the database, and the other carries on. (Telegram
            # re-sends a delivery the dead worker never answered; the Zalo double would not, so the
            # residents who write on meanwhile are on Telegram.)
            victim = workers_of(bot.proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            second = await asyncio.gather(
                *(register_on_telegram(p, f"{NAMES[i]} Gia", f"Câu hỏi số {i} của Gia Phúc về đường thôn.") for i, p in enumerate(telegram[2:], 2)),
            )
            await eventually(lambda: len(workers_of(bot.proc.pid)) == 2 and victim not in workers_of(bot.proc.pid), timeout=30)
            refs = first + second
            assert sorted(r for r in refs if r.startswith("GP-")) == [f"GP-000{i}" for i in range(1, 5)]
            assert sorted(r for r in refs if r.startswith("TP-")) == [f"TP-000{i}" for i in range(1, 4)]

            for ref in refs:
                await ok(env, "answer", ref, "--text", f"Trả lời riêng cho phiếu {ref}.")
            await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
            await ok(env, "conclusion", "publish", "--meeting", "TP-2026", "--force")
            owner = dict(zip(first + second, telegram[:2] + zalo + telegram[2:]))
            for ref, phone in owner.items():
                await phone.expect(f"Trả lời riêng cho phiếu {ref}.", timeout=60)
            await asyncio.sleep(2)  # time for any duplicate to show
        finally:
            pusher.cancel()
            await bot.stop()
        for ref, phone in owner.items():
            texts = [m.get("text", "") for m in phone.double.messages(phone.user)]
            # Exactly one receipt and one answer each; nobody got another commune's answer.
            assert sum("Mã phiếu" in t for t in texts) == 1, (ref, texts)
            assert sum("Trả lời riêng cho phiếu" in t for t in texts) == 1, (ref, texts)
            assert any(ref in t for t in texts if "Trả lời riêng" in t)
        # One bot's limit, kept by two workers together.
        assert [r for r in double.rejections if r.error_code == 429] == []
        assert zb.real_rejections() == []
    rows = json.loads(await ok(env, "submissions", "list", "--json"))
    assert sorted(r["ref"] for r in rows) == sorted(refs)
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "starting another" in log
    assert "Nguyễn Văn An" not in log and "kênh mương" not in log
