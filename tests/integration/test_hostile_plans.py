"""Plans an attacker (or a broken tool) writes: refused with a reason, never a crash."""

from __future__ import annotations

from tests.integration.test_web import app, as_staff, clock, world  # noqa: F401  (fixtures)
from tests.unit.test_plans import NESTED


async def test_the_console_answers_a_deeply_nested_plan_with_a_400(app, world, as_staff):  # noqa: F811
    client, csrf = await as_staff("vanphong")
    response = await client.post("/meetings/plan", data={"csrf": csrf}, files={"plan": ("plan.toml", NESTED[0].encode(), "text/plain")})
    assert response.status_code == 400
