"""The README's two commands are the ones that work: CI runs the second one, unchanged."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, tests = readme_commands()
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("## ")[0]
    assert demo in head and tests in head
    assert demo.endswith("doithoai demo") and "pip install" in demo
    assert "pytest" in tests and "[test]" in tests
    # A newcomer's first run: PostgreSQL started when it is down, the suite spread over processes.
    assert "pg_isready" in tests and "pg_ctlcluster" in tests and "pytest -n " in tests
    assert "needs the PostgreSQL server" in head


def test_ci_runs_the_readme_test_command_unchanged():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_every_setting_is_in_env_example_and_the_readme():
    from bot.entrypoints.settings import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = f"DOITHOAI_{name.upper()}"
        assert f"\n{variable}=" in example, variable
        assert f"`{variable}`" in readme, variable
