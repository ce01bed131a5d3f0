"""Operators and staff read Vietnamese: the command line's every line, its errors, and the console's
refusals carry no English sentence (the services' errors are worded at the door, bot/domain/errors.py)."""

from __future__ import annotations

import html
import re

from tests.e2e.test_cli import cli, env, plan, registered  # noqa: F401  (fixtures)
from tests.integration.test_web import app, as_staff, clock, world  # noqa: F401  (fixtures)

# Words an English sentence of ours would hold; none is Vietnamese. Names that stay as they are
# (commands, options, settings, plan fields, codes) are taken out of a line before it is read.
ENGLISH = {
    "error", "the", "is", "are", "not", "no", "with", "has", "have", "cannot", "must", "give", "use", "meeting",
    "submission", "submissions", "answer", "answers", "queued", "sent", "created", "updated", "written", "nothing",
    "was", "yet", "already", "failed", "run", "database", "file", "staff", "added", "removed", "refused", "please",
    "messages", "notice", "residents", "published", "conclusion", "code", "date", "exists", "empty", "missing",
}
KEPT = re.compile(
    r"`[^`]*`"                       # a command to run
    r"|--[a-z-]+"                    # an option
    r"|\bDOITHOAI_[A-Z_]+"           # a setting
    r"|\b[a-z_]+(?:\.[a-z_]+)+\b"    # a plan field (meeting.starts_at) or a file name
    r"|/\S+"                         # a path
    r"|\{\{[^{}]*\}\}"               # a Word template's field ({{answers_by_topic}}, docs/record.md)
)


def english_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]+", KEPT.sub(" ", text)) if w.lower() in ENGLISH}


def assert_vietnamese(result, *, code: int) -> list[str]:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == code, (result.stdout, result.stderr)
    assert lines
    for line in lines:
        assert not line.lower().startswith("error"), line
        assert not english_words(line), (line, english_words(line))
    return lines


async def test_command_line_output_and_errors_are_vietnamese(env, plan, tmp_path):  # noqa: F811
    # Before the schema exists.
    assert_vietnamese(cli("meeting", "list", env=env), code=1)
    await registered(env, plan)
    bad_plan = tmp_path / "bad.toml"
    bad_plan.write_text(plan.read_text(encoding="utf-8").replace('code = "GP"', 'code = "gp"').replace("topics = [", "topicz = ["),
                        encoding="utf-8")
    not_toml = tmp_path / "broken.toml"
    not_toml.write_text("[commune\n", encoding="utf-8")
    failing = [
        ("meeting", "load", str(bad_plan)),
        ("meeting", "load", str(not_toml)),
        ("meeting", "load", str(tmp_path / "missing.toml")),
        ("submissions", "list", "--meeting", "NOPE"),
        ("answer", "GP-0042", "--text", "Trả lời."),
        ("answer", "GP-0001", "--text", "Có\x07 kế hoạch."),
        ("answer", "GP-0001", "--forward", "UBND thành phố"),
        ("answer", "GP-0001", "--forward", "UBND thành phố", "--expected-by", "31/02/2026"),
        ("conclusion", "publish", "--meeting", "GP-2026"),
        ("conclusion", "publish", "--meeting", "GP-2026", "--force"),
        ("announce", "--meeting", "NOPE"),
        ("outbox", "retry"),
        ("staff", "add", "--role", "chief", "--login", "lan"),
        ("staff", "add", "--role", "village_head", "--login", "lan"),
        ("staff", "remove", "nobody"),
        ("posters", str(tmp_path / "p.pdf"), "--meeting", "NOPE", "--bot-username", "GiaPhucBot"),
        ("backup", str(tmp_path)),
        ("restore", str(plan), "--yes"),
        ("run",),
    ]
    for args in failing:
        lines = assert_vietnamese(cli(*args, env=env), code=1)
        assert lines[0].startswith("Lỗi: "), (args, lines)
    succeeding = [
        ("meeting", "load", str(plan)),
        ("meeting", "list"),
        ("submissions", "list"),
        ("answer", "GP-0001", "--forward", "UBND thành phố", "--expected-by", "15/07/2026"),
        ("conclusion", "publish", "--meeting", "GP-2026", "--force"),
        ("outbox", "status"),
        ("outbox", "retry", "--failed"),
        ("staff", "add", "--role", "secretariat", "--login", "lan", "--name", "Nguyễn Thị Lan"),
        ("staff", "list"),
        ("privacy", "purge"),
        ("backup", str(tmp_path / "sao-luu.backup")),
        ("staff", "remove", "lan"),
    ]
    for args in succeeding:
        assert_vietnamese(cli(*args, env=env), code=0)
    # The audit log shows its entries as recorded (action and target are identifiers, like staff.add).
    assert cli("audit", "list", env=env).returncode == 0


def test_help_is_vietnamese(env):  # noqa: F811
    for args in (("--help",), ("answer", "--help"), ("staff", "add", "--help"), ("backup", "--help")):
        result = cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert "Tuỳ chọn" in result.stdout
        # The framework's own "Usage:" and "Show this message and exit." aside (typer's vendored click, fixed English).
        described = re.sub(r"Usage: doithoai[^\n]*", "", result.stdout).replace("Show this message and exit.", "")
        # A command's name, as typed, opens its row; a help text wraps over rows, so they are read as one.
        rows = [re.sub(r"^│\s*(\*\s*)?[a-z][a-z-]*\s", "", line).strip(" │") for line in described.splitlines()]
        assert not english_words(" ".join(rows)), (args, english_words(" ".join(rows)))


def test_english_words_are_caught():
    assert english_words("error: no meeting with code NOPE")
    assert not english_words("Lỗi: không có hội nghị mã NOPE (xem `doithoai meeting list`)")
    assert not english_words("meeting.ends_at: phải sau meeting.starts_at")


async def test_the_console_words_a_service_refusal_in_vietnamese_only(app, world, as_staff):  # noqa: F811
    client, csrf = await as_staff("vanphong")
    response = await client.post("/submissions/GP-0003/duplicate", data={"csrf": csrf, "original": "GP-0003"})
    assert response.status_code == 400
    [refusal] = re.findall(r'<div class="flash error" role="alert">(.*?)</div>', response.text, re.S)
    refusal = html.unescape(refusal)
    assert refusal == "Không thực hiện được: GP-0003: một câu hỏi không thể trùng với chính nó"
    assert not english_words(refusal)
