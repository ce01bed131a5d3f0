"""The console's application: its wiring, its error pages, and `serve`.

Every page needs a signed-in staff member, but a published meeting's public page (/cong-khai/<code>,
routes/public.py); every POST carries the session's CSRF token.
Who may do what is decided by the services (bot.services.access and the services behind each page):
a `Forbidden` from them becomes a 403 page, and nothing was committed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from bot.domain.errors import ServiceError
from bot.entrypoints.web.console import HERE, Console, console, environment
from bot.entrypoints.web.dependencies import NOT_FOUND_KEYS, NotFound, redirect, render
from bot.entrypoints.web.headers import SecurityHeaders
from bot.entrypoints.web.routes import ROUTERS
from bot.entrypoints.web.session import SESSION_COOKIE, SESSION_MAX_AGE, BadForm, LoginRequired, signed_in
from bot.services.access import Forbidden, NotYours
from bot.services.staff import ANONYMOUS, Actor, audit, audit_counted
from bot.text.catalogue import Translator
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork

PAGE_SIZE = 50

log = logging.getLogger(__name__)


def _error_page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, text=text)


def create_app(
    db: Database, *, secret_key: str, clock: Callable[[], datetime] = utcnow, https_only: bool = False, page_size: int = PAGE_SIZE,
    commune: str | None = None, record_templates: Path | None = None,
) -> FastAPI:
    """The console for `db`. `secret_key` signs the session cookie; `clock` is the time the services are told;
    `commune` is the code of the commune the deployment's own bots serve (DOITHOAI_COMMUNE).
    `https_only`: the cookie is marked Secure whatever the request's scheme (DOITHOAI_WEB_HTTPS).
    `record_templates`: the folder of the commune's own minutes and conclusion templates (DOITHOAI_RECORD_TEMPLATES)."""
    if len(secret_key) < 16:
        raise ValueError("secret_key: at least 16 characters")
    tr = Translator("vi")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = Console(db=db, clock=clock, secret_key=secret_key, page_size=page_size, templates=environment(tr), tr=tr,
                                commune=commune, record_templates=record_templates)
    app.add_middleware(
        SessionMiddleware, secret_key=secret_key, session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE, same_site="lax",
        https_only=https_only,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/login" if request.method != "GET" or target == "/" else f"/login?next={quote(target, safe='')}")

    async def _audit_refusal(request: Request, reason: str) -> None:
        """A refused action changes nothing but the audit log: who tried what, and why it was refused.

        A signed-in staff member's refusal is a row of its own. Anyone else's are counted, one row a
        minute per reason: a flood of them must not grow the log without bound.
        """
        actor = getattr(request.state, "actor", None)
        if actor is None and "session" in request.scope:
            try:
                actor = await signed_in(request)  # a CSRF refusal comes before the page asks who this is
            except LoginRequired:
                actor = None
        what = f"{request.method} {request.url.path}"
        async with UnitOfWork(console(request).db) as uow:
            if actor is not None:
                await audit(uow, actor, "refused", what, after={"reason": reason}, now=clock())
            else:
                await audit_counted(uow, Actor(label=ANONYMOUS), "refused", f"anonymous requests ({reason})",
                                    after={"reason": reason, "first": what[:200]}, now=clock())
            await uow.commit()

    def _not_found(request: Request) -> Response:
        return _error_page(request, 404, tr("web.error.not_found_title"), tr("web.error.not_found"))

    @app.exception_handler(BadForm)
    async def _bad_form(request: Request, exc: BadForm) -> Response:
        await _audit_refusal(request, "csrf")
        return _error_page(request, 403, tr("web.error.csrf_title"), tr("web.error.csrf"))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        await _audit_refusal(request, f"role: {exc}")
        return _error_page(request, 403, tr("web.error.forbidden_title"), tr("web.error.forbidden"))

    @app.exception_handler(NotYours)
    async def _not_yours(request: Request, exc: NotYours) -> Response:
        # Another commune's code gets the very page an unknown one gets: nothing says it exists.
        await _audit_refusal(request, f"commune: {exc}")
        return _not_found(request)

    @app.exception_handler(NotFound)
    async def _unknown(request: Request, exc: NotFound) -> Response:
        return _not_found(request)

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> Response:
        """A service's refusal no page words itself. Only "no such meeting or submission" may get this far."""
        if exc.key not in NOT_FOUND_KEYS:
            raise exc
        return _not_found(request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _not_found(request)
        return Response(status_code=exc.status_code, headers=getattr(exc, "headers", None))

    return app


def serve(settings: Any, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the console with uvicorn on the configured database (whose schema must be current).

    The session key comes from `settings.web_secret_key` when the settings have one; otherwise a
    random key is made, and every session ends when the console restarts.
    """
    import uvicorn

    from storage.schema import ensure_current

    secret = getattr(settings, "web_secret_key", None)
    if secret is not None and hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    if not secret:
        log.warning("no web secret key configured: using a random one, sessions end when the console restarts")
        secret = secrets.token_urlsafe(32)

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            await ensure_current(db)
            app = create_app(db, secret_key=secret, https_only=bool(getattr(settings, "web_https", False)),
                             commune=getattr(settings, "commune", None), record_templates=getattr(settings, "record_templates", None))
            # No access log: URLs carry search terms, which can be residents' names.
            config = uvicorn.Config(app, host=host, port=port, access_log=False, proxy_headers=True, server_header=False)
            await uvicorn.Server(config).serve()
        finally:
            await db.dispose()

    asyncio.run(go())
