"""A submission's life, as rules that need no database: its receipt code and the statuses it moves through.

received ──answer──▶ answered          (the commune's answer, published with the conclusion)
    │    ──forward──▶ forwarded         (sent on to a higher level, with the date to expect news)
    └──withdraw──▶ withdrawn            (by the resident, only while nothing has been answered)

Answered and forwarded may be answered again (a correction); a withdrawn submission is final, and it
is left out of every count, list and message from then on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Status(StrEnum):
    # StrEnum: the stored column and the catalogue keys ("status.received") read the plain value.
    RECEIVED = "received"
    ANSWERED = "answered"
    FORWARDED = "forwarded"
    WITHDRAWN = "withdrawn"


# The order staff see them in (filters, exports, the report).
STATUSES: tuple[Status, ...] = tuple(Status)

# Where a resident's own question came in when no platform carried it: a village head typed in a paper form.
PAPER = "paper"


class Withdrawal(StrEnum):
    """What a resident's tap on "withdraw" meets."""

    ALLOWED = "allowed"
    ALREADY = "already"  # withdrawn before: nothing to do
    TOO_LATE = "too_late"  # answered or forwarded: the record stays


def receipt_code(commune_code: str, number: int) -> str:
    """"GP-0001": the commune's code and its submissions' running number, as written on the paper form."""
    return f"{commune_code}-{number:04d}"


def is_live(status: str) -> bool:
    """Counted, listed and answered: everything but a withdrawn question."""
    return status != Status.WITHDRAWN


def after_answer(forwarded: bool) -> Status:
    return Status.FORWARDED if forwarded else Status.ANSWERED


def withdrawal(status: str, *, registration_open: bool) -> Withdrawal:
    """A question may be taken back while it waits for an answer and registration is still open
    (after the cutoff the secretariat has it on its lists)."""
    if status == Status.WITHDRAWN:
        return Withdrawal.ALREADY
    if status == Status.RECEIVED and registration_open:
        return Withdrawal.ALLOWED
    return Withdrawal.TOO_LATE


class FollowedUp(Protocol):
    followup_at: datetime | None
    followup_closed_at: datetime | None


def followup_open(s: FollowedUp) -> bool:
    """"👎 Chưa hài lòng" was pressed and the secretariat has neither answered again nor closed it."""
    return s.followup_at is not None and s.followup_closed_at is None
