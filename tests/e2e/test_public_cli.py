"""`doithoai public …` as an operator runs it: the public page written as static files for the
commune's portal, questions hidden and shown again, and every refusal said in Vietnamese."""

from __future__ import annotations

import json

from tests.e2e.test_cli import cli, env, plan, registered  # noqa: F401  (fixtures)
from tests.e2e.test_vietnamese_surface import assert_vietnamese

ANSWER = "Quý III năm nay xã sửa đường liên thôn."


async def test_the_public_page_is_exported_hidden_and_shown_from_the_command_line(env, plan, tmp_path):  # noqa: F811
    await registered(env, plan, name="Nguyễn Văn An", phone="0912345678")
    out = tmp_path / "cong-khai"

    # Before publication there is nothing to export; an unknown meeting is named as such.
    early = cli("public", "export", "--meeting", "GP-2026", str(out), env=env)
    assert "chưa công bố kết luận" in assert_vietnamese(early, code=1)[0]
    unknown = cli("public", "export", "--meeting", "NOPE", str(out), env=env)
    assert "không có hội nghị mã NOPE" in assert_vietnamese(unknown, code=1)[0]
    assert not out.exists()

    assert cli("answer", "GP-0001", "--text", ANSWER, "--by", "UBND xã", env=env).returncode == 0
    assert cli("conclusion", "publish", "--meeting", "GP-2026", "--force", env=env).returncode == 0
    done = cli("public", "export", "--meeting", "GP-2026", str(out), env=env)
    assert_vietnamese(done, code=0)
    assert f"Đã ghi trang công khai vào {out / 'index.html'}: 1 câu hỏi được đăng, 0 câu hỏi đang ẩn." in done.stdout
    page = (out / "index.html").read_text(encoding="utf-8")
    assert ANSWER in page and "GP-0001" in page and 'href="public.css"' in page and (out / "public.css").exists()
    assert "Nguyễn Văn An" not in page and "0912345678" not in page

    # Hiding needs a reason; a wrong code is named; nothing changes.
    no_reason = cli("public", "hide", "GP-0001", "--reason", "  ", env=env)
    assert "xin ghi lý do ẩn câu hỏi" in assert_vietnamese(no_reason, code=1)[0]
    missing = cli("public", "hide", "GP-0042", "--reason", "Trùng lặp.", env=env)
    assert "GP-0042: không có phiếu mã này" in assert_vietnamese(missing, code=1)[0]
    hidden = cli("public", "hide", "gp-0001", "--reason", "Nêu tên người khác.", env=env)
    assert "Đã ẩn câu hỏi GP-0001 khỏi trang công khai." in hidden.stdout
    again = cli("public", "export", "--meeting", "GP-2026", str(out), env=env)
    assert "0 câu hỏi được đăng, 1 câu hỏi đang ẩn." in again.stdout
    assert ANSWER not in (out / "index.html").read_text(encoding="utf-8")
    shown = cli("public", "show", "GP-0001", env=env)
    assert "Câu hỏi GP-0001 đã hiện lại trên trang công khai." in shown.stdout
    assert cli("public", "export", "--meeting", "GP-2026", str(out), env=env).returncode == 0
    assert ANSWER in (out / "index.html").read_text(encoding="utf-8")

    # A file where the folder should be: said plainly.
    blocked = tmp_path / "tep"
    blocked.write_text("x", encoding="utf-8")
    assert "là tệp, không phải thư mục" in assert_vietnamese(cli("public", "export", "--meeting", "GP-2026", str(blocked), env=env), code=1)[0]

    actions = [(e["action"], e["target"]) for e in json.loads(cli("audit", "list", "--json", env=env).stdout)]
    assert ("public.hide", "submission GP-0001") in actions and ("public.show", "submission GP-0001") in actions
    helped = cli("public", "--help", env=env)
    assert helped.returncode == 0 and "Trang công khai của hội nghị" in helped.stdout and "export" in helped.stdout
