"""The meeting day from a terminal: `doithoai hall …` runs the speakers' list through the same
services as the console, and refuses mistakes in Vietnamese without changing anything."""

from __future__ import annotations

import json

from tests.e2e.test_cli import cli, env, plan, registered  # noqa: F401  (fixtures)


async def test_a_secretary_runs_the_list_from_the_command_line(env, plan):  # noqa: F811
    await registered(env, plan, speak=True)
    listed = cli("hall", "list", "--meeting", "GP-2026", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Đăng ký phát biểu: 1" in listed.stdout and "GP-0001  Đang chờ" in listed.stdout and "Nguyễn Văn An" in listed.stdout

    floor = cli("hall", "floor", "--meeting", "GP-2026", "--name", "Lê Thị Hoa", "--village", "thon van lam", "--topic", "van de khac",
                "--question", "Xin lắp thêm đèn đường ở xóm Đông.", env=env)
    assert floor.returncode == 0 and "mã phiếu GP-0002" in floor.stdout
    assert cli("hall", "move", "GP-0002", "--meeting", "GP-2026", "--to", "1", env=env).returncode == 0
    called = cli("hall", "turn", "GP-0002", "--meeting", "GP-2026", "--to", "called", env=env)
    assert called.returncode == 0 and "GP-0002: Đang phát biểu" in called.stdout, called.stdout
    answered = cli("hall", "answer", "GP-0002", "--meeting", "GP-2026", "--by", "Chủ tịch UBND xã", "--text", "Tháng sau xã lắp đèn.", env=env)
    assert answered.returncode == 0, answered.stderr
    rows = json.loads(cli("hall", "list", "--meeting", "GP-2026", "--json", env=env).stdout)
    assert [(r["ref"], r["turn"], r["answered_in_hall"]) for r in rows] == [("GP-0002", "called", True), ("GP-0001", "waiting", False)]

    # Mistakes: named in Vietnamese, exit code 1, nothing changed.
    bad_turn = cli("hall", "turn", "GP-0001", "--meeting", "GP-2026", "--to", "gone", env=env)
    assert bad_turn.returncode == 1 and "không phải trạng thái phát biểu" in bad_turn.stderr
    nowhere = cli("hall", "floor", "--meeting", "GP-2026", "--name", "Lê Văn Tư", "--village", "Thôn Mới", "--topic", "van de khac",
                  "--question", "Hỏi gì đó?", env=env)
    assert nowhere.returncode == 1 and "Không có thôn, tổ dân phố \"Thôn Mới\"" in nowhere.stderr and "Thôn Phong Lâm" in nowhere.stderr
    no_followup = cli("submissions", "close-followup", "GP-0001", env=env)
    assert no_followup.returncode == 1 and "không có ý kiến chưa hài lòng nào đang chờ" in no_followup.stderr
    assert cli("hall", "close", "--meeting", "GP-2026", env=env).returncode == 0
    closed = cli("hall", "turn", "GP-0001", "--meeting", "GP-2026", "--to", "called", env=env)
    assert closed.returncode == 1
    assert "Danh sách phát biểu đã kết thúc." in cli("hall", "list", "--meeting", "GP-2026", env=env).stdout
    rows = json.loads(cli("hall", "list", "--meeting", "GP-2026", "--json", env=env).stdout)
    assert len(rows) == 2  # the refused floor question was not recorded
    actions = [e["action"] for e in json.loads(cli("audit", "list", "--json", env=env).stdout)]
    assert {"hall.move", "hall.turn", "hall.close", "hall.answer", "submission.hall"} <= set(actions)
