"""`doithoai staff add --zalo-id`, `staff list` and `staff link-code`: heads on Zalo from the command line."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import plan_text
from tests.e2e.test_cli import cli


@pytest.fixture
def zalo_env(tmp_path: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    e["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'heads.db'}"
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    assert cli("db", "upgrade", env=e).returncode == 0
    assert cli("meeting", "load", str(plan), env=e).returncode == 0
    return e


def test_a_head_is_bound_to_zalo_listed_and_given_a_link_code(zalo_env):
    env = zalo_env
    added = cli("staff", "add", "--role", "village_head", "--village", "Thôn Phong Lâm", "--zalo-id", "8fb556a6de49cffc48d7",
                "--name", "Ông Đỗ Văn Tiến", env=env)
    assert added.returncode == 0, added.stderr
    taken = cli("staff", "add", "--role", "village_head", "--village", "Thôn Văn Lâm", "--zalo-id", "8fb556a6de49cffc48d7", "--name", "Ông B", env=env)
    assert taken.returncode == 1 and "đã thuộc về một cán bộ khác" in taken.stderr + taken.stdout
    wrong = cli("staff", "add", "--role", "village_head", "--village", "Thôn Văn Lâm", "--zalo-id", "x1", "--zalo-channel", "viber", env=env)
    assert wrong.returncode == 1 and "kênh Zalo không hợp lệ" in wrong.stderr + wrong.stdout
    assert "zalo=8fb556a6de49cffc48d7 (zalo)" in cli("staff", "list", env=env).stdout
    [head] = json.loads(cli("staff", "list", "--json", env=env).stdout)
    assert (head["zalo_id"], head["zalo_channel"]) == ("8fb556a6de49cffc48d7", "zalo")
    code = cli("staff", "link-code", str(head["id"]), env=env)
    assert code.returncode == 0, code.stderr
    assert re.search(r"/lienket [A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b", code.stdout), code.stdout
    log = json.loads(cli("audit", "list", "--json", env=env).stdout)
    assert [e["action"] for e in log][:2] == ["staff.link_code", "staff.add"]
