"""The meeting day, as rules that need no database: the speakers' list and what the hall counts.

The list holds the registrants who asked to speak, in the order they registered, unless the
secretariat moved someone; and the questions taken from the floor. Each speaker is waiting, called
(at the microphone now), has spoken, or was absent when called:

waiting ──call──▶ called ──▶ spoke
   ▲                 │
   └──── back ───────┴──────▶ absent ──call──▶ called (arrived late)

Only one speaker is "called" at a time: calling the next one marks the one at the microphone as
having spoken, and whoever is called takes their place after those already called, so that the list
is also the order in which people spoke. The chair may end the list; nobody more is called from it after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Iterable, Sequence

# A question taken from the floor: no chat, no form, the secretary typed it in during the meeting.
HALL = "hall"


class Turn(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SPOKE = "spoke"
    ABSENT = "absent"


TURNS: tuple[Turn, ...] = tuple(Turn)


def turn_of(stored: str | None) -> Turn:
    """The stored column is empty until the speaker's turn comes."""
    return Turn(stored) if stored in TURNS else Turn.WAITING


@dataclass(frozen=True)
class Place:
    """What ordering needs of one speaker."""

    id: int
    position: int | None  # where the secretariat put them; None: their registration's order
    registered_at: datetime


def in_order(places: Iterable[Place]) -> list[Place]:
    """Those the secretariat placed, by their place; everyone else after them, in the order they registered."""
    return sorted(places, key=lambda p: (p.position is None, p.position or 0, p.registered_at, p.id))


def moved(order: Sequence[int], who: int, to: int) -> list[int]:
    """The list's ids with `who` at index `to` (clamped to the list)."""
    if who not in order:
        raise ValueError(who)
    rest = [i for i in order if i != who]
    to = max(0, min(to, len(rest)))
    return rest[:to] + [who] + rest[to:]


def called(speakers: Sequence[tuple[int, Turn]], who: int) -> list[int]:
    """The list's ids, (id, turn) in the list's order, once `who` is called: right after everyone who
    was called, spoke or was absent, ahead of those still waiting. Called out of turn (or late, after
    being absent), a speaker moves to where they spoke, so the list stays the order of the day."""
    rest = [(i, turn) for i, turn in speakers if i != who]
    return [i for i, turn in rest if turn != Turn.WAITING] + [who] + [i for i, turn in rest if turn == Turn.WAITING]


def grouped_by_topic(speakers: Sequence[tuple[int, Turn, int]]) -> list[int]:
    """The list's ids, (id, turn, the topic's rank in the meeting) in the list's order, with those still
    waiting grouped by topic in the meeting's order of topics, each group in its own order. Whoever
    was called, spoke or was absent keeps their place ahead: the list is also the record of the day."""
    done = [i for i, turn, _ in speakers if turn != Turn.WAITING]
    waiting = sorted(((i, rank) for i, turn, rank in speakers if turn == Turn.WAITING), key=lambda pair: pair[1])
    return done + [i for i, _ in waiting]


@dataclass(frozen=True)
class HallCounts:
    """The figures at the top of the list, and in the minutes."""

    registered: int  # asked to speak when they registered
    spoke: int  # registered speakers and the floor's, who spoke
    from_floor: int
    absent: int
    answered_in_hall: int
    to_answer_later: int  # every live question not answered in the hall, written ones included


def counts(speakers: Sequence[tuple[str, Turn, bool]], live: Sequence[tuple[str, bool]]) -> HallCounts:
    """`speakers`: (channel, turn, answered in the hall) of each on the list; `live`: (channel,
    answered in the hall) of every live question of the meeting."""
    return HallCounts(
        registered=sum(1 for channel, _, _ in speakers if channel != HALL),
        spoke=sum(1 for _, turn, _ in speakers if turn == Turn.SPOKE),
        from_floor=sum(1 for channel, _, _ in speakers if channel == HALL),
        absent=sum(1 for _, turn, _ in speakers if turn == Turn.ABSENT),
        answered_in_hall=sum(1 for _, hall in live if hall),
        to_answer_later=sum(1 for _, hall in live if not hall),
    )
