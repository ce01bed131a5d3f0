"""Tables. The schema itself changes only through Alembic migrations (storage/migrations)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false, true
from sqlmodel import Field, SQLModel

from bot.domain.outbox import Delivery
from bot.domain.submissions import Status


class UTCDateTime(TypeDecorator):
    """Always-aware UTC datetimes, on SQLite (which stores no offset) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        # SQLite compares stored strings: keep one fixed shape so ordering holds.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    # On SQLite the same conversions in one step each: the dialect's own DATETIME processors (a
    # format string one way, a regular expression the other) under the two above cost more than the
    # statement on the hot path, which reads and writes a few of these per message.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            # The dialect's storage format exactly ("2026-06-11 01:00:00.000000"): stored strings compare in time order.
            return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
            return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)

        return process


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Commune(SQLModel, table=True):
    __tablename__ = "commune"
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(5), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    timezone: str = Field(sa_column=Column(String(64), nullable=False))
    # Last reference number handed out; incremented under a row lock so codes are unique and gapless.
    last_ref: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class ReferenceVersion(SQLModel, table=True):
    """One row whose number goes up, by database triggers (migration 0007), whenever a commune's name,
    code or timezone, a meeting, a village, a topic or an invitation changes, whoever changes it: the
    bots keep that reference data in memory (storage/reference.py) and read it again when it does."""

    __tablename__ = "reference_version"
    id: int = Field(default=1, primary_key=True)
    n: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class Village(SQLModel, table=True):
    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("commune_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    commune_id: int = Field(foreign_key="commune.id", index=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    position: int = 0
    # Removed from the plan but kept because submissions point at it.
    active: bool = True


class Meeting(SQLModel, table=True):
    __tablename__ = "meeting"
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    commune_id: int = Field(foreign_key="commune.id", index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    host: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    venue: str = Field(sa_column=Column(Text, nullable=False))
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    registration_closes_at: datetime = _ts()
    agenda: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Thông báo kết luận: set when the conclusion is published; publishing releases the answers.
    concluded_at: Optional[datetime] = _ts(nullable=True)
    conclusion_summary: Optional[str] = Field(default=None, sa_column=Column(Text))
    conclusion_document_id: Optional[int] = Field(default=None, foreign_key="attachment.id")
    # The chair ended the speakers' list: nobody more is called from it.
    speakers_closed_at: Optional[datetime] = _ts(nullable=True)
    # The minutes' (biên bản) own facts, which no registration holds: who chaired, who kept the
    # record, and how many people were in the hall.
    chair: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    secretary: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    attendance: Optional[int] = Field(default=None, sa_column=Column(Integer))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class MeetingVillage(SQLModel, table=True):
    """Which villages a meeting invites (the plan's meeting.villages, or all of the commune)."""

    __tablename__ = "meeting_village"
    meeting_id: int = Field(foreign_key="meeting.id", primary_key=True)
    village_id: int = Field(foreign_key="village.id", primary_key=True)
    position: int = 0


class Topic(SQLModel, table=True):
    __tablename__ = "topic"
    __table_args__ = (UniqueConstraint("meeting_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    name: str = Field(sa_column=Column(Text, nullable=False))
    position: int = 0
    active: bool = True


class Resident(SQLModel, table=True):
    """A person on one channel, created only when they consent."""

    __tablename__ = "resident"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    # Platform identifiers are kept as strings: Zalo's are not integers.
    external_id: str = Field(sa_column=Column(String(128), nullable=False))
    chat_id: str = Field(sa_column=Column(String(128), nullable=False))
    language: str = Field(default="vi", sa_column=Column(String(8), nullable=False, server_default="vi"))
    name: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    phone: Optional[str] = Field(default=None, sa_column=Column(String(32)))
    consented_at: datetime = _ts()
    # The village they last registered for (or chose through a poster's link): who gets a village's notices.
    village_id: Optional[int] = Field(default=None, foreign_key="village.id", index=True)
    notices: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    # Set when the platform says the bot is blocked or the chat is gone: nothing more is sent.
    unreachable_at: Optional[datetime] = _ts(nullable=True)
    # The conversation in progress: flow, step, draft. Lives here so a restart resumes it.
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class Submission(SQLModel, table=True):
    """One question for one meeting (phiếu đăng ký phát biểu)."""

    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_meeting_created", "meeting_id", "created_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    resident_id: Optional[int] = Field(default=None, foreign_key="resident.id", index=True)
    name: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    phone: Optional[str] = Field(default=None, sa_column=Column(String(32)))
    village_id: int = Field(foreign_key="village.id", index=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    wants_to_speak: bool = False
    status: str = Field(default=Status.RECEIVED, sa_column=Column(String(16), nullable=False))
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    anonymised: bool = False
    created_at: datetime = _ts()
    withdrawn_at: Optional[datetime] = _ts(nullable=True)
    # The commune's answer, or where the question was forwarded (chuyển cơ quan có thẩm quyền).
    answer: Optional[str] = Field(default=None, sa_column=Column(Text))
    answered_by: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    forwarded_to: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    expected_by: Optional[date] = Field(default=None, sa_column=Column(Date))
    answered_at: Optional[datetime] = _ts(nullable=True)
    # Each change of the answer is a new revision; the resident has been sent `delivered_revision`.
    answer_revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    delivered_revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Dân giám sát: the resident's verdict on the answer.
    feedback: Optional[str] = Field(default=None, sa_column=Column(String(16)))
    feedback_at: Optional[datetime] = _ts(nullable=True)
    # The answering office it was assigned to (phòng chuyên môn); a department sees only these.
    department: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    # Answered together with an earlier, similar question of the same meeting.
    duplicate_of_id: Optional[int] = Field(default=None, foreign_key="submission.id")
    # A paper form (phiếu giấy) typed in by a village head for a resident without a smartphone.
    entered_by_staff_id: Optional[int] = Field(default=None, foreign_key="staff.id")
    # The meeting day (bot/domain/hall.py): the place the secretariat gave it on the speakers' list
    # (None: in the order of registration), whether the speaker was called, spoke or was absent, and
    # whether the answer was given in the hall.
    hall_position: Optional[int] = Field(default=None, sa_column=Column(Integer))
    hall_status: Optional[str] = Field(default=None, sa_column=Column(String(16)))
    answered_in_hall: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    # "👎 Chưa hài lòng": the verdict on the first answer the resident rated stays in `first_feedback`
    # (satisfaction before follow-up); what they said is still unresolved, when, and when the
    # secretariat closed the follow-up (answering again also ends it, with a new revision).
    first_feedback: Optional[str] = Field(default=None, sa_column=Column(String(16)))
    followup_text: Optional[str] = Field(default=None, sa_column=Column(Text))
    followup_at: Optional[datetime] = _ts(nullable=True)
    followup_closed_at: Optional[datetime] = _ts(nullable=True)
    # Kept off the public page (/cong-khai) by the secretariat, with the reason (audited).
    public_hidden_reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    # A voice question nobody has typed in yet: `question` holds a placeholder saying so until the
    # secretariat types the transcript, which then becomes the question everywhere.
    awaiting_transcript: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class ProcessedUpdate(SQLModel, table=True):
    """Platform updates already handled: a redelivered update is recognised and skipped."""

    __tablename__ = "processed_update"
    channel: str = Field(sa_column=Column(String(32), primary_key=True))
    update_id: str = Field(sa_column=Column(String(128), primary_key=True))
    processed_at: datetime = _ts()


class Outbox(SQLModel, table=True):
    """Every outbound message, written in the transaction that caused it, before it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "channel", "chat_id", "id"),)
    id: Optional[int] = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    # Makes a message unique (e.g. the n-th reply to one update) so a retry never sends it twice.
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    chat_id: str = Field(sa_column=Column(String(128), nullable=False))
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=Delivery.PENDING, sa_column=Column(String(16), nullable=False))
    # Sent to someone who has not consented (or no longer has): deleted once delivered, so
    # their chat id is not kept.
    transient: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    # reply (to what a person just did), answer, summary, document, notice, reminder, change…: for status reports.
    kind: str = Field(default="reply", sa_column=Column(String(32), nullable=False, server_default="reply"))
    meeting_id: Optional[int] = Field(default=None, foreign_key="meeting.id", index=True)
    # Background messages wait for replies to what people are doing right now.
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: Optional[datetime] = _ts(nullable=True)
    # The worker sending to this chat now holds its oldest pending message until `claimed_until`
    # (renewed as it goes); a worker that dies lets go when that passes.
    claimed_by: Optional[str] = Field(default=None, sa_column=Column(String(64)))
    claimed_until: Optional[datetime] = _ts(nullable=True)
    attempts: int = 0
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts()
    sent_at: Optional[datetime] = _ts(nullable=True)


class SendSlot(SQLModel, table=True):
    """A bot's next free sending slot, shared by every worker so that together they keep the
    platform's overall rate (PostgreSQL; one process on SQLite keeps it in memory)."""

    __tablename__ = "send_slot"
    channel: str = Field(sa_column=Column(String(32), primary_key=True))
    next_at: datetime = _ts()


class Attachment(SQLModel, table=True):
    """A file sent to residents (the conclusion document, a meeting's calendar file), kept until delivered."""

    __tablename__ = "attachment"
    id: Optional[int] = Field(default=None, primary_key=True)
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    mime_type: str = Field(sa_column=Column(String(100), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts()


class SubmissionFile(SQLModel, table=True):
    """A file that belongs to a submission: the resident's voice question or photos, or a file sent
    with its answer (a decision, a map). Personal data when the resident's: erased with the
    submission's other personal data (bot/services/privacy.py), with its attachment."""

    __tablename__ = "submission_file"
    id: Optional[int] = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    attachment_id: int = Field(foreign_key="attachment.id")
    role: str = Field(sa_column=Column(String(16), nullable=False))  # "voice", "photo" or "answer"
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    seconds: Optional[int] = Field(default=None, sa_column=Column(Integer))  # a voice note's length
    # On the public page (/cong-khai) only when the secretariat publishes it.
    public: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    created_at: datetime = _ts()


class NoticeRun(SQLModel, table=True):
    """A scheduled notice that has gone out: the primary key makes each one fire exactly once."""

    __tablename__ = "notice_run"
    meeting_id: int = Field(foreign_key="meeting.id", primary_key=True)
    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    fired_at: datetime = _ts()
    recipients: int = 0


class Staff(SQLModel, table=True):
    """Someone who works for the commune: admin, secretariat, village head or answering department."""

    __tablename__ = "staff"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    department: Optional[str] = Field(default=None, sa_column=Column(String(200)))
    # The commune they work for; none: every commune of the deployment (a district or province admin).
    commune_id: Optional[int] = Field(default=None, foreign_key="commune.id", index=True)
    telegram_id: Optional[str] = Field(default=None, sa_column=Column(String(64), unique=True))
    # A Zalo bot or OA user id and which of the two ("zalo", "zalo_oa"): a village head who uses Zalo only.
    zalo_id: Optional[str] = Field(default=None, sa_column=Column(String(128), unique=True))
    zalo_channel: Optional[str] = Field(default=None, sa_column=Column(String(32)))
    # A one-time code the console shows, which the staff member sends to the Zalo bot to link it.
    link_code: Optional[str] = Field(default=None, sa_column=Column(String(16), unique=True))
    link_code_expires_at: Optional[datetime] = _ts(nullable=True)
    # The bot they last wrote to as staff ("telegram", or a further commune's "telegram:TP"): what
    # the bot sends them (answers to read out, a notice's progress) goes through that bot.
    channel: Optional[str] = Field(default=None, sa_column=Column(String(32)))
    login: Optional[str] = Field(default=None, sa_column=Column(String(64), unique=True))
    password_hash: Optional[str] = Field(default=None, sa_column=Column(String(255)))
    failed_logins: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    locked_until: Optional[datetime] = _ts(nullable=True)
    # A staff conversation in progress in the bot (a paper form, a village notice).
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    created_at: datetime = _ts()


class WebSession(SQLModel, table=True):
    """A signed-in console session. The browser's cookie holds a random token and only its SHA-256
    is kept here, so a copy of the database opens no session; deleting the row ends the session
    at once, whoever holds a copy of the cookie."""

    __tablename__ = "web_session"
    id: str = Field(sa_column=Column(String(64), primary_key=True))
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()


class StaffVillage(SQLModel, table=True):
    """The villages a village head serves."""

    __tablename__ = "staff_village"
    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    village_id: int = Field(foreign_key="village.id", primary_key=True)


class AuditEntry(SQLModel, table=True):
    """Who did what to what, when, with the values before and after."""

    __tablename__ = "audit_log"
    # Events anyone can cause at will are counted in one row a minute, found by action and time.
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = _ts()
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    target: str = Field(sa_column=Column(String(200), nullable=False))
    before: Optional[Any] = Field(default=None, sa_column=Column(JSON))
    after: Optional[Any] = Field(default=None, sa_column=Column(JSON))


class ChatChoice(SQLModel, table=True):
    """The numbered choices a chat was last shown, on a channel without buttons: "2" or a name typed
    back is read against these. Kept only for people who consented (and deleted with them)."""

    __tablename__ = "chat_choice"
    channel: str = Field(sa_column=Column(String(16), primary_key=True))
    chat_id: str = Field(sa_column=Column(String(64), primary_key=True))
    # [{"label": …, "data": button data} | {"label": …, "text": menu text}], in the order shown.
    choices: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    shown_at: datetime = _ts()


class Inbound(SQLModel, table=True):
    """A webhook delivery, stored before the platform is told "received": a crash after that loses
    nothing, and each chat's updates are handled in arrival order. Deleted once handled."""

    __tablename__ = "inbound"
    __table_args__ = (
        UniqueConstraint("channel", "update_key", name="uq_inbound_update"),
        Index("ix_inbound_chat", "channel", "chat_id", "id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    update_key: str = Field(sa_column=Column(String(128), nullable=False))
    chat_id: str = Field(sa_column=Column(String(64), nullable=False))
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _ts()
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class ChannelToken(SQLModel, table=True):
    """A channel's current OAuth token pair (the Zalo OA's). A refresh token works once, so the new
    pair is written here, and committed, before the new access token is used."""

    __tablename__ = "channel_token"
    channel: str = Field(sa_column=Column(String(16), primary_key=True))
    access_token: str = Field(sa_column=Column(Text, nullable=False))
    refresh_token: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: Optional[datetime] = _ts(nullable=True)
    updated_at: datetime = _ts()
