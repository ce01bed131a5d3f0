"""The conversation core: one event in, replies out, state and outbox rows in one transaction.

Channels call `Conversation.handle(event)` and then deliver the queued replies. A redelivered
update is recognised and changes nothing; an unexpected error rolls everything back and the
resident gets an apology instead of silence.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Awaitable, Callable

from bot.conversation.context import Context
from bot.conversation.flows import (
    consent,
    feedback,
    forget,
    help,
    meeting_card,
    my_questions,
    notices,
    registration,
    staff_link,
    village_head,
)
from bot.domain import callbacks
from bot.domain import staff as staff_words
from bot.domain.channels import commune_code, platform_of, staff_binding, traits
from bot.domain.choices import Choice, pick
from bot.domain.messages import Event, Kind, Outcome, Reply
from bot.domain.outbox import Claim, Purpose
from bot.services.outbox import enqueue
from bot.text.catalogue import Translator, pick_language
from bot.text.formatting import fold
from storage.db import Database
from storage.models import Resident, Staff, utcnow
from storage.repositories.base import NeedsSession, NotTheUpdate
from storage.uow import BareWork, UnitOfWork

log = logging.getLogger(__name__)

# Commands in Vietnamese and English, as registered with the platform.
COMMANDS = {
    "start": "start",
    "dangky": "register", "register": "register",
    "lichhop": "meeting", "meeting": "meeting",
    "cauhoi": "my", "my": "my",
    "huy": "cancel", "cancel": "cancel",
    "trogiup": "help", "help": "help",
    "xoadulieu": "forget", "forget": "forget",
    "tatthongbao": "notices_off", "notices_off": "notices_off",
    "batthongbao": "notices_on", "notices_on": "notices_on",
    **staff_words.COMMANDS,
}
STAFF_COMMANDS = set(staff_words.COMMANDS.values())
# Plain words that act as commands when they are the whole message (folded: any case, with or
# without diacritics), for people who type rather than tap and on channels without a command menu.
WORDS = {
    "bat dau": "start", "dang ky": "register", "dang ky phat bieu": "register", "lich hop": "meeting",
    "cau hoi": "my", "cau hoi cua toi": "my", "huy": "cancel", "huy bo": "cancel", "tro giup": "help",
    "huong dan": "help", "xoa du lieu": "forget", "tat thong bao": "notices_off", "bat thong bao": "notices_on",
    **{name: command for name, command in COMMANDS.items() if command not in STAFF_COMMANDS},
}
# The staff's commands as plain words, for staff only (a resident typing them gets what any text gets):
# on Zalo there is no command menu, and "thong bao" is easier to type than "/thongbao".
STAFF_WORDS = {
    "thong bao": "village_notice", "gui thong bao": "village_notice", "nhap phieu": "paper_form", "nhap phieu giay": "paper_form",
    "thon": "village_figures", "so lieu thon": "village_figures", "ban giao": "handover",
    **{name: command for name, command in staff_words.COMMANDS.items()},
}
# What waits for a person who could not be reached (blocked the bot, outside the Zalo OA's window)
# and goes out when they write again; notices and reminders are stale by then.
KEPT_FOR_LATER = (Purpose.ANSWER, Purpose.SUMMARY, Purpose.CHANGE)
# The main menu's buttons arrive as their label text, in whichever language they were shown.
MENU = {"menu.register": "register", "menu.meeting": "meeting", "menu.my": "my", "menu.help": "help"}


@dataclass
class Handled:
    outcome: Outcome
    claimed: bool = False  # a claim was tried in the transaction (see `head`)
    head: Any = None  # then: the chat's next message, claimed; None: nothing to send, or another worker sends it


class Conversation:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow, *, commune: str | None = None) -> None:
        self.db = db
        self.clock = clock
        # The commune of the bots named by their platform alone ("telegram"); a commune's own bots
        # carry its code ("telegram:TP"). None: the database's only commune.
        self.commune = commune
        # Kinds of update (`_kind_of`) found to need an ORM session: the button that stores a
        # submission, consent that makes a resident.
        self._needed_session: set[tuple] = set()

    async def handle(self, event: Event, claim: Claim | None = None) -> Handled:
        try:
            async with self.db.transactions or nullcontext():
                return await self._handle(event, claim)
        except Exception:
            # Never the message text: it is personal data.
            log.exception("handling %s update %s on %s failed", event.kind.value, event.update_id, event.channel)
            return await self._apologise(event)

    async def _handle(self, event: Event, claim: Claim | None) -> Handled:
        kind = _kind_of(event)
        if traits(event.channel).buttons and kind not in self._needed_session:
            # Most updates (a step of the form, a menu, the meeting card) need no ORM session, which
            # costs more than their statements: tried without one first (`BareWork`).
            try:
                return await self.db.write(lambda connection: self._decide(BareWork(self.db, connection), event, claim))
            except NeedsSession as exc:
                # It does (a submission to store, a new resident, staff work): rolled back, and again
                # with one. Updates of this kind start with one from now on, rather than twice
                # (unless the need was not the update's: staff, or reference data not read yet).
                if not isinstance(exc, NotTheUpdate) and len(self._needed_session) < 100:
                    self._needed_session.add(kind)
        async with UnitOfWork(self.db, grouped=True) as uow:
            handled = await self._decide(uow, event, claim)
            if not handled.outcome.duplicate:
                await uow.commit()
            return handled

    async def _decide(self, uow: UnitOfWork | BareWork, event: Event, claim: Claim | None) -> Handled:
        """The update's work in `uow`, not committed: the record that it was handled, the resident's
        state, what the flows did, the replies queued, and the chat claimed for the sender."""
        if event.update_id is not None and not await uow.updates.first_time(event.channel, event.update_id):
            return Handled(Outcome(duplicate=True))
        resident, staff = await _person(uow, event)
        lang = resident.language if resident and not event.language else pick_language(event.language)
        buttons = traits(event.channel).buttons
        ctx = Context(
            uow=uow, event=event, tr=Translator(lang, typed=not buttons), now=self.clock(), resident=resident, staff=staff,  # type: ignore[arg-type]
            commune_code=commune_code(event.channel) or self.commune,
        )
        if staff is not None and staff.commune_id is not None:
            # Another commune's staff member is, on this commune's bot, a resident like any other.
            commune = await ctx.commune()
            if commune is None or commune.id != staff.commune_id:
                ctx.staff = None
        if ctx.staff is not None and ctx.staff.channel != event.channel:
            ctx.staff.channel = event.channel  # where the bot writes to them from now on
        if resident is not None and resident.language != ctx.tr.lang:
            resident.language = ctx.tr.lang
        if resident is not None and resident.unreachable_at is not None:
            # They wrote again: the chat works again, and what they must not miss goes out now.
            resident.unreachable_at = None
            await uow.outbox.revive_chat(event.channel, event.chat_id, KEPT_FOR_LATER)
        with uow.one_transaction():
            if buttons or not await _typed_choice(ctx):
                await route(ctx)
        if not buttons:
            _without_buttons(ctx)
        if ctx.resident is not None:
            await uow.residents.keep(ctx.resident)
        # Kept (not forgotten once sent) for staff too: a head on Zalo answers its numbered choices.
        await self._queue(uow, event, ctx.out.replies, transient=ctx.resident is None and ctx.staff is None)
        head = await uow.outbox.claim_chat(event.channel, event.chat_id, utcnow(), claim.worker, claim.until) if claim else None
        return Handled(ctx.out, claimed=claim is not None, head=head)

    async def _apologise(self, event: Event) -> Handled:
        tr = Translator(pick_language(event.language))
        outcome = Outcome(toast=tr("error.generic") if event.kind == Kind.BUTTON else None)
        outcome.say(Reply(text=tr("error.generic")))
        async with UnitOfWork(self.db, grouped=True) as uow:
            if event.update_id is not None and not await uow.updates.first_time(event.channel, event.update_id):
                return Handled(Outcome(duplicate=True))
            await self._queue(uow, event, outcome.replies, transient=True)
            await uow.commit()
        return Handled(outcome)

    @staticmethod
    async def _queue(uow: UnitOfWork | BareWork, event: Event, replies: list[Reply], *, transient: bool) -> None:
        origin = event.update_id if event.update_id is not None else uuid.uuid4().hex
        for n, reply in enumerate(replies):
            await enqueue(
                uow, key=f"reply:{event.channel}:{event.chat_id}:{origin}:{n}", channel=event.channel,
                chat_id=event.chat_id, reply=reply, transient=transient,
            )


def _kind_of(event: Event) -> tuple:
    """What an update asks for, as far as it tells whether handling it needs an ORM session: the
    button's kind and choice, or the command; a step of the form typed as text is one kind."""
    if event.kind == Kind.BUTTON:
        pressed = callbacks.read(event.data or "")
        choice = getattr(pressed, "action", None) or getattr(pressed, "answer", None)
        return (event.kind, type(pressed).__name__, choice)
    return (event.kind, event.command)


async def _person(uow: UnitOfWork | BareWork, event: Event) -> tuple[Resident | None, Staff | None]:
    """Who wrote, as a resident and (where staff are known by their user id) as staff."""
    if not event.private:
        return None, None
    binding = staff_binding(event.channel)
    if binding == "zalo":
        # A Zalo id is bound to a staff member by `doithoai staff add --zalo-id` or by a link code.
        staff = await uow.staff.by_zalo(event.user_id)
        if staff is not None and platform_of(staff.zalo_channel or "zalo") != platform_of(event.channel):
            staff = None  # the same id on the other Zalo app is someone else
        return await uow.residents.find(event.channel, event.user_id), staff
    if binding is None:
        return await uow.residents.find(event.channel, event.user_id), None
    found = await uow.residents.find_with_staff(event.channel, event.user_id)
    if found is not None:
        return found
    return None, await uow.staff.by_telegram(event.user_id)


async def _typed_choice(ctx: Context) -> bool:
    """On a channel without buttons, read a typed "2" or "thon dong" as the choice it names (turning
    the event into that button press or menu entry). True when the event was answered here."""
    event = ctx.event
    if event.kind != Kind.TEXT or not event.private:
        return False
    if ctx.resident is None and ctx.staff is None:
        # Nothing is stored for someone who has not consented: the only choice they have is consent's.
        choices = consent.choices(ctx)
    else:
        choices = [Choice.from_dict(c) for c in await ctx.uow.choices.get(event.channel, event.chat_id)]
    picked = pick(event.text, choices)
    if picked.out_of_range:
        ctx.say(ctx.tr("choice.out_of_range", count=picked.out_of_range))
        return True
    if picked.choice is not None:
        if picked.choice.data is not None:
            ctx.event = replace(event, kind=Kind.BUTTON, data=picked.choice.data, text="")
        else:
            ctx.event = replace(event, text=picked.choice.text or picked.choice.label)
    return False


def _without_buttons(ctx: Context) -> None:
    """A button press's short answer becomes a message when nothing else answers it; there are no
    buttons to take off an old message."""
    replies = [r for r in ctx.out.replies if not r.retire_buttons_of]
    if ctx.out.toast and not any(r.text for r in replies):
        replies.append(Reply(text=ctx.out.toast))
    ctx.out.replies = replies


def _word_command(text: str) -> str | None:
    return WORDS.get(" ".join(fold(text).strip(" .!?/").split()))


def _menu_command(ctx: Context) -> str | None:
    text = ctx.event.text.strip()
    for key, command in MENU.items():
        if text in ctx.tr.all_labels(key):
            return command
    found = _word_command(text)
    if found is None and ctx.staff is not None:
        found = STAFF_WORDS.get(" ".join(fold(text).strip(" .!?/").split()))
    return found


async def route(ctx: Context) -> None:
    event = ctx.event
    if not event.private:
        await _group(ctx)
        return
    if staff_link.wanted(ctx):
        await staff_link.on_message(ctx)
        return
    if ctx.staff is not None and (ctx.staff.state or {}).get("flow"):
        ctx.staff_mode = True
        if await _staff_flow(ctx):
            return
        ctx.staff_mode = False
    if event.kind == Kind.BUTTON:
        await _button(ctx, event.data or "")
        return
    command = None
    if event.kind == Kind.COMMAND:
        command = COMMANDS.get(event.command or "", "unknown")
    elif event.kind == Kind.TEXT:
        command = _menu_command(ctx)
    if command is not None:
        await _command(ctx, command)
        return
    if ctx.resident is None:
        await _stranger(ctx)
    elif ctx.in_form:
        await registration.on_message(ctx)
    elif feedback.waiting(ctx):
        await feedback.on_message(ctx)
    elif event.kind == Kind.UNSUPPORTED:
        ctx.say(ctx.tr("idle.text_only"), keyboard=ctx.menu())
    else:
        ctx.say(ctx.tr("idle.use_menu"), keyboard=ctx.menu())


async def _group(ctx: Context) -> None:
    """In a group chat only commands get an answer, pointing to the private chat: no noise, no personal data."""
    if ctx.event.kind == Kind.BUTTON:
        ctx.toast(ctx.tr("group.use_private_short"))
    elif ctx.event.kind == Kind.COMMAND:
        link = ctx.event.bot_link or ""
        ctx.say(ctx.tr("group.use_private", link=link).strip())


async def _stranger(ctx: Context) -> None:
    """Someone who has not consented: they can read the meeting card and help, nothing else."""
    ctx.say(ctx.tr("consent.required"))
    await consent.ask(ctx)


async def _staff_flow(ctx: Context) -> bool:
    """A staff member in the middle of a paper form or a village notice; False to handle the event as a resident's."""
    event, flow = ctx.event, ctx.state.get("flow")
    command = COMMANDS.get(event.command or "", "unknown") if event.kind == Kind.COMMAND else _menu_command(ctx) if event.kind == Kind.TEXT else None
    if command in STAFF_COMMANDS:
        return await village_head.command(ctx, command)
    if command == "cancel":
        await village_head.abandon(ctx)
        ctx.say(ctx.tr("vh.cancelled"))
        return True
    if command is not None:
        ctx.say(ctx.tr("vh.busy"))
        return True
    if event.kind == Kind.BUTTON:
        pressed = callbacks.read(event.data or "")
        if isinstance(pressed, callbacks.VillageNotice):
            await village_head.on_button(ctx, pressed)
            return True
        if isinstance(pressed, callbacks.Form) and flow == "register":
            await registration.on_button(ctx, pressed)
            return True
        return False  # a resident's own button (consent, feedback…)
    if flow == "register":
        await registration.on_message(ctx)
    else:
        await village_head.on_message(ctx)
    return True


async def _command(ctx: Context, command: str) -> None:
    resident = ctx.resident
    feedback.leave(ctx)  # asked what is still unresolved, they chose something else: it stands without a text
    if command in STAFF_COMMANDS:
        if not await village_head.command(ctx, command):
            ctx.say(ctx.tr("command.unknown"), keyboard=ctx.menu() if resident else None)
        return
    if command == "start":
        if resident is None:
            await consent.greet(ctx, ctx.event.args)
            return
        village = await consent.village_from_payload(ctx, ctx.event.args)
        if village is not None and not ctx.in_form:
            await registration.start(ctx, preset_village=village)
            return
        found = await ctx.meeting()
        ctx.say(ctx.tr("start.welcome_back", commune=found[1].name if found else ""), keyboard=ctx.menu())
        await meeting_card.show(ctx)
    elif command == "meeting":
        await meeting_card.show(ctx, with_menu=resident is not None and not ctx.in_form)
    elif command == "help":
        await help.show(ctx)
        if ctx.staff is not None and ctx.staff.role in staff_words.COMMAND_ROLES and not traits(ctx.event.channel).buttons:
            ctx.say(ctx.tr("vh.help"))  # no command menu here: the head's commands are listed in the help
    elif command == "forget":
        await forget.ask(ctx)
        return
    elif resident is None and command == "my":
        # Someone erased (/xoadulieu) is a stranger again: nothing is kept to list, and no form is offered.
        ctx.say(ctx.tr("forget.nothing_here"))
        return
    elif resident is None:
        await _stranger(ctx)
        return
    elif command == "register":
        await registration.start(ctx)
        return
    elif command == "cancel":
        await registration.cancel(ctx)
        return
    elif command == "my":
        await my_questions.show(ctx)
    elif command in ("notices_on", "notices_off"):
        await notices.switch(ctx, command == "notices_on")
    else:
        ctx.say(ctx.tr("command.unknown"), keyboard=ctx.menu() if not ctx.in_form else None)
    if ctx.in_form:
        # A command mid-form answers, then puts the form's question back in front of the resident.
        await registration.prompt(ctx, ctx.tr("form.continue"))


# A resident's buttons and the flow each belongs to; the first two work before consent (or after erasure).
BUTTONS: dict[type[callbacks.Callback], Callable[[Context, Any], Awaitable[None]]] = {
    callbacks.Consent: consent.on_button,
    callbacks.Forget: forget.on_button,
    callbacks.Form: registration.on_button,
    callbacks.Withdraw: my_questions.on_button,
    callbacks.WithdrawYes: my_questions.on_button,
    callbacks.WithdrawNo: my_questions.on_button,
    callbacks.Feedback: feedback.on_button,
    callbacks.FollowupDone: feedback.on_button,
}
BEFORE_CONSENT = (callbacks.Consent, callbacks.Forget)


async def _button(ctx: Context, data: str) -> None:
    pressed = callbacks.read(data)
    handler = BUTTONS.get(type(pressed))
    if handler is None or (ctx.resident is None and not isinstance(pressed, BEFORE_CONSENT)):
        # A button of an old message, of a flow the person is not in, or no button of ours.
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    await handler(ctx, pressed)
