"""The figures of a meeting (the current one unless another is asked for), or of every meeting in reach."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import ConsoleUser, Reading, render
from bot.entrypoints.web.forms import integer
from bot.services.figures import figures

router = APIRouter()


@router.get("/stats", response_class=HTMLResponse)
async def stats(request: Request, actor: ConsoleUser, uow: Reading) -> Response:
    params = request.query_params
    found = await figures(uow, actor, integer(params.get("meeting")), now=console(request).clock(), current="meeting" not in params)
    return render(
        request, "stats.html", meetings=found.meetings, meeting_id=found.meeting_id, total=found.total, live=found.live,
        villages=found.villages, topics=found.topics, statuses=found.statuses, speak=found.speak, delivered=found.delivered,
        feedback=found.feedback, first_feedback=found.first_feedback, followups=found.followups, followups_open=found.followups_open,
        channels=found.channels,
    )
