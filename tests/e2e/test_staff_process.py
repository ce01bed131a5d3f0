"""Staff at the keyboard and the bot as its own process: answers by command line and spreadsheet,
publication, scheduled notices, the queue's accounting, and a kill -9 in the middle of a broadcast."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from storage.db import Database
from storage.models import Resident, utcnow
from storage.uow import UnitOfWork
from tests.conftest import plan_text
from tests.integration.test_telegram import register
from tests.support.botapi_double import BotAPIDouble
from tests.support.phone import Phone
from tests.support.process import RunningBot, bot_env, ok


@pytest.fixture
def env(tmp_path: Path, double: BotAPIDouble) -> dict:
    return bot_env(tmp_path, double, DOITHOAI_SCHEDULER_INTERVAL="1")


async def test_a_meeting_from_registration_to_answers_as_staff_and_residents_live_it(env, double, tmp_path):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    plan = tmp_path / "plan.toml"
    far = today + timedelta(days=60, hours=1)
    plan.write_text(plan_text(closes=today + timedelta(days=40, hours=16, minutes=59), starts=far), encoding="utf-8")
    await ok(env, "db", "upgrade")
    await ok(env, "meeting", "load", str(plan))
    bot = RunningBot(env, tmp_path / "run.log")
    await bot.start()
    an, binh, chi = (Phone(double, double.user(first_name=n)) for n in ("An", "Bình", "Chi"))
    try:
        for p, question in ((an, "Đề nghị sửa đường trục thôn Phong Lâm."), (binh, "Khi nào có nước sạch về thôn?")):
            await p.say("/start", "Ông/Bà có đồng ý không?")
            await p.tap("Đồng ý", "Đăng ký phát biểu")
            await register(p, question=question)
        await chi.say("/start", "Ông/Bà có đồng ý không?")  # Chi never consents: hears nothing more
    finally:
        await bot.stop()

    # The commune moves the meeting to three days from now: registrants are told, and the notice
    # "7 working days before" is already overdue, so it goes out as soon as the bot is back.
    soon = today + timedelta(days=3, hours=1)
    plan.write_text(plan_text(closes=soon - timedelta(hours=2), starts=soon), encoding="utf-8")
    assert "Đã cập nhật hội nghị GP-2026." in await ok(env, "meeting", "load", str(plan))
    await bot.start()
    try:
        for p in (an, binh):
            await p.expect("Thay đổi lịch hội nghị", timeout=30)
            await p.expect("mời Ông/Bà dự hội nghị đối thoại", timeout=30)
        # Answers: one on the command line, one through the spreadsheet.
        assert "GP-0001: đã trả lời" in await ok(env, "answer", "GP-0001", "--text", "Xã sẽ rải nhựa trong tháng tới.", "--by", "Phòng Kinh tế")
        sheet = tmp_path / "answers.xlsx"
        assert "Đã ghi 2 phiếu" in await ok(env, "answers", "export", "--meeting", "GP-2026", str(sheet))
        wb = load_workbook(sheet)
        ws = wb.active
        headers = [c.value for c in ws[1]]
        row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "GP-0002")
        ws.cell(row, headers.index("Trả lời") + 1, "Đường ống nước sạch sẽ về thôn trong quý tới.")
        ws.cell(row, headers.index("Đơn vị trả lời") + 1, "Phòng Kinh tế")
        wb.save(sheet)
        await ok(env, "answers", "import", str(sheet))

        await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
        await an.expect("Trả lời câu hỏi GP-0001", "Xã sẽ rải nhựa trong tháng tới.", timeout=30)
        await binh.expect("Trả lời câu hỏi GP-0002", "Đường ống nước sạch", timeout=30)
        assert "(đã công bố trước đó: chỉ gửi phần mới)" in await ok(env, "conclusion", "publish", "--meeting", "GP-2026", "--force")
        await an.say("/trogiup", "Hướng dẫn")  # anything queued before this would have arrived first
        await binh.say("/trogiup", "Hướng dẫn")
    finally:
        await bot.stop()
    for p, ref in ((an, "GP-0001"), (binh, "GP-0002")):
        answers = [m for m in double.messages(p.user) if "Trả lời câu hỏi" in m.get("text", "")]
        assert len(answers) == 1 and ref in answers[0]["text"]
    assert len(double.messages(chi.user)) == 2  # the greeting and the consent question, nothing else
    status = json.loads(await ok(env, "outbox", "status", "--json"))
    assert {s["state"] for s in status} == {"sent"}
    by_kind = {s["kind"]: s["count"] for s in status if s["meeting"] == "GP-2026"}
    assert by_kind["answer"] == 2 and by_kind["change"] == 2 and by_kind["notice"] >= 2


async def test_kill_9_in_the_middle_of_a_broadcast_loses_nothing(env, double, tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    await ok(env, "db", "upgrade")
    await ok(env, "meeting", "load", str(plan))
    users = [double.user(first_name=f"Dân {i}") for i in range(150)]
    for u in users:
        double.send_text(u, "/trogiup")  # they have talked to the bot before
    db = Database(env["DOITHOAI_DATABASE_URL"])
    try:
        async with UnitOfWork(db) as uow:
            meeting = await uow.meetings.by_code("GP-2026")
            village = (await uow.meetings.invited_villages(meeting.id))[0]
            for u in users:
                now = utcnow()
                uow.residents.add(Resident(channel="telegram", external_id=str(u.id), chat_id=str(u.id),
                                           consented_at=now, created_at=now, state={}, village_id=village.id))
            await uow.commit()
    finally:
        await db.dispose()
    assert "thông báo cho 150 người dân" in await ok(env, "announce", "--meeting", "GP-2026", "--text", "Kính mời bà con.")
    env = {**env, "DOITHOAI_TELEGRAM_RATE": "40"}
    double.enforce_limits(per_second=40, chat_per_second=1.0, chat_burst=3)
    bot = RunningBot(env, tmp_path / "run.log")
    await bot.start()
    await double.wait_until(lambda: len(double.calls_of("sendDocument")) >= 40, timeout=60)
    await bot.kill()  # kill -9, mid-broadcast
    await bot.start()
    try:
        await double.wait_until(lambda: all(len(double.messages(u)) >= 2 for u in users), timeout=90)
        await double.wait_until(lambda: True)
    finally:
        await bot.stop()
    notices = [sum("Kính mời bà con." in m.get("text", "") for m in double.messages(u)) for u in users]
    documents = [sum("document" in m for m in double.messages(u)) for u in users]
    assert min(notices) == 1 and min(documents) == 1  # nobody was missed
    # Only what was in flight at the instant of the kill may have gone twice.
    assert sum(notices) + sum(documents) - 2 * len(users) <= 8
    status = json.loads(await ok(env, "outbox", "status", "--json"))
    assert {s["state"] for s in status if s["kind"] == "notice"} == {"sent"}
