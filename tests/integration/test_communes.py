"""Several communes in one deployment: each bot serves its own commune, and nobody sees another's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.conversation.engine import Conversation
from bot.entrypoints.bootstrap import NoChannel, check_communes
from bot.entrypoints.settings import CommunesFileError, Settings
from bot.services import secretariat
from bot.services.secretariat import Forbidden
from bot.services.staff import Actor, add_staff
from storage.models import Resident, Submission, utcnow
from storage.repositories import SubmissionFilter
from storage.uow import UnitOfWork
from tests.conftest import load, plan_text, rows, second_commune_plan
from tests.support.core_chat import CoreChat


@pytest.fixture
async def two_communes(db):
    await load(db, plan_text())
    await load(db, second_commune_plan())
    return db


async def consented(conv: Conversation, channel: str, user_id: str) -> CoreChat:
    chat = CoreChat(conv, user_id=user_id, channel=channel)
    await chat.text("/start")
    await chat.press("Đồng ý")
    return chat


async def test_each_bot_shows_its_own_communes_meeting_villages_and_numbering(two_communes):
    conv = Conversation(two_communes, commune="GP")
    gp = CoreChat(conv, user_id="500", channel="telegram")
    tp = CoreChat(conv, user_id="500", channel="telegram:TP")  # the same person, on the other commune's bot
    assert "Xã Gia Phúc" in gp.texts(await gp.text("/start"))
    greeting = tp.texts(await tp.text("/start"))
    assert "Xã Tân Phong" in greeting and "Gia Phúc" not in greeting
    await gp.press("Đồng ý")
    await tp.press("Đồng ý")
    await tp.text("/dangky")
    await tp.text("Trần Văn Tư")
    villages = [b.label for buttons in tp.shown.values() for b in buttons]
    assert "Thôn Đông Hải" in villages and "Thôn Phong Lâm" not in villages
    await tp.press("Thôn Đông Hải")
    await tp.press("Môi trường")
    await tp.text("Đề nghị nạo vét kênh tưới tiêu của thôn.")
    await tp.press("Chỉ cần trả lời")
    await tp.text("Bỏ qua")
    tp_receipt = tp.texts(await tp.press("Gửi"))
    gp_receipt = await gp.register(village="Thôn Phong Lâm")
    assert "TP-0001" in tp_receipt and "GP-0001" in gp_receipt
    # Two residents, one per bot; each submission under its own commune's meeting.
    residents = {r.channel: r for r in await rows(two_communes, Resident)}
    assert set(residents) == {"telegram", "telegram:TP"}
    async with UnitOfWork(two_communes, readonly=True) as uow:
        mine = {row.submission.ref: row.meeting_code for row in await uow.submissions.listing()}
    assert mine == {"GP-0001": "GP-2026", "TP-0001": "TP-2026"}


async def test_my_questions_lists_only_this_bots_questions(two_communes):
    conv = Conversation(two_communes, commune="GP")
    gp = await consented(conv, "telegram", "501")
    await gp.register()
    tp = await consented(conv, "telegram:TP", "501")
    listing = tp.texts(await tp.text("/cauhoi"))
    assert "GP-0001" not in listing


async def test_a_bot_of_a_commune_not_in_the_database_shows_no_meeting(two_communes):
    conv = Conversation(two_communes, commune="GP")
    chat = CoreChat(conv, user_id="502", channel="telegram:XY")
    text = chat.texts(await chat.text("/start"))
    assert "Gia Phúc" not in text and "Tân Phong" not in text


async def test_the_settings_bot_needs_to_know_its_commune_once_there_are_several(two_communes, tmp_path: Path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("DOITHOAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env
    settings = Settings(telegram_token="1:A")
    with pytest.raises(NoChannel, match="DOITHOAI_COMMUNE"):
        await check_communes(settings, two_communes)
    await check_communes(Settings(telegram_token="1:A", commune="TP"), two_communes)
    with pytest.raises(NoChannel, match="XY"):
        await check_communes(Settings(telegram_token="1:A", commune="XY"), two_communes)


def test_the_communes_file_names_each_bot_by_its_commune(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "communes.toml"
    path.write_text('[TP]\ntelegram_token = "2:B"\nzalo_token = "3:C"\n\n[BT]\ntelegram_token = "4:D"\n', encoding="utf-8")
    settings = Settings(telegram_token="1:A", commune="GP", communes_file=path)
    assert [(b.channel, b.commune) for b in settings.bots()] == [
        ("telegram", None), ("telegram:TP", "TP"), ("zalo:TP", "TP"), ("telegram:BT", "BT"),
    ]
    assert settings.limits("telegram:TP") == settings.limits("telegram")
    path.write_text('[tp]\ntelegram_token = "2:B"\n', encoding="utf-8")
    with pytest.raises(CommunesFileError, match="tp"):
        Settings(communes_file=path).bots()
    path.write_text('[TP]\ntelegram_tokn = "2:B"\n', encoding="utf-8")
    with pytest.raises(CommunesFileError, match="telegram_tokn"):
        Settings(communes_file=path).bots()


async def test_staff_of_one_commune_see_and_touch_only_its_submissions(two_communes):
    conv = Conversation(two_communes, commune="GP")
    await (await consented(conv, "telegram", "503")).register()
    tp = await consented(conv, "telegram:TP", "504")
    await tp.register(village="Thôn Đông Hải")
    async with UnitOfWork(two_communes) as uow:
        operator = Actor(label="cli")
        staff = await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", login="tanphong", commune="TP",
                                actor=operator, now=utcnow())
        await uow.commit()
    actor = Actor(label="staff", staff=staff)
    async with UnitOfWork(two_communes, readonly=True) as uow:
        found, total = await secretariat.search(uow, actor, SubmissionFilter())
        assert total == 1 and [r.submission.ref for r in found] == ["TP-0001"]
        assert (await secretariat.visible(uow, actor, "TP-0001")).ref == "TP-0001"
        with pytest.raises(Forbidden):
            await secretariat.visible(uow, actor, "GP-0001")
    # A head's villages decide their commune.
    async with UnitOfWork(two_communes) as uow:
        head = await add_staff(uow, name="Trưởng thôn Đông Hải", role="village_head", villages=["Thôn Đông Hải"],
                               telegram_id="77", actor=Actor(label="cli"), now=utcnow())
        await uow.commit()
        tp_commune = await uow.communes.by_code("TP")
    assert head.commune_id == tp_commune.id
    assert len(await rows(two_communes, Submission)) == 2


async def test_the_console_shows_a_communes_staff_only_their_commune(two_communes):
    from bot.entrypoints.web.app import create_app
    from bot.services.staff import set_password
    from tests.integration.test_web import PASSWORD, client_for, csrf_of, sign_in

    conv = Conversation(two_communes, commune="GP")
    await (await consented(conv, "telegram", "601")).register()
    await (await consented(conv, "telegram:TP", "602")).register(village="Thôn Đông Hải")
    async with UnitOfWork(two_communes) as uow:
        await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", login="tanphong", commune="TP", actor=Actor(label="cli"), now=utcnow())
        await set_password(uow, "tanphong", PASSWORD, actor=Actor(label="cli"), now=utcnow())
        await uow.commit()
    app = create_app(two_communes, secret_key="khoa-bi-mat-cua-phien-lam-viec-2026")
    async with client_for(app) as client:
        assert (await sign_in(client, "tanphong")).status_code == 303
        listing = (await client.get("/submissions")).text
        assert "TP-0001" in listing and "GP-0001" not in listing
        assert (await client.get("/submissions/GP-0001")).status_code in (403, 404)
        assert (await client.get("/submissions/TP-0001")).status_code == 200
        meetings = (await client.get("/meetings")).text
        assert "TP-2026" in meetings and "GP-2026" not in meetings
        assert (await client.get("/meetings/GP-2026/publish")).status_code == 404
        notices = (await client.get("/notices")).text
        assert "Thôn Đông Hải" in notices and "Thôn Phong Lâm" not in notices
        csrf = csrf_of((await client.get("/meetings")).text)
        other = plan_text(topics=["Chủ đề lạ"])
        refused = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("gp.toml", other.encode(), "text/plain")})
        assert refused.status_code == 403 and "GP" in refused.text
    async with UnitOfWork(two_communes, readonly=True) as uow:
        gp = await uow.meetings.by_code("GP-2026")
        assert "Chủ đề lạ" not in [t.name for t in await uow.meetings.topics(gp.id)]


async def test_a_communes_posters_open_that_communes_own_bot(tmp_path: Path, double):
    """Posters for Tân Phong's meeting ask Tân Phong's bot for its name, never Gia Phúc's."""
    from tests.support.process import bot_env, cli, ok

    communes = tmp_path / "communes.toml"
    communes.write_text(f'[TP]\ntelegram_token = "{double.token}"\n', encoding="utf-8")
    env = bot_env(tmp_path, double, DOITHOAI_TELEGRAM_TOKEN="999:GIA-PHUC-NOT-THIS-DOUBLE", DOITHOAI_COMMUNE="GP",
                  DOITHOAI_COMMUNES_FILE=str(communes))
    await ok(env, "db", "upgrade")
    for name, text in (("gp.toml", plan_text()), ("tp.toml", second_commune_plan())):
        (tmp_path / name).write_text(text, encoding="utf-8")
        await ok(env, "meeting", "load", str(tmp_path / name))
    await ok(env, "posters", "--meeting", "TP-2026", str(tmp_path / "tp.pdf"))
    # Asked with Tân Phong's token: the double knows no other (Gia Phúc's would have been refused).
    assert [c.method for c in double.calls if c.method == "getMe"] == ["getMe"]
    communes.write_text('[TP]\nzalo_token = "1:Z"\n', encoding="utf-8")
    code, _, err = await cli(env, "posters", "--meeting", "TP-2026", str(tmp_path / "tp.pdf"))
    assert code == 1 and "[TP]" in err


async def test_a_further_communes_village_head_hears_back_through_that_communes_bot(two_communes):
    from bot.services.answers import deliver_answer
    from storage.models import Outbox, Staff

    async with UnitOfWork(two_communes) as uow:
        await add_staff(uow, name="Trưởng thôn Đông Hải", role="village_head", villages=["Thôn Đông Hải"], telegram_id="88",
                        actor=Actor(label="cli"), now=utcnow())
        await uow.commit()
    conv = Conversation(two_communes, commune="GP")
    head = CoreChat(conv, user_id="88", channel="telegram:TP")
    assert "Thôn Đông Hải" in head.texts(await head.text("/thon"))
    [staff] = [s for s in await rows(two_communes, Staff) if s.telegram_id == "88"]
    assert staff.channel == "telegram:TP"
    async with UnitOfWork(two_communes) as uow:
        meeting = await uow.meetings.by_code("TP-2026")
        village = (await uow.staff.villages_named("Thôn Đông Hải"))[0]
        topic = (await uow.meetings.topics(meeting.id))[0]
        paper = Submission(ref="TP-0009", meeting_id=meeting.id, name="Bà Tư", village_id=village.id, topic_id=topic.id,
                           question="Phiếu giấy: đề nghị sửa cầu tràn.", channel="paper", created_at=utcnow(),
                           answer="Xã sẽ sửa trong tháng tới.", answer_revision=1, status="answered", answered_at=utcnow())
        uow.submissions.add(paper)
        await uow.flush()
        assert await deliver_answer(uow, paper, meeting)
        await uow.commit()
    copies = [o for o in await rows(two_communes, Outbox) if o.kind == "answer"]
    assert [(o.channel, o.chat_id) for o in copies] == [("telegram:TP", "88")]


async def test_the_district_console_loads_every_communes_villages_and_topics_in_one_query_each(two_communes):
    from sqlalchemy import event

    from bot.entrypoints.web.app import create_app
    from bot.services.staff import set_password
    from tests.integration.test_web import PASSWORD, client_for, sign_in

    async with UnitOfWork(two_communes) as uow:
        await add_staff(uow, name="Văn phòng huyện", role="secretariat", login="huyen", actor=Actor(label="cli"), now=utcnow())
        await set_password(uow, "huyen", PASSWORD, actor=Actor(label="cli"), now=utcnow())
        await uow.commit()
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    app = create_app(two_communes, secret_key="khoa-bi-mat-cua-phien-lam-viec-2026")
    async with client_for(app) as client:
        assert (await sign_in(client, "huyen")).status_code == 303
        event.listen(two_communes.engine.sync_engine, "before_cursor_execute", seen)
        try:
            page = (await client.get("/submissions?meeting=")).text  # every meeting of every commune
        finally:
            event.remove(two_communes.engine.sync_engine, "before_cursor_execute", seen)
    assert "Thôn Đông Hải (Xã Tân Phong)" in page and "Thôn Phong Lâm (Xã Gia Phúc)" in page
    assert "TP-2026: Môi trường" in page and "GP-2026: Môi trường" in page
    # However many communes the district has: not a query per commune or per meeting.
    assert sum(s.lstrip().startswith("SELECT village.id") for s in statements) == 1
    assert sum(s.lstrip().startswith("SELECT topic.id") for s in statements) == 1


async def test_another_communes_staff_get_no_village_head_commands_on_this_communes_bot(two_communes):
    """A Tân Phong secretariat (or head) writing to Gia Phúc's bot is a stranger there: no notice to
    Gia Phúc's villages, no paper form in its meeting, nothing stored."""
    from bot.services.staff import OPERATOR

    async with UnitOfWork(two_communes) as uow:
        await add_staff(uow, name="Văn phòng Tân Phong", role="secretariat", telegram_id="777", commune="TP", actor=OPERATOR, now=utcnow())
        await add_staff(uow, name="Trưởng thôn Đông Hải", role="village_head", villages=["Thôn Đông Hải"], telegram_id="778",
                        actor=OPERATOR, now=utcnow())
        await uow.commit()
    conv = Conversation(two_communes, commune="GP")
    for user in ("777", "778"):
        chat = CoreChat(conv, user_id=user, channel="telegram")
        for command in ("/thongbao", "/nhapphieu", "/thon", "/bangiao"):
            replies = await chat.text(command)
            assert "chưa hiểu lệnh này" in chat.texts(replies), (user, command)
            assert all(not r.buttons for r in replies)
    # On their own commune's bot the same head gets the command.
    own = CoreChat(conv, user_id="778", channel="telegram:TP")
    assert "Thôn Đông Hải" in own.texts(await own.text("/thongbao"))
    assert await rows(two_communes, Submission) == []
