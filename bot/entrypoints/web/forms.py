"""Reading what a form or a query string sent, the same way on every page."""

from __future__ import annotations

from typing import Any

from bot.domain import validation as textrules
from bot.domain.messages import number

MAX_NAME = 200  # String(200) columns: answered_by, forwarded_to, department


def integer(value: Any) -> int | None:
    # Not int(): it takes "١٢", " 12" and "1_000", and a 30-digit page or id that PostgreSQL refuses with a 500.
    found = number(value) if isinstance(value, str) else None
    return found if found else None


def field(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def unreadable(*values: str) -> bool:
    """A NUL or another control character: shown back to staff with the form rather than stored (bot/domain/validation.py)."""
    return any(textrules.first_refused(v) is not None for v in values)
