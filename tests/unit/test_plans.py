"""Reading a meeting plan (bot/services/plans.parse_plan): every problem named by its field, nothing loaded."""

from __future__ import annotations

import re

import pytest

from bot.services.plans import PlanError, parse_plan
from bot.text.catalogue import Translator
from tests.conftest import EXAMPLE, plan_text

# Nested deep enough that tomllib's recursion gives out.
NESTED = ["x = " + "[" * 100_000 + "]" * 100_000, "x = " + "{a=" * 50_000 + "1" + "}" * 50_000]


def test_the_example_plan_reads_in_the_commune_s_timezone():
    plan = parse_plan(EXAMPLE.read_text(encoding="utf-8"))
    assert (plan.commune.code, plan.meeting.code) == ("GP", "GP-2026")
    assert plan.meeting.starts_at.isoformat() == "2026-06-11T08:00:00+07:00"


def test_a_time_without_an_offset_is_the_commune_s_local_time():
    plan = parse_plan(EXAMPLE.read_text(encoding="utf-8").replace("+07:00", ""))
    assert plan.meeting.starts_at.isoformat() == "2026-06-11T08:00:00+07:00"
    assert plan.meeting.registration_closes_at.isoformat() == "2026-05-15T23:59:00+07:00"


def test_a_plan_reports_every_problem_each_with_its_field():
    bad = plan_text().replace('code = "GP"', 'code = "gp"')
    bad = re.sub(r'\nends_at = "[^"]*"', '\nends_at = "2020-01-01T00:00:00+07:00"', bad)
    bad = bad.replace('venue = "Hội', 'venue = "\\u0000Hội')  # TOML lets an escaped NUL through
    with pytest.raises(PlanError) as caught:
        parse_plan(bad)
    # Field names as the file writes them; what is wrong with each, in Vietnamese.
    assert [str(p) for p in caught.value.problems] == [
        "commune.code: cần 2–5 chữ in hoa không dấu, ví dụ GP",
        "meeting.venue: có ký tự U+0000 không phải là chữ: xin xoá ký tự đó rồi nhập lại",
        "meeting.ends_at: phải sau meeting.starts_at",
    ]


def test_a_file_that_is_not_toml_is_refused_at_its_line_and_column():
    with pytest.raises(PlanError) as caught:
        parse_plan('[commune]\ncode = "GP"\nname = \n')
    [problem] = caught.value.problems
    assert problem.key == "problem.plan.toml_at" and problem.params["line"] == 3
    assert problem.text(Translator("en")).startswith("not valid TOML at line 3")


def test_plan_names_are_cleaned_to_one_line():
    plan = parse_plan(plan_text().replace('"Vấn đề khác"', '"Vấn  đề\\tkha\u0301c"'))
    assert plan.meeting.topics[-1] == "Vấn đề khác"


def test_a_plan_inviting_a_village_typed_decomposed_finds_it():
    decomposed = "Tho\u0302n Lai Ha\u0300"  # "Thôn Lai Hà" as a Mac types it
    plan = parse_plan(plan_text().replace("# villages = [", f'villages = ["{decomposed}"]\n# ['))
    assert plan.meeting.villages == ["Thôn Lai Hà"]


@pytest.mark.parametrize("text", NESTED, ids=["arrays", "tables"])
def test_a_plan_nested_thousands_deep_is_refused_not_a_crash(text):
    with pytest.raises(PlanError) as refused:
        parse_plan(text)
    assert "lồng nhau quá sâu" in str(refused.value.problems[0])
