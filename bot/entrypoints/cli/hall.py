"""`doithoai hall …`: the meeting day's speakers' list from a terminal, through the same services as
the console's /meetings/<code>/speakers (bot/services/hall.py), for a secretary without the console
or a script that records the day."""

from __future__ import annotations

from typing import Any, Optional

import typer

from bot.entrypoints.cli.answers import _date
from bot.entrypoints.cli.common import as_operator, fail, show, tr
from bot.services.staff import Actor
from bot.text.formatting import fold
from storage.models import utcnow
from storage.uow import UnitOfWork

hall_group = typer.Typer(help=tr("cli.help.hall"), no_args_is_help=True)
MEETING = typer.Option(..., "--meeting", help=tr("cli.help.meeting"))
REF = typer.Argument(..., help=tr("cli.help.ref"))


def _refusals() -> tuple[type, ...]:
    from bot.services.answers import AnswerError
    from bot.services.hall import HallError

    return HallError, AnswerError


def _named(choices: list[tuple[int, str]], typed: str, what: str) -> int:
    """The id of the village or topic whose name was typed (any case, with or without diacritics)."""
    found = [id_ for id_, name in choices if fold(name) == fold(typed)]
    if len(found) != 1:
        fail(tr(f"cli.hall.no_{what}", name=typed, names=", ".join(name for _, name in choices)))
    return found[0]


@hall_group.command("list", help=tr("cli.help.hall_list"))
def hall_list(meeting: str = MEETING, as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    from bot.services.hall import speakers

    found = as_operator(lambda uow, actor: speakers(uow, actor, meeting), refused=_refusals(), readonly=True)
    c = found.counts
    if not as_json:
        typer.echo(tr("cli.hall.counts", registered=c.registered, spoke=c.spoke, floor=c.from_floor, in_hall=c.answered_in_hall,
                      later=c.to_answer_later))
        if found.closed:
            typer.echo(tr("cli.hall.closed"))
    rows = [{"place": n, "ref": s.submission.ref, "turn": s.turn.value, "name": s.submission.name, "village": s.village,
             "topic": s.topic, "answered_in_hall": s.submission.answered_in_hall} for n, s in enumerate(found.speakers, start=1)]

    def line(r: dict[str, Any]) -> str:
        turn = tr(f"web.hall.turn.{r['turn']}")
        return f"{r['place']:>3}. {r['ref']}  {turn:<16} {r['name'] or tr('cli.submission.anonymised')} · {r['village']} · {r['topic']}"

    show(rows, as_json, line, empty=tr("web.hall.empty"))


@hall_group.command("turn", help=tr("cli.help.hall_turn"))
def hall_turn(
    ref: str = REF,
    meeting: str = MEETING,
    to: str = typer.Option(..., "--to", help=tr("cli.help.hall_turn_to")),
) -> None:
    from bot.domain.hall import TURNS, Turn
    from bot.services.hall import set_turn

    if to not in TURNS:
        fail(tr("cli.hall.bad_turn", value=to, turns=", ".join(TURNS)))
    done = as_operator(lambda uow, actor: set_turn(uow, actor, meeting, ref, Turn(to), now=utcnow()), refused=_refusals())
    typer.echo(tr("cli.hall.turn_done", ref=done.ref, turn=tr(f"web.hall.turn.{to}")))


@hall_group.command("move", help=tr("cli.help.hall_move"))
def hall_move(ref: str = REF, meeting: str = MEETING, to: int = typer.Option(..., "--to", min=1, help=tr("cli.help.hall_move_to"))) -> None:
    from bot.services.hall import move

    done = as_operator(lambda uow, actor: move(uow, actor, meeting, ref, to=to, now=utcnow()), refused=_refusals())
    typer.echo(tr("cli.hall.moved", ref=done.ref, place=to))


@hall_group.command("group", help=tr("cli.help.hall_group"))
def hall_group_by_topic(meeting: str = MEETING) -> None:
    from bot.services.hall import group_by_topic

    refs = as_operator(lambda uow, actor: group_by_topic(uow, actor, meeting, now=utcnow()), refused=_refusals())
    typer.echo(tr("web.hall.grouped"))
    typer.echo(", ".join(refs))


@hall_group.command("close", help=tr("cli.help.hall_close"))
def hall_close(meeting: str = MEETING, reopen: bool = typer.Option(False, "--reopen", help=tr("cli.help.hall_reopen"))) -> None:
    from bot.services.hall import close_list

    as_operator(lambda uow, actor: close_list(uow, actor, meeting, closed=not reopen, now=utcnow()), refused=_refusals())
    typer.echo(tr("web.hall.reopened" if reopen else "web.hall.closed_now"))


@hall_group.command("floor", help=tr("cli.help.hall_floor"))
def hall_floor(
    meeting: str = MEETING,
    name: str = typer.Option(..., "--name", help=tr("cli.help.hall_floor_name")),
    village: str = typer.Option(..., "--village", help=tr("cli.help.hall_floor_village")),
    topic: str = typer.Option(..., "--topic", help=tr("cli.help.hall_floor_topic")),
    question: str = typer.Option(..., "--question", help=tr("cli.help.hall_floor_question")),
) -> None:
    from bot.services.hall import floor_question, speakers

    async def record(uow: UnitOfWork, actor: Actor) -> Any:
        found = await speakers(uow, actor, meeting)
        return await floor_question(uow, actor, meeting, name=name, village_id=_named(found.villages, village, "village"),
                                    topic_id=_named(found.topics, topic, "topic"), question=question, now=utcnow())

    done = as_operator(record, refused=_refusals())
    typer.echo(tr("web.hall.floor_done", ref=done.ref))


@hall_group.command("answer", help=tr("cli.help.hall_answer"))
def hall_answer(
    ref: str = REF,
    meeting: str = MEETING,
    text: Optional[str] = typer.Option(None, "--text", help=tr("cli.help.answer_text")),
    by: str = typer.Option(..., "--by", help=tr("cli.help.hall_answer_by")),
    forward: Optional[str] = typer.Option(None, "--forward", help=tr("cli.help.answer_forward")),
    expected_by: Optional[str] = typer.Option(None, "--expected-by", help=tr("cli.help.answer_expected_by")),
) -> None:
    from bot.services.hall import hall_answer as answer_in_hall

    day = _date(expected_by)
    done = as_operator(lambda uow, actor: answer_in_hall(uow, actor, meeting, ref, text=text, by=by, forward_to=forward,
                                                         expected_by=day, now=utcnow()), refused=_refusals())
    typer.echo(tr("web.hall.answer_done", ref=done.ref))
