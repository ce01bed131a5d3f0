"""A queued message's state and purpose: the outbox's words, shared by who queues, who sends and who counts.

pending ──sent──▶ sent
   │ ──the platform refuses for good, or retries run out──▶ failed   (staff may retry: back to pending)
   └ ──the person blocked the bot / left the OA's window──▶ unreachable  (back to pending when they write again)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Delivery(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class Purpose(StrEnum):
    """Why a message was queued (the outbox's `kind` column): it orders the queue and the status reports."""

    REPLY = "reply"  # to what a person just did
    ANSWER = "answer"
    CHANGE = "change"  # the meeting's time or venue changed
    SUMMARY = "summary"  # the conclusion's summary
    DOCUMENT = "document"  # the conclusion's document
    NOTICE = "notice"
    VILLAGE_NOTICE = "village_notice"  # a village head's, to their village
    REMINDER = "reminder"


# Higher goes first: what a person is waiting for now, then answers, then broadcasts.
PRIORITY = {Purpose.REPLY: 30, Purpose.ANSWER: 20, Purpose.CHANGE: 15, Purpose.SUMMARY: 12, Purpose.DOCUMENT: 12,
            Purpose.NOTICE: 10, Purpose.VILLAGE_NOTICE: 10, Purpose.REMINDER: 10}


@dataclass(frozen=True)
class Claim:
    """Which sender will send a chat's replies at once, and until when: the sender (bot/delivery/sender.py)
    makes it, and the conversation claims the chat with it in the replies' own transaction, so no
    other sender ever sees those messages unclaimed."""

    worker: str
    until: datetime
