"""The console's application: sessions, sign-in, CSRF, error pages and rendering.

Every page needs a signed-in staff member; every POST carries the session's CSRF token.
Who may do what is decided by the services (bot.services.secretariat, bot.services.staff):
a `Forbidden` from them becomes a 403 page, and nothing was committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.services.access import NotYours
from bot.services.secretariat import Forbidden
from bot.services.staff import ANONYMOUS, Actor, actor_for, audit, audit_counted
from bot.text.catalogue import Translator
from bot.text.formatting import date as day
from bot.text.formatting import local, time, weekday
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork

HERE = Path(__file__).parent
SESSION_COOKIE = "doithoai_console"
SESSION_IDLE = timedelta(hours=8)  # a working day without activity signs the user out
SESSION_MAX_AGE = int(SESSION_IDLE.total_seconds())
TOUCH_EVERY = timedelta(minutes=1)
PAGE_SIZE = 50

log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """No signed-in staff member: pages redirect to the sign-in form."""


class BadForm(Exception):
    """A POST without the session's CSRF token: refused with 403, nothing done."""


class NotFound(Exception):
    """No such meeting or submission."""


@dataclass
class Console:
    db: Database
    clock: Callable[[], datetime]
    secret_key: str
    page_size: int
    templates: Environment
    tr: Translator
    commune: str | None = None  # DOITHOAI_COMMUNE: whose the queue's messages on bots named without a commune are


def console(request: Request) -> Console:
    return request.app.state.console


# ------------------------------------------------------------------ formatting for templates


def _local(value: datetime, tz: str | None) -> datetime:
    return local(value, tz or "Asia/Ho_Chi_Minh")


def fmt_when(value: datetime | None, tz: str | None = None) -> str:
    """dd/mm/yyyy HH:MM in the commune's timezone."""
    return "" if value is None else f"{fmt_day(value, tz)} {fmt_time(value, tz)}"


def fmt_day(value: date | datetime | None, tz: str | None = None) -> str:
    """dd/mm/yyyy (a datetime is taken in the commune's timezone)."""
    if value is None:
        return ""
    return day(_local(value, tz) if isinstance(value, datetime) else value)  # type: ignore[arg-type]


def fmt_time(value: datetime | None, tz: str | None = None) -> str:
    return "" if value is None else time(_local(value, tz))


def fmt_weekday(value: datetime, tz: str | None = None) -> str:
    """"Thứ Năm", in the console's language."""
    return weekday(_local(value, tz), "vi")


def fmt_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # 1.234, as Vietnamese write it


def percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _environment(tr: Translator) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=fmt_when, day=fmt_day, time=fmt_time, weekday=fmt_weekday, number=fmt_number)
    env.globals.update(percent=percent, t=tr, zip=zip)
    return env


# ------------------------------------------------------------------ sessions, sign-in, CSRF


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def posted(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's; otherwise BadForm (403)."""
    try:
        form = await request.form(max_files=2, max_fields=50)
    except Exception:  # a malformed body is refused like a missing token
        raise BadForm() from None
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise BadForm()
    return form


def _session_key(token: str) -> str:
    """What the database keeps of a session's token: its SHA-256, which opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(uow: UnitOfWork, staff_id: int, now: datetime) -> str:
    """A new server-side session for this staff member; the token its cookie will carry."""
    await uow.sessions.forget_expired(now)  # sign-ins are rare: the table never holds more than live sessions
    token = secrets.token_urlsafe(32)
    await uow.sessions.open(_session_key(token), staff_id, now, now + SESSION_IDLE)
    return token


async def signed_in(request: Request) -> Actor:
    """The staff member of this session, as the services' Actor; LoginRequired when there is none.

    The session is the database's row, not the cookie: logging out, a new password or the staff
    member's removal deletes it, and a copy of the cookie opens nothing from then on.
    """
    c = console(request)
    token = request.session.get("sid")
    if not isinstance(token, str):
        raise LoginRequired()
    key, now = _session_key(token), c.clock()
    async with UnitOfWork(c.db, readonly=True) as uow:
        session = await uow.sessions.get(key)
        staff = await uow.staff.get(session.staff_id) if session is not None and session.expires_at > now else None
        if session is None or staff is None or staff.password_hash is None:
            request.session.clear()
            raise LoginRequired()
        actor = await actor_for(uow, staff)
    if now - session.last_seen_at >= TOUCH_EVERY:  # not a write on every page: idle time is kept to the minute
        async with UnitOfWork(c.db) as uow:
            await uow.sessions.touch(key, now, now + SESSION_IDLE)
            await uow.commit()
    request.state.actor = actor
    return actor


def sign_in(request: Request, token: str) -> None:
    request.session.clear()  # nothing from before sign-in carries over, the CSRF token included
    request.session.update(sid=token, csrf=secrets.token_urlsafe(32))


async def sign_out(request: Request) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        async with UnitOfWork(console(request).db) as uow:
            await uow.sessions.end(_session_key(token))
            await uow.commit()
    request.session.clear()


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def _pop_flashes(request: Request) -> list[list[str]]:
    return request.session.pop("flash", None) or []


def safe_next(target: str | None) -> str:
    """Only a path on this site: never //other.host or a full URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ------------------------------------------------------------------ rendering


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    c = console(request)
    context.setdefault("actor", getattr(request.state, "actor", None))
    html = c.templates.get_template(name).render(
        request=request, csrf=csrf_token(request), flashes=_pop_flashes(request), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _error_page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, text=text)


# ------------------------------------------------------------------ security headers


def _secure(header: bytes) -> bytes:
    """A Set-Cookie header with the Secure attribute, which it may have already."""
    attributes = [part.strip().lower() for part in header.split(b";")[1:]]
    return header if b"secure" in attributes else header + b"; secure"


class SecurityHeaders:
    """No framing, no inline scripts or styles, no caching of pages that carry residents' data;
    cookies sent over HTTPS only, when the request came over HTTPS (uvicorn takes the scheme from
    the trusted proxy's X-Forwarded-Proto)."""

    CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, _secure(v) if https and k.lower() == b"set-cookie" else v) for k, v in message.get("headers", [])]
                headers += [
                    (b"content-security-policy", self.CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


# ------------------------------------------------------------------ the application


def create_app(
    db: Database, *, secret_key: str, clock: Callable[[], datetime] = utcnow, https_only: bool = False, page_size: int = PAGE_SIZE,
    commune: str | None = None,
) -> FastAPI:
    """The console for `db`. `secret_key` signs the session cookie; `clock` is the time the services are told;
    `commune` is the code of the commune the deployment's own bots serve (DOITHOAI_COMMUNE).
    `https_only`: the cookie is marked Secure whatever the request's scheme (DOITHOAI_WEB_HTTPS)."""
    if len(secret_key) < 16:
        raise ValueError("secret_key: at least 16 characters")
    from bot.entrypoints.web import pages

    tr = Translator("vi")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = Console(db=db, clock=clock, secret_key=secret_key, page_size=page_size, templates=_environment(tr), tr=tr,
                                  commune=commune)
    app.add_middleware(
        SessionMiddleware, secret_key=secret_key, session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE, same_site="lax",
        https_only=https_only,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)

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
        return _error_page(request, 404, tr("web.error.not_found_title"), tr("web.error.not_found"))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error_page(request, 404, tr("web.error.not_found_title"), tr("web.error.not_found"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_page(request, 404, tr("web.error.not_found_title"), tr("web.error.not_found"))
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
                             commune=getattr(settings, "commune", None))
            # No access log: URLs carry search terms, which can be residents' names.
            config = uvicorn.Config(app, host=host, port=port, access_log=False, proxy_headers=True, server_header=False)
            await uvicorn.Server(config).serve()
        finally:
            await db.dispose()

    asyncio.run(go())
