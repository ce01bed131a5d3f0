"""Fixtures the console's integration tests share: the console on the example meeting, and clients
signed in as its staff (tests/integration/test_web.py's STAFF)."""

from __future__ import annotations

import pytest

from bot.entrypoints.web.app import create_app
from tests.integration.test_web import SECRET, Clock, client_for, csrf_of, populate, sign_in


@pytest.fixture
async def console_app(meeting_db):
    await populate(meeting_db)
    return create_app(meeting_db, secret_key=SECRET, clock=Clock())


@pytest.fixture
async def signed_in(console_app):
    """A signed-in client by login, with its CSRF token."""
    opened = []

    async def open_as(login: str):
        client = client_for(console_app)
        opened.append(client)
        assert (await sign_in(client, login)).status_code == 303
        return client, csrf_of((await client.get("/secretariat-only")).text)

    yield open_as
    for client in opened:
        await client.aclose()
