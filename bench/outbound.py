"""`python -m bench outbound`: the conclusion of a meeting with 10,000 answered questions is published at
once, and `doithoai run --webhook` (PostgreSQL) delivers the answers, with 1 worker and then with 2,
against a Bot API double that enforces Telegram's limits: 30 messages a second overall, 1 a second
per chat (a burst of 3), 429 "retry after" beyond.

Each run starts from a fresh database: the example plan, N residents (each a Telegram user of the
double who has written to the bot) and one answered question each, bulk-loaded; then the bot starts,
`doithoai conclusion publish --meeting GP-2026 --allow-unanswered` runs, and the double is watched
until every answer has arrived (or nothing has for two minutes). Counted: the rate achieved from
the first answer to the last (as a share of the limit), the busiest second the double saw, the 429s
it answered, and per chat the answers it got compared with the database: lost (a submission whose
resident got no answer) and duplicated (more than one copy).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    BenchDouble,
    Table,
    bot_env,
    doithoai_run,
    log_findings,
    machine,
    pg_create,
    pg_drop,
    pg_url,
    port,
    process_problems,
    rounded,
    save,
    say,
    timed_cli,
)
from bench.data import bulk_people, communes, create_schema_and_plans

STALL = 120.0  # seconds without a new answer before a run is declared stuck
CHAT_BURST = 3


def answer_ref(text: str) -> str | None:
    """The code an answer message is about ("📬 Trả lời câu hỏi GP-0042…", or a correction)."""
    first = text.split("\n", 1)[0]
    for word in first.replace("(", " ").split():
        if word.startswith("GP-") and word[3:].isdigit():
            return word
    return None


async def one_run(workers: int, answers: int, rate: float) -> dict[str, Any]:
    say(f"\n== {workers} worker{'s' if workers > 1 else ''}: {answers} answers, limit {rate:g}/s overall, 1/s per chat")
    database = await pg_create("outbound")
    result: dict[str, Any] = {"workers": workers, "answers": answers, "limit_per_s": rate}
    try:
        [gp] = await create_schema_and_plans(database, communes(1))
        with tempfile.TemporaryDirectory(prefix="bench-outbound-") as tmp_name:
            tmp = Path(tmp_name)
            async with BenchDouble() as double:
                users = [double.started_user(f"Dân {i}") for i in range(answers)]
                loaded = time.monotonic()
                await bulk_people(database, gp, channel="telegram", chat_ids=[u.id for u in users], submissions=answers, answered=1.0)
                say(f"   loaded {answers} residents and answered questions in {time.monotonic() - loaded:.1f} s")
                double.enforce_limits(per_second=rate, chat_per_second=1.0, chat_burst=CHAT_BURST)
                env = bot_env(pg_url(database), double, DOITHOAI_TELEGRAM_RATE=f"{rate:g}", DOITHOAI_TELEGRAM_CHAT_RATE="1",
                              DOITHOAI_TELEGRAM_CHAT_BURST=str(CHAT_BURST), DOITHOAI_LOG_LEVEL="INFO")
                server = doithoai_run(env, tmp / "run.log", port(), workers=workers, cwd=tmp)
                await server.start()
                deadline = time.monotonic() + 60
                while server.tail(10**7).count("webhooks listening") < workers and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                since = len(double.sent_log)
                started = time.monotonic()
                publish_s, out = await timed_cli(env, "conclusion", "publish", "--meeting", gp.meeting, "--allow-unanswered", cwd=tmp)
                say(f"   published in {publish_s:.1f} s: {out.strip().splitlines()[0]}")
                progress, last_change, seen = 0, time.monotonic(), 0
                try:
                    while True:
                        await asyncio.sleep(1.0)
                        seen = len(double.sent_log) - since
                        if seen != progress:
                            progress, last_change = seen, time.monotonic()
                            if seen % 1000 < rate:
                                say(f"   {seen:>6} delivered after {time.monotonic() - started:5.0f} s")
                        if seen >= answers:
                            await asyncio.sleep(5)  # anything sent twice after the last would show now
                            break
                        if time.monotonic() - last_change > STALL:
                            say(f"   stalled: nothing new for {STALL:.0f} s")
                            result["stalled"] = True
                            break
                        if not server.alive():
                            say("   the bot process ended")
                            result["bot_died"] = True
                            break
                finally:
                    result["exit_code"] = await server.stop()
                    result["log"] = log_findings(server)
                result.update(await analyse(double, since, started, database, answers, rate))
                result["publish_s"] = publish_s
    finally:
        await pg_drop(database)
    say(f"   {result['delivered']} delivered, {result['rate_per_s']:.2f}/s = {result['share_of_limit'] * 100:.1f} % of the limit, "
        f"429s {result['http_429']}, lost {result['lost']}, duplicated {result['duplicated']}, last after {result['time_to_last_s']:.0f} s")
    return result


async def analyse(double: BenchDouble, since: int, started: float, database: str, answers: int, rate: float) -> dict[str, Any]:
    sends = double.sent_log[since:]
    got: dict[int, Counter] = {}
    other = 0
    for chat_id, chat in double.chats.items():
        for message_id in chat.bot_message_ids:
            ref = answer_ref(chat.history[message_id].get("text", ""))
            if ref is None:
                other += 1
                continue
            got.setdefault(chat_id, Counter())[ref] += 1
    conn = await asyncpg.connect(pg_url(database))
    try:
        expected = {int(r["chat_id"]): r["ref"] for r in await conn.fetch(
            "SELECT s.ref, r.chat_id FROM submission s JOIN resident r ON r.id = s.resident_id WHERE s.status = 'answered'")}
        outbox = {r["status"]: r["n"] for r in await conn.fetch("SELECT status, count(*) AS n FROM outbox WHERE kind = 'answer' GROUP BY status")}
        undelivered_revisions = await conn.fetchval("SELECT count(*) FROM submission WHERE delivered_revision < answer_revision")
    finally:
        await conn.close()
    lost = sum(1 for chat, ref in expected.items() if got.get(chat, Counter())[ref] == 0)
    duplicated = sum(n - 1 for counts in got.values() for n in counts.values() if n > 1)
    wrong_chat = sum(n for chat, counts in got.items() for ref, n in counts.items() if expected.get(chat) != ref)
    times = [s.at for s in sends]
    first, last = (min(times), max(times)) if times else (started, started)
    delivered = len(sends)
    achieved = (delivered - 1) / (last - first) if delivered > 1 and last > first else 0.0
    rejected = [r for r in double.rejections if not r.injected]
    return {
        "delivered": delivered, "expected": len(expected), "lost": lost, "duplicated": duplicated, "wrong_chat": wrong_chat,
        "other_messages": other, "rate_per_s": achieved, "share_of_limit": achieved / rate,
        "peak_second": double.max_rate(1.0), "peak_second_share": double.max_rate(1.0) / rate, "peak_chat_second": double.max_chat_rate(1.0),
        "http_429": sum(r.error_code == 429 for r in rejected), "other_refusals": sum(r.error_code != 429 for r in rejected),
        "first_after_s": first - started, "time_to_last_s": last - started, "outbox_answers": outbox,
        "undelivered_revisions": undelivered_revisions,
    }


def table(results: list[dict[str, Any]]) -> str:
    t = Table(["workers", "answers", "delivered", "rate/s", "share of limit", "busiest second", "429s", "lost", "duplicated",
               "first after s", "last after s"])
    for r in results:
        t.add(r["workers"], r["answers"], r["delivered"], r["rate_per_s"], f"{r['share_of_limit'] * 100:.1f} %",
              f"{r['peak_second']} ({r['peak_second_share']:.2f} ×)", r["http_429"], r["lost"], r["duplicated"],
              r["first_after_s"], r["time_to_last_s"])
    return t.render()


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    if r["share_of_limit"] < 0.97:
        out.append(f"rate {r['share_of_limit'] * 100:.1f} % of the limit (goal ≥ 97 %)")
    for key in ("http_429", "lost", "duplicated", "wrong_chat", "other_refusals", "undelivered_revisions"):
        if r.get(key):
            out.append(f"{key}: {r[key]}")
    if r.get("stalled"):
        out.append("stalled before every answer was delivered")
    if r.get("bot_died"):
        out.append("the bot process ended during the run")
    return out + process_problems(r)


async def main(args: Any) -> dict[str, Any]:
    workers = [int(x) for x in args.workers.split(",")]
    say(f"outbound: {args.answers} answers published at once; the double enforces {args.rate:g} messages/s overall and 1/s per chat "
        f"(burst {CHAT_BURST}); doithoai run --webhook on PostgreSQL with {', '.join(map(str, workers))} worker(s)")
    info = machine()
    results = [await one_run(w, args.answers, args.rate) for w in workers]
    rendered = table(results)
    say("\n" + rendered)
    goals = {}
    for r in results:
        goals[f"{r['workers']} worker(s)"] = (f"rate {r['share_of_limit'] * 100:.1f} % of the limit (goal ≥ 97 %), 429s {r['http_429']} (goal 0), "
                                              f"lost {r['lost']} and duplicated {r['duplicated']} (must be 0)")
    if len(results) > 1 and results[0]["time_to_last_s"]:
        goals["time to last, 2 workers ÷ 1"] = f"{results[-1]['time_to_last_s'] / results[0]['time_to_last_s']:.2f}"
    say("\nGoals: " + "; ".join(f"{k}: {v}" for k, v in goals.items()))
    findings = [f"{r['workers']} worker(s): {x}" for r in results for x in problems(r)]
    if findings:
        say("Problems seen:\n  " + "\n  ".join(findings))
    data = {"benchmark": "outbound", "machine": info, "options": {"answers": args.answers, "rate": args.rate, "workers": workers,
            "chat_per_second": 1, "chat_burst": CHAT_BURST}, "goals": goals, "problems": findings, "table": rendered, "results": results}
    path = save("outbound", rounded(data, 3))
    say(f"\nwritten to {path}")
    return data
