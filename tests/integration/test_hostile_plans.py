"""Plans an attacker (or a broken tool) writes: refused with a reason, never a crash."""

from __future__ import annotations

import pytest

from bot.services.plans import PlanError, parse_plan
from tests.integration.test_web import app, as_staff, clock, world  # noqa: F401  (fixtures)

NESTED = ["x = " + "[" * 100_000 + "]" * 100_000, "x = " + "{a=" * 50_000 + "1" + "}" * 50_000]


@pytest.mark.parametrize("text", NESTED, ids=["arrays", "tables"])
def test_a_plan_nested_thousands_deep_is_refused_not_a_crash(text):
    with pytest.raises(PlanError) as refused:
        parse_plan(text)
    assert "lồng nhau quá sâu" in str(refused.value.problems[0])


async def test_the_console_answers_a_deeply_nested_plan_with_a_400(app, world, as_staff):  # noqa: F811
    client, csrf = await as_staff("vanphong")
    response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("plan.toml", NESTED[0].encode(), "text/plain")})
    assert response.status_code == 400
