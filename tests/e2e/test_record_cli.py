"""The record from a terminal: `doithoai minutes` saves the facts given and writes the minutes,
`doithoai conclusion draft` writes the conclusion's draft; a bad fact or a broken template is refused in
Vietnamese, exit code 1, with nothing saved and no file written."""

from __future__ import annotations

import io
import sqlite3

from docx import Document

from bot.services.exports.record import CONCLUSION
from bot.services.exports.templating import shipped
from tests.e2e.test_cli import cli, env, plan, registered  # noqa: F401  (fixtures)
from tests.e2e.test_vietnamese_surface import assert_vietnamese


def facts(environment: dict) -> tuple:
    path = environment["DOITHOAI_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute("SELECT chair, secretary, attendance FROM meeting").fetchone()


def text(path) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(path.read_bytes())).paragraphs)


async def test_the_minutes_and_the_conclusion_draft_from_the_command_line(env, plan, tmp_path):  # noqa: F811
    await registered(env, plan, speak=True)
    assert cli("hall", "turn", "GP-0001", "--meeting", "GP-2026", "--to", "called", env=env).returncode == 0

    refused = cli("minutes", "--meeting", "GP-2026", str(tmp_path / "x.docx"), "--chair", "Lê Văn Hùng", "--attendance", "nhiều", env=env)
    assert_vietnamese(refused, code=1)
    assert 'số người tham dự "nhiều"' in refused.stderr
    assert facts(env) == (None, None, None) and not (tmp_path / "x.docx").exists()

    minutes = tmp_path / "bien-ban.docx"
    done = cli("minutes", "--meeting", "GP-2026", str(minutes), "--chair", "Lê Văn Hùng", "--secretary", "Trần Thị Mai", "--attendance", "85",
               env=env)
    lines = assert_vietnamese(done, code=0)
    assert lines[-1] == f"Đã ghi biên bản hội nghị GP-2026 vào {minutes}: 1 người phát biểu, 0 ý kiến gửi bằng văn bản."
    assert facts(env) == ("Lê Văn Hùng", "Trần Thị Mai", 85)
    written = text(minutes)
    assert "1. Ông/Bà Nguyễn Văn An (Thôn Phong Lâm)" in written and "- Thư ký hội nghị: Trần Thị Mai." in written
    assert "Chưa trả lời tại hội nghị." in written and "{{" not in written

    broken = Document(str(shipped(CONCLUSION)))
    marker = next(p for p in broken.paragraphs if p.text == "{{answers_by_topic}}")
    marker.runs[0].text = "Kết luận: {{answers_by_topic}}"
    broken.save(str(tmp_path / "mau.docx"))
    draft = tmp_path / "ket-luan.docx"
    refused = cli("conclusion", "draft", "--meeting", "GP-2026", str(draft), "--template", str(tmp_path / "mau.docx"), env=env)
    assert_vietnamese(refused, code=1)
    assert "mẫu mau.docx: {{answers_by_topic}} phải đứng riêng một dòng" in refused.stderr and not draft.exists()

    done = cli("conclusion", "draft", "--meeting", "GP-2026", str(draft), env=env)
    assert_vietnamese(done, code=0)
    assert "`doithoai conclusion publish --meeting GP-2026 --document TỆP.pdf`" in done.stdout
    assert "I. Môi trường, hạ tầng, giao thông" in text(draft) and "Chưa có câu trả lời" in text(draft)
