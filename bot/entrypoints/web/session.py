"""Who is signed in: the server-side session behind the console's cookie, the CSRF token every POST
carries, and the messages a page leaves for the next one.

The cookie only carries a random token; the database keeps the session (its SHA-256), so logging
out, a new password or a staff member's removal ends it, and a copy of the cookie opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Request
from starlette.datastructures import FormData

from bot.entrypoints.web.console import console
from bot.services.staff import Actor, actor_for, check_login
from storage.uow import UnitOfWork

SESSION_COOKIE = "doithoai_console"
SESSION_IDLE = timedelta(hours=8)  # a working day without activity signs the user out
SESSION_MAX_AGE = int(SESSION_IDLE.total_seconds())
TOUCH_EVERY = timedelta(minutes=1)


class LoginRequired(Exception):
    """No signed-in staff member: pages redirect to the sign-in form."""


class BadForm(Exception):
    """A POST without the session's CSRF token: refused with 403, nothing done."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def posted(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's; otherwise BadForm (403)."""
    try:
        form = await request.form(max_files=8, max_fields=50)  # an answer carries up to 5 files (more are refused by name)
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


async def _open_session(uow: UnitOfWork, staff_id: int, now: datetime) -> str:
    """A new server-side session for this staff member; the token its cookie will carry."""
    await uow.sessions.forget_expired(now)  # sign-ins are rare: the table never holds more than live sessions
    token = secrets.token_urlsafe(32)
    await uow.sessions.open(_session_key(token), staff_id, now, now + SESSION_IDLE)
    return token


async def signed_in(request: Request) -> Actor:
    """The staff member of this session, as the services' Actor; LoginRequired when there is none."""
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


async def sign_in(request: Request, login: str, password: object) -> bool:
    """A new session when the password is this login's; every attempt counts towards the lock-out."""
    c = console(request)
    token = None
    if login and isinstance(password, str) and password:
        async with UnitOfWork(c.db) as uow:
            staff = await check_login(uow, login, password, now=c.clock())  # commits: failures count towards the lock-out
            if staff is not None and staff.id is not None:
                token = await _open_session(uow, staff.id, c.clock())
                await uow.commit()
    if token is None:
        return False
    request.session.clear()  # nothing from before sign-in carries over, the CSRF token included
    request.session.update(sid=token, csrf=secrets.token_urlsafe(32))
    return True


async def sign_out(request: Request) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        async with UnitOfWork(console(request).db) as uow:
            await uow.sessions.end(_session_key(token))
            await uow.commit()
    request.session.clear()


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def pop_flashes(request: Request) -> list[list[str]]:
    return request.session.pop("flash", None) or []
