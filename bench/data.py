"""Bulk data for the benchmarks: communes loaded through the real plan loader (bot.services.plans),
residents and submissions written with PostgreSQL's COPY, in the tables' own layout (storage/models.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

from bench.common import pg_url, plan_text
from bench.residents import TOPICS, name
from bot.domain.submissions import receipt_code
from bot.services.plans import load_plan, parse_plan
from bot.services.staff import OPERATOR
from storage.db import Database
from storage.schema import upgrade
from storage.uow import UnitOfWork

ANSWER = ("Ủy ban nhân dân xã đã đưa tuyến đường vào kế hoạch sửa chữa năm sau; trong lúc chờ, tổ công tác sẽ vá các ổ gà "
          "và khơi thông cống thoát nước trước mùa mưa. Bà con có thể theo dõi tiến độ tại bảng tin nhà văn hoá thôn.")


@dataclass
class Commune:
    code: str  # 2-5 capital letters
    name: str
    meeting: str  # the meeting's code
    id: int = 0
    meeting_id: int = 0
    villages: tuple[int, ...] = ()
    topics: tuple[int, ...] = ()


def commune_codes(n: int) -> list[str]:
    """GP (the example plan's own), then XAA, XAB, …: codes that sort and never clash."""
    return ["GP"] + [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(n - 1)]


def communes(n: int) -> list[Commune]:
    out = []
    for i, code in enumerate(commune_codes(n)):
        title = "Xã Gia Phúc" if code == "GP" else f"Xã Thử Nghiệm {code}"
        out.append(Commune(code, title, f"{code}-2026"))
    return out


async def create_schema_and_plans(database: str, wanted: list[Commune]) -> list[Commune]:
    """Migrate an empty database and load each commune's plan (the example plan under its code and name)."""
    url = pg_url(database)
    upgrade(url)
    db = Database(url)
    try:
        for c in wanted:
            async with UnitOfWork(db) as uow:
                await load_plan(uow, OPERATOR, parse_plan(plan_text(code=c.code, name=c.name, meeting=c.meeting)))
                await uow.commit()
    finally:
        await db.dispose()
    conn = await asyncpg.connect(pg_url(database))
    try:
        for c in wanted:
            c.id = await conn.fetchval("SELECT id FROM commune WHERE code = $1", c.code)
            c.meeting_id = await conn.fetchval("SELECT id FROM meeting WHERE code = $1", c.meeting)
            c.villages = tuple(r["id"] for r in await conn.fetch("SELECT id FROM village WHERE commune_id = $1 ORDER BY position", c.id))
            c.topics = tuple(r["id"] for r in await conn.fetch("SELECT id FROM topic WHERE meeting_id = $1 ORDER BY position", c.meeting_id))
    finally:
        await conn.close()
    return wanted


RESIDENT_COLUMNS = ("channel", "external_id", "chat_id", "language", "name", "phone", "consented_at", "state", "created_at", "village_id",
                    "notices")
SUBMISSION_COLUMNS = ("ref", "meeting_id", "resident_id", "name", "phone", "village_id", "topic_id", "question", "wants_to_speak", "status",
                      "channel", "anonymised", "created_at", "answer", "answered_by", "answered_at", "answer_revision", "delivered_revision")


async def bulk_people(
    database: str, commune: Commune, *, channel: str, chat_ids: list[int], submissions: int, answered: float, start: int = 0,
) -> dict[str, int]:
    """Residents (one per chat id, consented, on `channel`) and, for the first `submissions` of them, one
    question each, numbered CODE-0001…; the first `answered` share of those answered. One COPY per table."""
    now = datetime.now(timezone.utc)
    conn = await asyncpg.connect(pg_url(database))
    try:
        async with conn.transaction():
            people = [
                (channel, str(chat), str(chat), "vi", name(start + i), None, now - timedelta(days=3), json.dumps({}), now - timedelta(days=3),
                 commune.villages[i % len(commune.villages)], True)
                for i, chat in enumerate(chat_ids)
            ]
            await conn.copy_records_to_table("resident", records=people, columns=RESIDENT_COLUMNS)
            ids = [r["id"] for r in await conn.fetch(
                "SELECT id FROM resident WHERE channel = $1 AND external_id = ANY($2::text[]) ORDER BY id", channel,
                [str(c) for c in chat_ids[:submissions]])]
            n_answered = int(submissions * answered)
            rows = []
            for i, resident_id in enumerate(ids):
                is_answered = i < n_answered
                rows.append((
                    receipt_code(commune.code, i + 1), commune.meeting_id, resident_id, name(start + i), None,
                    commune.villages[i % len(commune.villages)], commune.topics[i % len(commune.topics)],
                    f"Câu hỏi số {i + 1} ({TOPICS[i % len(TOPICS)]}): đề nghị xã sửa đường liên thôn và cống thoát nước ở đầu thôn.",
                    i % 3 == 0, "answered" if is_answered else "received", channel, False, now - timedelta(days=2, seconds=i),
                    ANSWER if is_answered else None, "Phòng Kinh tế - Hạ tầng" if is_answered else None,
                    now - timedelta(days=1) if is_answered else None, 1 if is_answered else 0, 0,
                ))
            await conn.copy_records_to_table("submission", records=rows, columns=SUBMISSION_COLUMNS)
            await conn.execute("UPDATE commune SET last_ref = $1 WHERE id = $2", len(rows), commune.id)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"residents": len(people), "submissions": len(rows), "answered": n_answered}
