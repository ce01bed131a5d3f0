"""Staff, their roles and what each may do; every staff action lands in the audit log.

Roles:
- admin: everything, including managing staff;
- secretariat (Văn phòng Đảng ủy, Mặt trận): meetings, submissions, answers, publication, notices;
- village_head (trưởng thôn, tổ trưởng TDP): notices and paper forms for their own villages only;
- department (phòng chuyên môn): sees and answers only what was assigned to it.

Checks happen here, on the server side, whatever door the action came through (CLI, bot, web).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.domain.channels import ZALO_PLATFORMS, platform_of, staff_binding
from bot.domain.errors import ServiceError
from bot.domain.messages import number
from bot.domain.staff import ROLES, Role
from storage.models import AuditEntry, Staff, StaffVillage
from storage.uow import UnitOfWork, commits

ADMIN, SECRETARIAT, VILLAGE_HEAD, DEPARTMENT = Role.ADMIN, Role.SECRETARIAT, Role.VILLAGE_HEAD, Role.DEPARTMENT
LOCK_AFTER = 5  # failed logins in a row
LOCK_FOR = timedelta(minutes=15)
# What an audit row keeps: the columns' sizes, and a bound on any text in before/after, which
# can come from a request (a refused path, a reason).
AUDIT_LABEL_MAX, AUDIT_ACTION_MAX, AUDIT_TARGET_MAX = 200, 64, 200
AUDIT_TEXT_MAX = 10_000
ANONYMOUS = "web:anonymous"

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


class StaffError(ServiceError, ValueError):
    """A staff-management request that cannot be done; the message says why."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member, or the operator at the command line (who has admin rights there)."""

    label: str
    staff: Staff | None = None
    village_ids: frozenset[int] = frozenset()

    @property
    def role(self) -> str:
        return self.staff.role if self.staff else ADMIN

    @property
    def commune_id(self) -> int | None:
        """The only commune whose meetings and submissions this person sees; None: every commune."""
        return self.staff.commune_id if self.staff else None

    def may_see_commune(self, commune_id: int) -> bool:
        return self.commune_id is None or self.commune_id == commune_id

    def may_manage_staff(self) -> bool:
        return self.role == ADMIN

    def may_run_meetings(self) -> bool:
        return self.role in (ADMIN, SECRETARIAT)

    def may_act_for_village(self, village_id: int) -> bool:
        if self.role in (ADMIN, SECRETARIAT):
            return True
        return self.role == VILLAGE_HEAD and village_id in self.village_ids

    def may_answer(self, department: str | None) -> bool:
        if self.role in (ADMIN, SECRETARIAT):
            return True
        return self.role == DEPARTMENT and department is not None and self.staff is not None and department == self.staff.department


OPERATOR = Actor(label="cli")


async def actor_for(uow: UnitOfWork, staff: Staff) -> Actor:
    assert staff.id is not None
    villages = frozenset(link.village_id for link in await uow.staff.villages_of(staff.id))
    return Actor(label=f"staff:{staff.id}:{staff.name}", staff=staff, village_ids=villages)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _capped(value: Any) -> Any:
    if isinstance(value, str):
        return _cap(value, AUDIT_TEXT_MAX)
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_capped(v) for v in value]
    return value


async def audit(uow: UnitOfWork, actor: Actor, action: str, target: str, *, before: Any = None, after: Any = None, now: datetime) -> None:
    """Every audit row is written here, and nothing longer than its bounds is kept."""
    uow.staff.add(AuditEntry(at=now, actor=_cap(actor.label, AUDIT_LABEL_MAX), action=_cap(action, AUDIT_ACTION_MAX),
                             target=_cap(target, AUDIT_TARGET_MAX), before=_capped(before), after=_capped(after)))


async def audit_counted(uow: UnitOfWork, actor: Actor, action: str, target: str, *, after: dict[str, Any], now: datetime) -> None:
    """An event anyone can repeat at will (a refused anonymous request, a locked account's sign-in):
    one row per minute, stamped with the minute's start, counts them in its "count". A flood then
    costs a row a minute, and the operator still sees when it happened and how big it was."""
    label, action, target = _cap(actor.label, AUDIT_LABEL_MAX), _cap(action, AUDIT_ACTION_MAX), _cap(target, AUDIT_TARGET_MAX)
    minute = now.replace(second=0, microsecond=0)
    entry = await uow.staff.counted_entry(label, action, target, minute)
    if entry is None:
        await audit(uow, actor, action, target, after={**after, "count": 1}, now=minute)
        await uow.flush()  # the next one in this unit of work finds it
    else:
        entry.after = {**(entry.after or {}), "count": int((entry.after or {}).get("count", 1)) + 1}


def _clean_zalo(zalo_id: str | None, zalo_channel: str | None) -> tuple[str | None, str | None]:
    """A Zalo user id (Zalo's ids are strings: hex or digits) and the bot it belongs to: "zalo" (the
    Zalo bot, the default) or "zalo_oa", or a commune's own ("zalo:TP")."""
    zalo_id = (zalo_id or "").strip() or None
    if zalo_id is None:
        if zalo_channel:
            raise StaffError("problem.staff.zalo_channel_alone")
        return None, None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", zalo_id):
        raise StaffError("problem.staff.bad_zalo_id", zalo_id=zalo_id)
    zalo_channel = (zalo_channel or "zalo").strip()
    platform, _, code = zalo_channel.partition(":")
    if platform not in ZALO_PLATFORMS or (code and not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", code)):
        raise StaffError("problem.staff.bad_zalo_channel", channel=zalo_channel)
    return zalo_id, zalo_channel


def staff_address(staff: Staff) -> tuple[str, str] | None:
    """Where the bot writes to a staff member: (channel, chat id) on the bot they last wrote to as staff,
    by the id they have there; else by whichever id they have (Telegram first). None: no chat at all."""
    last = staff.channel or ""
    if staff.zalo_id and staff_binding(last) == "zalo":
        return last, staff.zalo_id
    if staff.telegram_id and staff_binding(last) == "telegram":
        return last, staff.telegram_id
    if staff.telegram_id:
        return "telegram", staff.telegram_id
    if staff.zalo_id:
        return staff.zalo_channel or "zalo", staff.zalo_id
    return None


# One-time codes with which a staff member links their own Zalo account: the console (or `doithoai staff
# link-code`) shows one, they send it to the Zalo bot or OA. No 0/O, 1/I/L: read off a screen and typed.
LINK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LINK_CODE_FOR = timedelta(hours=24)
LINK_TRIES = 5  # refused codes a chat may send…
LINK_WINDOW = timedelta(hours=1)  # …in this long: 31^8 codes cannot be guessed at that pace
LINK_CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}", re.IGNORECASE)  # a message of this shape alone is a code


def normal_code(text: str) -> str:
    """A code as typed ("k7mx 29qp", "K7MX-29QP") as stored ("K7MX29QP")."""
    return re.sub(r"[\s\-–.]", "", text).upper()


def shown_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@commits
async def link_code(uow: UnitOfWork, actor: Actor, staff_id: int, now: datetime) -> tuple[str, datetime]:
    """A new one-time code for staff member `staff_id` (replacing an earlier one), as shown ("K7MX-29QP"),
    and when it expires. An admin makes one for anyone; a staff member for themself."""
    staff = await uow.staff.get(staff_id)
    own = actor.staff is not None and actor.staff.id == staff_id
    if not (actor.may_manage_staff() or own):
        raise StaffError("problem.staff.admin_only")
    if staff is None:
        raise StaffError("problem.staff.not_found", ident=str(staff_id))
    code = "".join(secrets.choice(LINK_ALPHABET) for _ in range(8))
    staff.link_code, staff.link_code_expires_at = code, now + LINK_CODE_FOR
    # Never the code itself: the log is read by more people than the one it is for.
    await audit(uow, actor, "staff.link_code", f"staff {staff_id}", after={"expires_at": staff.link_code_expires_at.isoformat()}, now=now)
    return shown_code(code), staff.link_code_expires_at


@dataclass(frozen=True)
class Linked:
    outcome: str  # "linked" | "wrong" (no such code) | "expired" | "taken" (the Zalo id is someone else's) | "too_many"
    staff: Staff | None = None


async def _link_refusals(uow: UnitOfWork, label: str, now: datetime) -> int:
    return sum(int((e.after or {}).get("count", 1)) for e in await uow.staff.audit_since("staff.link_refused", now - LINK_WINDOW)
               if e.actor == label)


async def link_zalo(uow: UnitOfWork, code: str, *, channel: str, user_id: str, now: datetime) -> Linked:
    """Bind the Zalo user who sent `code` on `channel` to the staff member the code was made for, and use
    the code up. Refusals change nothing but their count: a chat refused `LINK_TRIES` times in
    `LINK_WINDOW` is refused without looking at what it sends. Not committed (the conversation's update is)."""
    who = Actor(label=f"{platform_of(channel)}:{user_id}")
    if await _link_refusals(uow, who.label, now) >= LINK_TRIES:
        return Linked("too_many")
    code = normal_code(code)
    staff = await uow.staff.by_link_code(code) if re.fullmatch(r"[A-Z2-9]{8}", code) else None
    outcome = "wrong" if staff is None else "expired" if staff.link_code_expires_at is None or staff.link_code_expires_at <= now else None
    if outcome is None and staff is not None:
        bound = await uow.staff.by_zalo(user_id)
        if bound is not None and bound.id != staff.id:
            outcome = "taken"
    if outcome is not None or staff is None:
        await audit_counted(uow, who, "staff.link_refused", f"zalo {channel}", after={"reason": outcome}, now=now)
        return Linked(outcome or "wrong")
    assert staff.id is not None
    before = {"zalo_id": staff.zalo_id, "zalo_channel": staff.zalo_channel}
    staff.zalo_id, staff.zalo_channel, staff.channel = user_id, channel, channel
    staff.link_code = staff.link_code_expires_at = None
    await audit(uow, Actor(label=f"staff:{staff.id}:{staff.name}", staff=staff), "staff.link_zalo", f"staff {staff.id}",
                before=before, after={"zalo_id": user_id, "zalo_channel": channel}, now=now)
    return Linked("linked", staff)


def _clean_login(login: str | None) -> str | None:
    if login is None:
        return None
    login = login.strip().lower()
    if not re.fullmatch(r"[a-z0-9._-]{3,64}", login):
        raise StaffError("problem.staff.bad_login", login=login)
    return login


def describe(staff: Staff, villages: list[str]) -> dict[str, Any]:
    return {
        "id": staff.id,
        "name": staff.name,
        "role": staff.role,
        "villages": villages,
        "department": staff.department,
        "commune_id": staff.commune_id,
        "telegram_id": staff.telegram_id,
        "zalo_id": staff.zalo_id,
        "zalo_channel": staff.zalo_channel,
        "login": staff.login,
        "has_password": staff.password_hash is not None,
    }


async def staff_listing(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Every staff member, described as the audit log describes them: who manages staff sees them all."""
    if not actor.may_manage_staff():
        raise StaffError("problem.staff.admin_only")
    return [describe(s, await uow.staff.village_names(s.id)) for s in await uow.staff.all()]  # type: ignore[arg-type]


async def audit_listing(uow: UnitOfWork, actor: Actor, limit: int) -> list[dict[str, Any]]:
    """The `limit` latest audit rows: who manages staff is who checks what staff did."""
    if not actor.may_manage_staff():
        raise StaffError("problem.staff.admin_only")
    return [
        {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target, "before": e.before, "after": e.after}
        for e in await uow.staff.audit_log(limit)
    ]


@commits
async def add_staff(
    uow: UnitOfWork,
    *,
    name: str,
    role: str,
    villages: list[str] = (),  # type: ignore[assignment]
    department: str | None = None,
    telegram_id: str | None = None,
    login: str | None = None,
    commune: str | None = None,
    zalo_id: str | None = None,
    zalo_channel: str | None = None,
    actor: Actor,
    now: datetime,
) -> Staff:
    """`commune`: the code of the only commune they work for; without it, a village head's is that
    of their villages, and anyone else's is every commune of the deployment."""
    if not actor.may_manage_staff():
        raise StaffError("problem.staff.admin_only")
    if role not in ROLES:
        raise StaffError("problem.staff.bad_role", role=role, roles=", ".join(ROLES))
    name = " ".join(name.split())
    if not 2 <= len(name) <= 200:
        raise StaffError("problem.staff.bad_name")
    if role == VILLAGE_HEAD and not villages:
        raise StaffError("problem.staff.head_needs_village")
    if role != VILLAGE_HEAD and villages:
        raise StaffError("problem.staff.village_for_heads")
    if role == DEPARTMENT and not (department or "").strip():
        raise StaffError("problem.staff.department_needs_name")
    if role != DEPARTMENT and department:
        raise StaffError("problem.staff.department_for_departments")
    if telegram_id is not None and not re.fullmatch(r"\d{1,20}", telegram_id.strip()):
        raise StaffError("problem.staff.bad_telegram_id", telegram_id=telegram_id)
    zalo_id, zalo_channel = _clean_zalo(zalo_id, zalo_channel)
    login = _clean_login(login)
    if zalo_id and await uow.staff.by_zalo(zalo_id):
        raise StaffError("problem.staff.zalo_taken", zalo_id=zalo_id)
    if telegram_id and await uow.staff.by_telegram(telegram_id.strip()):
        raise StaffError("problem.staff.telegram_taken", telegram_id=telegram_id)
    if login and await uow.staff.by_login(login):
        raise StaffError("problem.staff.login_taken", login=login)
    commune_id = None
    if commune is not None:
        found_commune = await uow.communes.by_code(commune.strip().upper())
        if found_commune is None:
            raise StaffError("problem.staff.no_commune", code=commune)
        commune_id = found_commune.id
    village_ids, village_communes = [], set()
    for village_name in villages:
        matches = await uow.staff.villages_named(" ".join(village_name.split()), commune_id)
        if not matches:
            raise StaffError("problem.staff.no_village", village=village_name)
        if len(matches) > 1:
            raise StaffError("problem.staff.village_ambiguous", village=village_name)
        village_ids.append(matches[0].id)
        village_communes.add(matches[0].commune_id)
    if len(village_communes) > 1:
        raise StaffError("problem.staff.villages_one_commune")
    if commune_id is None and village_communes:
        commune_id = village_communes.pop()
    staff = uow.staff.add(
        Staff(name=name, role=role, department=(department or "").strip() or None, telegram_id=(telegram_id or "").strip() or None,
              login=login, commune_id=commune_id, zalo_id=zalo_id, zalo_channel=zalo_channel, created_at=now)
    )
    await uow.flush()
    assert staff.id is not None
    for village_id in village_ids:
        uow.staff.add(StaffVillage(staff_id=staff.id, village_id=village_id))
    await audit(uow, actor, "staff.add", f"staff {staff.id}", after=describe(staff, [" ".join(v.split()) for v in villages]), now=now)
    return staff


@commits
async def remove_staff(uow: UnitOfWork, ident: str, *, actor: Actor, now: datetime) -> Staff:
    if not actor.may_manage_staff():
        raise StaffError("problem.staff.admin_only")
    staff = await find(uow, ident)
    assert staff.id is not None
    before = describe(staff, await uow.staff.village_names(staff.id))
    await uow.sessions.end_for(staff.id)  # signed in on the console: out at once, as after a new password
    await uow.staff.remove(staff)
    await audit(uow, actor, "staff.remove", f"staff {staff.id}", before=before, now=now)
    return staff


async def find(uow: UnitOfWork, ident: str) -> Staff:
    """By id, login or Telegram id."""
    ident = ident.strip()
    staff = None
    staff_id = number(ident)
    if staff_id is not None:
        staff = await uow.staff.get(staff_id) or await uow.staff.by_telegram(ident)
    elif ident.isascii() and ident.isdigit():  # a Telegram id longer than any of our ids
        staff = await uow.staff.by_telegram(ident)
    staff = staff or await uow.staff.by_login(ident.lower())
    if staff is None:
        raise StaffError("problem.staff.not_found", ident=ident)
    return staff


@commits
async def set_password(uow: UnitOfWork, login: str, password: str, *, actor: Actor, now: datetime) -> None:
    if not actor.may_manage_staff():
        raise StaffError("problem.staff.admin_only_passwords")
    staff = await uow.staff.by_login(login.strip().lower())
    if staff is None:
        raise StaffError("problem.staff.no_login", login=login)
    if len(password) < 10:
        raise StaffError("problem.staff.short_password")
    staff.password_hash = _hasher.hash(password)
    staff.failed_logins, staff.locked_until = 0, None
    assert staff.id is not None
    await uow.sessions.end_for(staff.id)  # whoever was signed in with the old one is out at once
    await audit(uow, actor, "staff.password", f"staff {staff.id}", now=now)  # never the password or its hash


@commits
async def check_login(uow: UnitOfWork, login: str, password: str, *, now: datetime) -> Staff | None:
    """The staff member, or None (unknown login, wrong password, locked). Failures count towards a lock-out.

    The attempt is counted, and the account's row held, before the password is checked: attempts
    sent all at once take turns, the fifth failure locks the account, and every later one, the
    right password included, is refused without checking anything. Commits.
    """
    login = login.strip().lower()
    staff = await uow.staff.count_login_attempt(login, now)
    if staff is None:
        found = await uow.staff.by_login(login)
        if found is None or found.password_hash is None:
            await asyncio.to_thread(_hasher.hash, password)  # the same work as a wrong password: timing tells nothing
            # Never the login typed: it may be a mistyped password, and anyone can vary it.
            await audit_counted(uow, Actor(label=ANONYMOUS), "login.refused", "login (unknown)", after={"reason": "unknown login"}, now=now)
            return None
        who = Actor(label=f"staff:{found.id}:{found.name}", staff=found)
        await audit_counted(uow, who, "login.refused", f"login {found.login}", after={"reason": "locked"}, now=now)
        return None
    # Sign-ins are staff actions too: who came in, who was refused, which account locked itself.
    who = Actor(label=f"staff:{staff.id}:{staff.name}", staff=staff)
    assert staff.password_hash is not None
    try:
        # Off the event loop: Argon2 is deliberately slow, and other requests go on meanwhile.
        await asyncio.to_thread(_hasher.verify, staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        reason = "wrong password"
        if staff.failed_logins >= LOCK_AFTER:
            staff.locked_until = now + LOCK_FOR
            staff.failed_logins = 0
            reason = "wrong password; locked"
        await audit(uow, who, "login.refused", f"login {staff.login}", after={"reason": reason}, now=now)
        return None
    await audit(uow, who, "login", f"login {staff.login}", now=now)
    staff.failed_logins, staff.locked_until = 0, None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = await asyncio.to_thread(_hasher.hash, password)
    return staff
