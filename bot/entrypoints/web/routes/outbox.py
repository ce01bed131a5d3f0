"""The delivery queue: how many messages wait, went out or failed, by meeting and kind."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Reading, SignedIn, render
from bot.services.queue import queue_counts

router = APIRouter()

OUTBOX_STATES = ("pending", "sent", "failed", "unreachable")  # always shown, in this order; any other after them


@router.get("/outbox", response_class=HTMLResponse)
async def outbox(request: Request, actor: SignedIn, uow: Reading) -> Response:
    counts = await queue_counts(uow, actor, home_commune=console(request).commune)
    table: dict[tuple[str, str], dict[str, int]] = {}
    states = list(OUTBOX_STATES)
    for code, kind, state, count in counts:
        table.setdefault((code or "", kind), {})[state] = count
        if state not in states:
            states.append(state)
    totals = {state: sum(row.get(state, 0) for row in table.values()) for state in states}
    return render(request, "outbox.html", table=table, states=states, totals=totals)
