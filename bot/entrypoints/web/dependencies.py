"""What a route is given and what it gives back: the acting person, the checked form and a unit of
work as FastAPI dependencies; the page or redirect it answers with.

A POST declares its form before its actor: a forged request is refused (403) before anyone is
asked to sign in. The units of work come after the actor, whose session check opens units of its
own: on SQLite a writing one holds the database's write lock until the route returns, and the
refusal pages' audit rows are written after it has closed.
"""

from __future__ import annotations

from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from bot.entrypoints.web.console import console
from bot.entrypoints.web.session import csrf_token, pop_flashes, posted, signed_in
from bot.services.access import may_work_on_submissions
from bot.services.staff import Actor
from storage.uow import UnitOfWork

# Service refusals that mean "there is no such thing": each is the 404 page, as an unknown URL is.
NOT_FOUND_KEYS = frozenset({"problem.no_meeting", "problem.answer.no_code"})


class NotFound(Exception):
    """No such meeting or submission."""


Posted = Annotated[FormData, Depends(posted)]
SignedIn = Annotated[Actor, Depends(signed_in)]


async def _console_user(actor: SignedIn) -> Actor:
    may_work_on_submissions(actor)
    return actor


# The landing pages of those who work on submissions: a village head is refused even where there is nothing to show.
ConsoleUser = Annotated[Actor, Depends(_console_user)]


# `actor` is asked for only so that the session is checked, with its own units of work, before these open.
async def _reading(request: Request, actor: SignedIn) -> AsyncIterator[UnitOfWork]:
    async with UnitOfWork(console(request).db, readonly=True) as uow:
        yield uow


async def _writing(request: Request, actor: SignedIn) -> AsyncIterator[UnitOfWork]:
    """The service a route calls commits its own work. A route that shows a refusal on its page rolls
    back first, so that the page reads the database as it is, not what the refused action left."""
    async with UnitOfWork(console(request).db) as uow:
        yield uow


Reading = Annotated[UnitOfWork, Depends(_reading, scope="function")]
Writing = Annotated[UnitOfWork, Depends(_writing, scope="function")]


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    c = console(request)
    context.setdefault("actor", getattr(request.state, "actor", None))
    html = c.templates.get_template(name).render(
        request=request, csrf=csrf_token(request), flashes=pop_flashes(request), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never //other.host or a full URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
