"""What a flow sees while it handles one event: the event, the resident, the open meeting, the texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.messages import Button, Event, KeyButton, Outcome, Reply
from bot.text.catalogue import Translator
from storage.models import Commune, Meeting, Resident, Staff
from storage.uow import UnitOfWork

MENU_KEYS = (("menu.register", "menu.meeting"), ("menu.my", "menu.help"))


@dataclass
class Context:
    uow: UnitOfWork
    event: Event
    tr: Translator
    now: datetime
    resident: Resident | None
    staff: Staff | None = None
    # True while a staff member works in a staff flow (a paper form, a village notice): the
    # conversation state then lives with the staff member, not with any resident.
    staff_mode: bool = False
    # The code of the commune this bot serves (None: the database's only commune).
    commune_code: str | None = None
    out: Outcome = field(default_factory=Outcome)
    _meeting: tuple[Meeting, Commune] | None = None
    _meeting_loaded: bool = False
    _commune: Commune | None = None

    # --- the commune and its meeting ----------------------------------------------------
    async def commune(self) -> Commune | None:
        """The commune this bot serves: every meeting, village and figure a person sees is its own."""
        if self._commune is None:
            self._commune = await self.uow.reference.commune(self.commune_code)
        return self._commune

    async def meeting(self) -> tuple[Meeting, Commune] | None:
        if not self._meeting_loaded:
            self._meeting_loaded = True
            commune = await self.commune()
            meeting = await self.uow.reference.current_meeting(commune.id, self.now) if commune is not None and commune.id is not None else None
            if meeting is not None and commune is not None:
                self._meeting = (meeting, commune)
        return self._meeting

    def use_meeting(self, meeting: Meeting, commune: Commune) -> None:
        """Talk about this meeting (the one a form was started for) rather than the current one."""
        self._meeting, self._meeting_loaded = (meeting, commune), True

    def registration_open(self, meeting: Meeting) -> bool:
        return self.now <= meeting.registration_closes_at

    # --- the resident's stored state -------------------------------------------------
    @property
    def owner(self) -> Resident | Staff | None:
        """Whose conversation this is: the staff member in a staff flow, else the resident."""
        return self.staff if self.staff_mode else self.resident

    @property
    def state(self) -> dict[str, Any]:
        owner = self.owner
        return dict(owner.state or {}) if owner is not None else {}

    def set_state(self, state: dict[str, Any]) -> None:
        owner = self.owner
        assert owner is not None
        # A new dict, so SQLAlchemy sees the JSON column change.
        owner.state = dict(state)

    @property
    def paper(self) -> bool:
        """Filling in a paper form for a resident without a smartphone."""
        return self.staff_mode and self.state.get("paper", False)

    @property
    def in_form(self) -> bool:
        return self.state.get("flow") == "register"

    # --- replies ------------------------------------------------------------------
    def say(self, text: str, **kwargs: Any) -> Reply:
        reply = Reply(text=text, **kwargs)
        self.out.replies.append(reply)
        return reply

    def toast(self, text: str) -> None:
        self.out.toast = text

    def retire_buttons(self) -> None:
        """Take the buttons off the message just pressed, so an old choice cannot be pressed again."""
        if self.event.message_ref:
            self.out.replies.append(Reply(retire_buttons_of=self.event.message_ref))

    def menu(self) -> list[list[KeyButton]]:
        return [[KeyButton(self.tr(key)) for key in row] for row in MENU_KEYS]

    def button(self, key: str, data: str, **params: Any) -> Button:
        return Button(self.tr(key, **params), data)
