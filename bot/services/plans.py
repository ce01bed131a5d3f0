"""Meeting plans (kế hoạch hội nghị đối thoại): validating a plan file and loading it.

Loading is one transaction: a plan with any error writes nothing. Loading a plan whose
meeting.code exists updates that meeting, its commune and villages; a village or topic that
already has submissions is kept (hidden from new registrations) rather than deleted.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.domain import validation as textrules
from bot.domain.errors import Problem, file_problem
from bot.services.access import Forbidden, may_run_meetings
from bot.services.notices import Change, tell_change
from bot.services.staff import Actor, audit
from storage.models import Commune, Meeting, MeetingVillage, Topic, Village, utcnow
from storage.uow import UnitOfWork


class OtherCommune(Forbidden):
    """Staff of one commune plan its meetings only: never another's, nor a new commune."""

    def __init__(self, code: str) -> None:
        super().__init__(f"commune.code: {code} is not your commune")
        self.code = code


class PlanError(ValueError):
    """A plan that cannot be loaded; `problems` name each field (as the file writes it) and what is wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(*(p.key for p in problems))
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def _invalid(key: str, **context: object) -> PydanticCustomError:
    # The error's type is the catalogue key, so `_describe` words it in the reader's language.
    return PydanticCustomError(key, key, context)


def _clean(text: str) -> str:
    # As the fields are validated (NFC, one line), so that names compare equal however they were typed.
    return textrules.line(textrules.printable(text))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        # Every name and text a plan gives is shown to residents on one line (TOML lets "\u0000" through).
        if isinstance(v, str):
            return textrules.line(v)
        if isinstance(v, list):
            return [textrules.line(x) if isinstance(x, str) else x for x in v]
        return v


class VillagePlan(_Strict):
    name: str = Field(min_length=2, max_length=200)


class CommunePlan(_Strict):
    code: str
    name: str = Field(min_length=2, max_length=200)
    timezone: str = "Asia/Ho_Chi_Minh"
    villages: list[VillagePlan] = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z]{2,5}", v):
            raise _invalid("problem.plan.commune_code")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise _invalid("problem.plan.timezone", value=v) from None
        return v

    @field_validator("villages")
    @classmethod
    def _unique(cls, v: list[VillagePlan]) -> list[VillagePlan]:
        names = [_clean(x.name) for x in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _invalid("problem.plan.village_twice", names=", ".join(dupes))
        return v


class MeetingPlan(_Strict):
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=5, max_length=500)
    host: str = Field(default="", max_length=300)
    starts_at: datetime
    ends_at: datetime
    venue: str = Field(min_length=3, max_length=500)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    registration_closes_at: datetime
    agenda: str = Field(default="", max_length=500)  # the notice's one-line agenda
    villages: list[str] | None = None
    topics: list[str] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        cleaned = [_clean(t) for t in v]
        if any(not t for t in cleaned):
            raise _invalid("problem.plan.topic_empty")
        if any(len(t) > 200 for t in cleaned):
            raise _invalid("problem.plan.topic_long", max=200)
        dupes = sorted({t for t in cleaned if cleaned.count(t) > 1})
        if dupes:
            raise _invalid("problem.plan.topic_twice", names=", ".join(dupes))
        return cleaned

    @model_validator(mode="after")
    def _order(self) -> "MeetingPlan":
        if (self.latitude is None) != (self.longitude is None):
            raise _invalid("problem.plan.lat_lon")
        return self


class Plan(_Strict):
    commune: CommunePlan
    meeting: MeetingPlan

    @model_validator(mode="after")
    def _consistent(self) -> "Plan":
        tz = ZoneInfo(self.commune.timezone)
        m = self.meeting
        # A time written without an offset is the commune's local time.
        for name in ("starts_at", "ends_at", "registration_closes_at"):
            value = getattr(m, name)
            if value.tzinfo is None:
                setattr(m, name, value.replace(tzinfo=tz))
        return self


def _readable(adapter: TypeAdapter, value: object) -> object | None:
    try:
        return adapter.validate_python(value)
    except (ValidationError, textrules.BadText):
        return None  # reported by the field's own validation


def _consistency(data: object) -> list[Problem]:
    """The rules between fields, checked on whatever fields can be read, so that a plan with a bad field
    still hears about every other problem at once. Each problem names its field."""
    if not isinstance(data, dict):
        return []
    commune = data.get("commune") if isinstance(data.get("commune"), dict) else {}
    meeting = data.get("meeting") if isinstance(data.get("meeting"), dict) else {}
    try:
        tz = ZoneInfo(str(commune.get("timezone", "Asia/Ho_Chi_Minh")))
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    times = {}
    for name in ("starts_at", "ends_at", "registration_closes_at"):
        value = _readable(TypeAdapter(datetime), meeting.get(name))
        if isinstance(value, datetime) and (value.tzinfo is not None or tz is not None):
            times[name] = value if value.tzinfo is not None else value.replace(tzinfo=tz)
    problems: list[Problem] = []
    if "starts_at" in times and "ends_at" in times and times["ends_at"] <= times["starts_at"]:
        problems.append(Problem("problem.plan.ends_before_start", field="meeting.ends_at", other="meeting.starts_at"))
    closes = times.get("registration_closes_at")
    if "starts_at" in times and closes is not None and closes > times["starts_at"]:
        problems.append(Problem("problem.plan.closes_after_start", field="meeting.registration_closes_at", other="meeting.starts_at"))
    invited = _readable(TypeAdapter(list[str]), meeting.get("villages"))
    listed = commune.get("villages")
    if isinstance(invited, list) and isinstance(listed, list):
        known = {_clean(v["name"]) for v in listed if isinstance(v, dict) and isinstance(v.get("name"), str)}
        unknown = [v for v in invited if _clean(v) not in known]
        if unknown:
            problems.append(Problem("problem.plan.unknown_villages", field="meeting.villages", other="commune.villages", names=", ".join(unknown)))
        if not invited:
            problems.append(Problem("problem.plan.no_villages", field="meeting.villages"))
    return problems


# pydantic's error types, worded by the catalogue (its own messages are English).
_PYDANTIC = {
    "missing": "problem.plan.missing",
    "extra_forbidden": "problem.plan.extra",
    "string_too_short": "problem.plan.too_short",
    "string_too_long": "problem.plan.too_long",
    "too_short": "problem.plan.list_too_short",
    "string_pattern_mismatch": "problem.plan.pattern",
    "string_type": "problem.plan.not_text",
    "datetime_type": "problem.plan.not_datetime",
    "datetime_parsing": "problem.plan.not_datetime",
    "datetime_from_date_parsing": "problem.plan.not_datetime",
    "float_type": "problem.plan.not_number",
    "float_parsing": "problem.plan.not_number",
    "greater_than_equal": "problem.plan.at_least",
    "less_than_equal": "problem.plan.at_most",
    "list_type": "problem.plan.not_list",
    "model_type": "problem.plan.not_table",
    "dict_type": "problem.plan.not_table",
    "model_attributes_type": "problem.plan.not_table",
}


def _describe(err: ValidationError) -> list[Problem]:
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "-"
        ctx = e.get("ctx") or {}
        cause = ctx.get("error")
        if e["type"].startswith("problem."):
            out.append(Problem(e["type"], field=where, **ctx))
        elif isinstance(cause, textrules.BadText):
            out.append(Problem("problem.plan.bad_text", field=where, reason=cause.problem))
        else:
            limits = {"min": ctx.get("min_length"), "max": ctx.get("max_length"), "limit": ctx.get("ge", ctx.get("le"))}
            key = _PYDANTIC.get(e["type"], "problem.plan.invalid")
            out.append(Problem(key, field=where, **{k: v for k, v in limits.items() if v is not None}))
    return out


def _toml_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    # Python 3.11's TOMLDecodeError carries its position only in its (English) message.
    at = re.search(r"line (\d+), column (\d+)", str(exc))
    if at:
        return Problem("problem.plan.toml_at", line=int(at[1]), column=int(at[2]))
    return Problem("problem.plan.toml")


def parse_plan(text: str) -> Plan:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError([_toml_problem(exc)]) from None
    except RecursionError:  # tomllib recurses into nested arrays and tables: a hostile file nests thousands deep
        raise PlanError([Problem("problem.plan.too_deep")]) from None
    plan, problems = None, list[Problem]()
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        problems = _describe(exc)
    problems += _consistency(data)
    if problems or plan is None:
        raise PlanError(problems)
    return plan


def read_plan(path: Path) -> Plan:
    try:
        # utf-8-sig: Windows Notepad saves UTF-8 with a byte order mark, which the console's upload
        # already drops; the same file must load at both doors.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PlanError([file_problem(exc, path)]) from None
    except UnicodeDecodeError:
        raise PlanError([Problem("problem.file.not_utf8", path=path)]) from None
    return parse_plan(text)


@dataclass
class LoadReport:
    meeting_code: str
    created: bool
    kept: list[str] = field(default_factory=list)  # villages/topics dropped from the plan but kept for their submissions
    kept_named: list[Problem] = field(default_factory=list)  # the same, for a door to word
    notified: int = 0  # registrants told that the time or venue changed
    notified_messages: int = 0  # the messages queued to tell them
    awaiting_confirmation: bool = False  # nothing was written: the change would tell residents, and was not confirmed


async def load_plan(
    uow: UnitOfWork, actor: Actor, plan: Plan, *, source: str | None = None, now: datetime | None = None, confirmed: bool = True,
) -> LoadReport:
    """Create or update the commune, its villages and the meeting; audited. Commits.

    For the secretariat and admins; staff of one commune load only their own commune's plans.
    Not `confirmed`, a plan that would tell registrants of a changed time or venue is a dry run:
    nothing is written and nobody told; the report says how many would be."""
    report = await _load_plan(uow, actor, plan, source=source, now=now)
    if report.notified and not confirmed:
        await uow.rollback()
        report.awaiting_confirmation = True
        return report
    await uow.commit()
    return report


async def _load_plan(uow: UnitOfWork, actor: Actor, plan: Plan, *, source: str | None, now: datetime | None) -> LoadReport:
    may_run_meetings(actor)
    now = now or utcnow()
    cp, mp = plan.commune, plan.meeting
    commune = await uow.communes.by_code(cp.code)
    if actor.commune_id is not None and (commune is None or commune.id != actor.commune_id):
        raise OtherCommune(cp.code)
    if commune is None:
        commune = uow.communes.add(Commune(code=cp.code, name=_clean(cp.name), timezone=cp.timezone, last_ref=0))
        await uow.flush()
    else:
        commune.name, commune.timezone = _clean(cp.name), cp.timezone
    assert commune.id is not None
    report = LoadReport(meeting_code=mp.code, created=False)

    villages = {v.name: v for v in await uow.communes.villages(commune.id)}
    for position, vp in enumerate(cp.villages):
        name = _clean(vp.name)
        village = villages.get(name)
        if village is None:
            villages[name] = uow.communes.add(Village(commune_id=commune.id, name=name, position=position))
        else:
            village.position, village.active = position, True
    plan_names = {_clean(v.name) for v in cp.villages}
    for name, village in list(villages.items()):
        if name in plan_names:
            continue
        if village.id is not None and await uow.submissions.count_for_village(village.id):
            village.active = False
            report.kept.append(f"village {name}")
            report.kept_named.append(Problem("problem.kept.village", name=name))
        elif village.id is not None:
            await _drop_village(uow, village)
            del villages[name]
    await uow.flush()

    meeting = await uow.meetings.by_code(mp.code)
    fields = dict(
        commune_id=commune.id,
        title=_clean(mp.title),
        host=_clean(mp.host),
        starts_at=mp.starts_at,
        ends_at=mp.ends_at,
        venue=_clean(mp.venue),
        latitude=mp.latitude,
        longitude=mp.longitude,
        registration_closes_at=mp.registration_closes_at,
        agenda=_clean(mp.agenda),
        updated_at=now,
    )
    if meeting is None:
        meeting = uow.meetings.add(Meeting(code=mp.code, created_at=now, **fields))
        report.created = True
        await uow.flush()
    else:
        if meeting.commune_id != commune.id:
            raise PlanError([Problem("problem.plan.other_communes_meeting", field="meeting.code", code=mp.code)])
        change = Change(
            starts_at=(meeting.starts_at, mp.starts_at) if meeting.starts_at != mp.starts_at else None,
            venue=(meeting.venue, fields["venue"]) if meeting.venue != fields["venue"] else None,
        )
        for key, value in fields.items():
            setattr(meeting, key, value)
        if change.starts_at or change.venue:
            told = await tell_change(uow, meeting, change, now)
            report.notified, report.notified_messages = told.residents, told.messages
    assert meeting.id is not None

    invited = [_clean(v) for v in mp.villages] if mp.villages is not None else [_clean(v.name) for v in cp.villages]
    links = {link.village_id: link for link in await uow.meetings.invitation_links(meeting.id)}
    wanted: dict[int, int] = {}
    for position, name in enumerate(invited):
        village = villages[name]
        assert village.id is not None
        wanted[village.id] = position
    for village_id, link in links.items():
        if village_id not in wanted:
            await uow.meetings.remove_invitation(link)
    for village_id, position in wanted.items():
        if village_id in links:
            links[village_id].position = position
        else:
            uow.meetings.add(MeetingVillage(meeting_id=meeting.id, village_id=village_id, position=position))

    topics = {t.name: t for t in await uow.meetings.topics(meeting.id, active_only=False)}
    for position, name in enumerate(mp.topics):
        topic = topics.get(name)
        if topic is None:
            uow.meetings.add(Topic(meeting_id=meeting.id, name=name, position=position))
        else:
            topic.position, topic.active = position, True
    for name, topic in topics.items():
        if name in mp.topics:
            continue
        assert topic.id is not None
        if await uow.submissions.count_for_topic(topic.id):
            topic.active = False
            report.kept.append(f"topic {name}")
            report.kept_named.append(Problem("problem.kept.topic", name=name))
        else:
            await uow.meetings.delete(topic)
    await uow.flush()
    await audit(uow, actor, "meeting.plan", f"meeting {report.meeting_code}",
                after={"created": report.created, "kept": report.kept, "notified": report.notified, "file": source}, now=now)
    return report


async def _drop_village(uow: UnitOfWork, village: Village) -> None:
    assert village.id is not None
    await uow.meetings.uninvite_village(village.id)
    await uow.meetings.delete(village)
