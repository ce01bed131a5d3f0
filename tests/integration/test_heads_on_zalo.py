"""Village heads on Zalo: bound by the operator (--zalo-id) or by a one-time code from the console,
they use the head commands through the same core, typing numbers where Telegram has buttons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.channels.files import FileLinks
from bot.entrypoints.web.app import create_app
from bot.services.answers import publish_conclusion, record_answer
from bot.services.staff import OPERATOR, add_staff, link_code, set_password
from storage.models import Attachment, AuditEntry, Resident, Staff, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_web import SECRET, client_for, csrf_of, sign_in
from tests.support.zalo_double import _PNG, ZaloBotDouble
from tests.support.zalo_phone import ZaloPhone, running_zalo

FILES = FileLinks("https://bot.example.gov.vn", "khoa-cua-duong-dan-tep-2026")
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


@pytest.fixture
async def zb():
    async with ZaloBotDouble() as d:
        yield d
    assert d.real_rejections() == [], d.real_rejections()


async def head_on_zalo(db, double: ZaloBotDouble, villages: list[str], **kw) -> ZaloPhone:
    """A head bound as `doithoai staff add --zalo-id ID --zalo-channel zalo` binds them."""
    phone = ZaloPhone(double=double, user=double.user("Trưởng thôn"))
    async with UnitOfWork(db) as uow:
        await add_staff(uow, name=kw.pop("name", "Ông Đỗ Văn Tiến"), role="village_head", villages=villages, zalo_id=phone.user.id,
                        zalo_channel="zalo", actor=OPERATOR, now=utcnow(), **kw)
    return phone


async def residents_of(db, double: ZaloBotDouble, village: str, n: int) -> list[ZaloPhone]:
    """Residents on the Zalo bot who consented and live in `village` (as registering leaves them)."""
    phones = [ZaloPhone(double=double, user=double.user(f"Người dân {i}")) for i in range(n)]
    async with UnitOfWork(db) as uow:
        [found] = await uow.staff.villages_named(village)
        for p in phones:
            p.user.wrote = True
            uow.session.add(Resident(channel="zalo", external_id=p.user.id, chat_id=p.user.id, consented_at=utcnow(), village_id=found.id,
                                     created_at=utcnow()))
        await uow.commit()
    return phones


async def test_a_head_on_zalo_sends_a_village_notice_with_a_photo_by_typing_numbers(meeting_db, zb):
    lam = await residents_of(meeting_db, zb, "Thôn Phong Lâm", 2)
    [van] = await residents_of(meeting_db, zb, "Thôn Văn Lâm", 1)
    head = await head_on_zalo(meeting_db, zb, ["Thôn Phong Lâm", "Thôn Văn Lâm"])
    async with running_zalo(meeting_db, zb, links=FILES) as bot:
        listed = await head.say("tro giup", "Các lệnh của cán bộ")  # no command menu on Zalo: the help lists them
        assert "thong bao" in listed["text"]
        picker = await head.say("thong bao", "thôn nào", "gõ số thứ tự")
        assert "1. Thôn Phong Lâm\n2. Thôn Văn Lâm" in picker["text"]
        await head.choose("Thôn Phong Lâm", "Thông báo cho Thôn Phong Lâm")
        zb.send_image(head.user, caption="Tối nay 19:00 họp thôn tại nhà văn hóa, bà con xem sơ đồ trong ảnh.")
        preview = await head.expect("Xem trước", "2 người dân", "📎 Kèm theo: một ảnh", "Gõ 1 để gửi đi")
        assert "1. ✅ Gửi\n2. ❌ Hủy" in preview["text"] and "bấm" not in preview["text"].lower()
        await head.say("1", "đang được gửi đến 2 người dân của Thôn Phong Lâm")
        bot.sender.wake()
        await zb.wait_until(lambda: len(zb.calls_of("sendPhoto")) == 2)
    for p in lam:
        texts = [m.get("text", "") for m in zb.messages(p.user)]
        assert any("Thông báo của Thôn Phong Lâm" in t and "Tối nay 19:00" in t and "Ông Đỗ Văn Tiến" in t for t in texts)
    assert zb.messages(van.user) == []  # another village's resident gets nothing
    assert {c["chat_id"] for c in zb.calls_of("sendPhoto")} == {p.user.id for p in lam}
    [attachment] = await rows(meeting_db, Attachment)
    assert (attachment.mime_type, attachment.data) == ("image/png", _PNG)  # downloaded from photo_url, its type from the bytes
    assert all(FILES.attachment_id(c["photo"].split("/")[-2]) == attachment.id for c in zb.calls_of("sendPhoto"))
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "village.notice"]
    assert entry.after["recipients"] == 2
    [staff] = await rows(meeting_db, Staff)
    assert (staff.channel, staff.state) == ("zalo", {})


async def test_residents_on_zalo_cannot_use_the_head_commands(meeting_db, zb):
    [resident] = await residents_of(meeting_db, zb, "Thôn Phong Lâm", 1)
    async with running_zalo(meeting_db, zb, links=FILES):
        await resident.say("/thongbao", "chưa hiểu lệnh này")
        await resident.say("/nhapphieu", "chưa hiểu lệnh này")
        answer = await resident.say("thong bao", "Ông/Bà")  # a plain word is a staff command for staff only
        assert "Thông báo cho" not in answer["text"] and "thôn nào" not in answer["text"]
        stranger = ZaloPhone(double=zb, user=zb.user("Người lạ"))
        await stranger.say("/thon", "chưa hiểu lệnh này")
    assert await rows(meeting_db, Submission) == []
    assert all(e.action in ("staff.add", "meeting.plan") for e in await rows(meeting_db, AuditEntry))


async def test_a_head_links_zalo_with_a_code_from_the_console_and_bad_codes_change_nothing(meeting_db, zb):
    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Bà Nguyễn Thị Hoa", role="village_head", villages=["Thôn Lai Hà"], login="hoa", actor=OPERATOR, now=utcnow())
        await set_password(uow, "hoa", "mat-khau-rat-dai-2026", actor=OPERATOR, now=utcnow())
        other = await add_staff(uow, name="Ông Lê Văn Tám", role="village_head", villages=["Thôn Văn Lâm"], actor=OPERATOR, now=utcnow())
    app = create_app(meeting_db, secret_key=SECRET, commune="GP")
    async with client_for(app) as client:
        assert (await sign_in(client, "hoa")).status_code == 303
        page = await client.get("/account")
        assert "Liên kết Zalo" in page.text and CODE.search(page.text) is None
        made = await client.post("/account/zalo-code", data={"csrf": csrf_of(page.text)})
        assert made.status_code == 303
        page = await client.get("/account")
        code = CODE.search(page.text).group(0)
        assert f"/lienket {code}" in page.text
    [made_entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "staff.link_code"]
    assert code.replace("-", "") not in str(made_entry.after)  # the log never holds the code

    head = ZaloPhone(double=zb, user=zb.user("Bà Hoa"))
    stranger = ZaloPhone(double=zb, user=zb.user("Người lạ"))
    async with running_zalo(meeting_db, zb, links=FILES):
        await head.say("/lienket ABCD-EFGH", "không đúng", "Không có gì thay đổi")
        await head.say("/thon", "chưa hiểu lệnh này")  # not linked yet
        await head.say(f"/lienket {code.lower()}", "Đã liên kết tài khoản Zalo này với cán bộ Bà Nguyễn Thị Hoa")
        await head.expect("Các lệnh của cán bộ", "ban giao")
        await head.say("thon", "Thôn Lai Hà", "Người dân đã đăng ký")  # the head's commands work at once
        await stranger.say(code, "không đúng hoặc đã được dùng")  # used once: gone

        # Another head's expired code, then a valid one sent from the chat already bound to Bà Hoa.
        async with UnitOfWork(meeting_db) as uow:
            expired, _ = await link_code(uow, OPERATOR, other.id, utcnow() - timedelta(days=2))
        await stranger.say(f"/lienket {expired}", "đã hết hạn")
        async with UnitOfWork(meeting_db) as uow:
            fresh, _ = await link_code(uow, OPERATOR, other.id, utcnow())
        await head.say(fresh, "đã được liên kết với một cán bộ khác")

        # Guessing: after five refusals in an hour the chat is refused whatever it sends, the right code too.
        for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
            await stranger.say(guess, "không đúng")
        await stranger.say("DDDD-DDDD", "nhiều lần")
        await stranger.say(fresh, "nhiều lần")
    hoa, tam = sorted(await rows(meeting_db, Staff), key=lambda s: s.id)
    assert (hoa.zalo_id, hoa.zalo_channel, hoa.link_code) == (head.user.id, "zalo", None)
    assert (tam.zalo_id, tam.link_code) == (None, fresh.replace("-", ""))  # refused: nothing changed
    linked = [e for e in await rows(meeting_db, AuditEntry) if e.action == "staff.link_zalo"]
    assert [(e.target, e.after["zalo_id"]) for e in linked] == [(f"staff {hoa.id}", head.user.id)]
    refused = sum(e.after["count"] for e in await rows(meeting_db, AuditEntry) if e.action == "staff.link_refused")
    assert refused == 7  # the head's wrong code and taken id; the stranger's reused and expired codes and three guesses


async def test_a_paper_form_entered_on_zalo_gets_its_answer_back_to_the_head_there(meeting_db, zb):
    head = await head_on_zalo(meeting_db, zb, ["Thôn Lai Hà"], name="Bà Nguyễn Thị Hoa")
    async with running_zalo(meeting_db, zb, links=FILES) as bot:
        await head.say("nhap phieu", "Bước 1/6")
        await head.say("Cụ Trần Văn Lão", "Bước 3/6")  # one village: nothing to choose
        await head.choose("Vấn đề khác", "Bước 4/6")
        await head.say("Cụ đề nghị xã xem lại chế độ cho người cao tuổi.", "Bước 5/6")
        await head.choose("Chỉ cần trả lời", "Bước 6/6")
        await head.say("0987 654 321", "kiểm tra lại phiếu", "Cụ Trần Văn Lão")
        await head.say("1", "Mã phiếu: GP-0001")
        async with UnitOfWork(meeting_db) as uow:
            await record_answer(uow, "GP-0001", text="Xã sẽ rà soát và bổ sung danh sách trong tháng 7.", now=utcnow())
            await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow())
            await uow.commit()
        bot.sender.wake()
        message = await head.expect("phiếu giấy GP-0001", timeout=20)
        assert "Cụ Trần Văn Lão" in message["text"] and "bổ sung danh sách" in message["text"]
        await head.say("ban giao", "Thôn Lai Hà", "GP-0001")
    [paper] = await rows(meeting_db, Submission)
    assert (paper.channel, paper.name, paper.phone) == ("paper", "Cụ Trần Văn Lão", "0987654321")
