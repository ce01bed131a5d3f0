"""`doithoai run` with Zalo credentials, as an operator starts it: Zalo alone, and every channel at once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp

from tests.conftest import plan_text
from tests.support.botapi_double import BotAPIDouble
from tests.support.phone import Phone
from tests.support.process import RunningBot, bot_env, cli, free_port, ok, wait_listening
from tests.support.zalo_double import ZaloBotDouble, ZaloOADouble
from tests.support.zalo_phone import OAPhone, ZaloPhone

FAST_ZALO = dict(DOITHOAI_ZALO_CHAT_RATE="1000", DOITHOAI_ZALO_CHAT_BURST="1000", DOITHOAI_ZALO_OA_CHAT_RATE="1000",
                 DOITHOAI_ZALO_OA_CHAT_BURST="1000")


async def prepared(env: dict, tmp_path: Path) -> dict:
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    await ok(env, "db", "upgrade")
    await ok(env, "meeting", "load", str(plan))
    return env


def zalo_only_env(tmp_path: Path, zb: ZaloBotDouble) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    env.update(DOITHOAI_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}", DOITHOAI_ZALO_TOKEN=zb.token,
               DOITHOAI_ZALO_API_URL=zb.base_url, **FAST_ZALO)
    return env


async def register(p, name: str, question: str) -> str:
    await p.say("xin chào", "Ông/Bà có đồng ý không?")
    await p.say("1", "Cảm ơn Ông/Bà")
    await p.say("dang ky", "Bước 1/6")
    await p.say(name, "Bước 2/6")
    await p.choose("Thôn Phong Lâm", "Bước 3/6")
    await p.choose("Vấn đề khác", "Bước 4/6")
    await p.say(question, "Bước 5/6")
    await p.choose("Chỉ cần trả lời", "Bước 6/6")
    await p.say("1", "kiểm tra lại phiếu")
    receipt = await p.say("1", "Mã phiếu")
    return next(word for word in receipt["text"].split() if word.startswith("GP-"))


async def test_with_only_zalo_credentials_a_resident_registers_and_gets_the_answer(tmp_path):
    async with ZaloBotDouble() as zb:
        env = await prepared(zalo_only_env(tmp_path, zb), tmp_path)
        bot = RunningBot(env, tmp_path / "run.log")
        await bot.start()
        try:
            p = ZaloPhone(double=zb, user=zb.user("Hoàng Văn Em"))
            ref = await register(p, "Hoàng Văn Em", "Đề nghị lắp đèn đường ở ngõ 3.")
            await ok(env, "answer", ref, "--text", "Xã sẽ lắp đèn trong quý I.")
            await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
            answer = await p.expect(f"Trả lời câu hỏi {ref}", "Xã sẽ lắp đèn trong quý I.", timeout=30)
            assert "1. 👍 Hài lòng" in answer["text"]
        finally:
            await bot.stop()
        assert zb.real_rejections() == []
    [row] = json.loads(await ok(env, "submissions", "list", "--json"))
    assert (row["ref"], row["channel"], row["status"]) == (ref, "zalo", "answered")
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "Hoàng Văn Em" not in log and "lắp đèn" not in log


async def test_one_process_serves_telegram_the_zalo_bot_and_the_oa_each_hears_back_on_its_own(tmp_path, double: BotAPIDouble):
    port = free_port()
    async with ZaloBotDouble() as zb, ZaloOADouble() as oa:
        env = bot_env(tmp_path, double, DOITHOAI_ZALO_TOKEN=zb.token, DOITHOAI_ZALO_API_URL=zb.base_url,
                      DOITHOAI_ZALO_OA_APP_ID=oa.app_id, DOITHOAI_ZALO_OA_SECRET_KEY=oa.secret_key,
                      DOITHOAI_ZALO_OA_ACCESS_TOKEN=oa.access_token, DOITHOAI_ZALO_OA_REFRESH_TOKEN=oa.refresh_token,
                      DOITHOAI_ZALO_OA_API_URL=oa.api_url, DOITHOAI_ZALO_OA_OAUTH_URL=oa.oauth_url,
                      DOITHOAI_WEBHOOK_PORT=str(port), **FAST_ZALO)
        await prepared(env, tmp_path)
        bot = RunningBot(env, tmp_path / "run.log")
        await bot.start()
        try:
            await wait_listening(port)  # the OA has no polling: its webhook listens
            tg = Phone(double, double.user(first_name="An"))
            await tg.say("/start", "Ông/Bà có đồng ý không?")
            await tg.tap("Đồng ý", "Đăng ký phát biểu")
            await tg.say("📝 Đăng ký phát biểu", "Bước 1/6")
            await tg.say("Nguyễn Văn An", "Bước 2/6")
            await tg.tap("Thôn Phong Lâm", "Bước 3/6")
            await tg.tap("Vấn đề khác", "Bước 4/6")
            await tg.say("Câu hỏi gửi qua Telegram về đường làng.", "Bước 5/6")
            await tg.tap("Chỉ cần trả lời", "Bước 6/6")
            await tg.say("Bỏ qua", "kiểm tra lại phiếu")
            await tg.tap("Gửi", "Mã phiếu")
            zp = ZaloPhone(double=zb, user=zb.user("Bình"))
            zalo_ref = await register(zp, "Trần Thị Bình", "Câu hỏi gửi qua Zalo bot về nước sạch.")
            op = OAPhone(double=oa, user=oa.user("Cường"), url=f"http://127.0.0.1:{port}/webhook/zalo-oa")
            oa_ref = await register(op, "Lê Văn Cường", "Câu hỏi gửi qua Zalo OA về trường học.")
            rows = {r["channel"]: r["ref"] for r in json.loads(await ok(env, "submissions", "list", "--json"))}
            assert set(rows) == {"telegram", "zalo", "zalo_oa"} and rows["zalo"] == zalo_ref and rows["zalo_oa"] == oa_ref
            for channel, ref in rows.items():
                await ok(env, "answer", ref, "--text", f"Trả lời cho người hỏi qua {channel}.")
            await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
            await tg.expect("Trả lời cho người hỏi qua telegram.", timeout=30)
            await zp.expect("Trả lời cho người hỏi qua zalo.", timeout=30)
            await op.expect("Trả lời cho người hỏi qua zalo_oa.", timeout=30)
        finally:
            await bot.stop()
    # Each answer went only to its own channel.
    assert not any("qua zalo" in m.get("text", "") for m in double.messages(tg.user))
    assert not any("qua telegram" in m.get("text", "") or "zalo_oa" in m.get("text", "") for m in zb.messages(zp.user))
    assert zb.real_rejections() == []


async def test_webhooks_on_one_port_refuse_forgeries_and_serve_telegram(tmp_path, double: BotAPIDouble):
    port = free_port()
    async with ZaloBotDouble() as zb:
        env = bot_env(tmp_path, double, DOITHOAI_ZALO_TOKEN=zb.token, DOITHOAI_ZALO_API_URL=zb.base_url,
                      DOITHOAI_WEBHOOK_BASE_URL="https://doithoai.example.gov.vn", DOITHOAI_WEBHOOK_SECRET="a-long-enough-secret",
                      DOITHOAI_FILES_SECRET="the-file-links-own-key", **FAST_ZALO)
        await prepared(env, tmp_path)
        code, _, err = await cli({**env, "DOITHOAI_WEBHOOK_BASE_URL": "http://insecure.example"}, "run", "--webhook")
        assert code != 0 and "https://" in err
        bot = RunningBot(env, tmp_path / "run.log", "--webhook", "--host", "127.0.0.1", "--port", str(port))
        await bot.start()
        try:
            await wait_listening(port)
            assert double.webhook_url == "https://doithoai.example.gov.vn/webhook/telegram"
            assert zb.webhook_url == "https://doithoai.example.gov.vn/webhook/zalo"
            user = double.user(first_name="An")
            update = double.send_text(user, "/lichhop")  # queued in the double; we deliver it as Telegram would
            url = f"http://127.0.0.1:{port}/webhook/telegram"
            async with aiohttp.ClientSession() as http:
                forged = await http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
                assert forged.status == 403
                broken = await http.post(url, data=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": "a-long-enough-secret"})
                assert broken.status == 400
                good = await http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "a-long-enough-secret"})
                assert good.status == 200
            await Phone(double, user).expect("Hội trường", timeout=30)
            zb.deliver_to(f"http://127.0.0.1:{port}/webhook/zalo")
            zp = ZaloPhone(double=zb, user=zb.user())
            await zp.say("xin chào", "Ông/Bà có đồng ý không?")
        finally:
            await bot.stop()
    assert len([m for m in double.messages(user) if "Hội trường" in m.get("text", "")]) == 1  # the forgery changed nothing
