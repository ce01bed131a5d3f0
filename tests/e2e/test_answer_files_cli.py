"""`doithoai answer REF --text … --attach FILE…` and `doithoai answers import FILE.xlsx --files DIR`:
an answer's files from the command line, refused by name when they are not what they claim."""

from __future__ import annotations

import json

from openpyxl import load_workbook

from storage.db import Database
from storage.models import AuditEntry, Outbox, SubmissionFile
from tests.conftest import rows
from tests.e2e.test_cli import cli, env, plan, registered  # noqa: F401  (fixtures)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


async def stored(env: dict, model) -> list:  # noqa: F811
    db = Database(env["DOITHOAI_DATABASE_URL"])
    try:
        return await rows(db, model)
    finally:
        await db.dispose()


async def test_answer_attach_and_import_with_a_folder_of_files(env, plan, tmp_path):  # noqa: F811
    await registered(env, plan)
    decision = tmp_path / "Quyết định 12.pdf"
    decision.write_bytes(PDF)
    fake = tmp_path / "so-do.pdf"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")

    refused = cli("answer", "GP-0001", "--text", "Xã sẽ sửa đường.", "--attach", str(decision), "--attach", str(fake), env=env)
    assert refused.returncode == 1 and "so-do.pdf" in refused.stderr and "không phải tệp PDF" in refused.stderr
    missing = cli("answer", "GP-0001", "--text", "Xã sẽ sửa đường.", "--attach", str(tmp_path / "khong-co.pdf"), env=env)
    assert missing.returncode == 1 and "khong-co.pdf" in missing.stderr
    assert await stored(env, SubmissionFile) == []

    done = cli("answer", "GP-0001", "--text", "Xã sẽ sửa đường.", "--attach", str(decision), env=env)
    assert done.returncode == 0, done.stderr
    [kept] = await stored(env, SubmissionFile)
    assert kept.role == "answer"
    [entry] = [e for e in await stored(env, AuditEntry) if e.action == "submission.answer"]
    assert entry.after["files"] == [{"name": "Quyết định 12.pdf", "bytes": len(PDF)}]

    # The sheet lists the answer's files; naming a file the folder does not hold rejects the whole file.
    sheet = tmp_path / "tra-loi.xlsx"
    assert cli("answers", "export", str(sheet), "--meeting", "GP-2026", env=env).returncode == 0
    wb = load_workbook(sheet)
    ws = wb.active
    headers = [c.value for c in ws[1]]
    column = headers.index("Tệp đính kèm") + 1
    assert ws.cell(row=2, column=column).value == "Quyết định 12.pdf"
    ws.cell(row=2, column=column).value = "Quyết định 12.pdf; ban-do.pdf"
    wb.save(sheet)
    folder = tmp_path / "tep"
    folder.mkdir()
    result = cli("answers", "import", str(sheet), "--files", str(folder), env=env)
    assert result.returncode == 1 and "ban-do.pdf" in result.stderr and str(folder) in result.stderr
    assert len(await stored(env, SubmissionFile)) == 1
    (folder / "ban-do.pdf").write_bytes(PDF + b"% ban do\n")
    result = cli("answers", "import", str(sheet), "--files", str(folder), env=env)
    assert result.returncode == 0, result.stderr
    assert len(await stored(env, SubmissionFile)) == 2

    # Published: the answer and each file queued once; --no-files takes them off (a correction).
    assert cli("conclusion", "publish", "--meeting", "GP-2026", "--force", env=env).returncode == 0
    queued = [o for o in await stored(env, Outbox) if o.kind == "answer"]
    assert len(queued) == 3 and sorted(bool(o.payload.get("document")) for o in queued) == [False, True, True]
    assert cli("answer", "GP-0001", "--text", "Xã sẽ sửa đường.", "--no-files", env=env).returncode == 0
    assert await stored(env, SubmissionFile) == []
    listed = json.loads(cli("submissions", "list", "--json", env=env).stdout)
    assert listed[0]["status"] == "answered"
