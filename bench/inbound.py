"""`python -m bench inbound`: residents registering at once, over webhooks and by long polling.

Every variant gets the same simulated residents, the same updates (built by the Bot API double) and
the same strict double to reply to. Over webhooks the updates are POSTed to the bot with the secret
header, at most 40 connections at once as Telegram does:

  baseline   the form as most bots write it (bench/baseline_bot.py: aiogram Dispatcher, FSM in
             MemoryStorage, aiogram's aiohttp SimpleRequestHandler), one process, nothing on disk
  sqlite     `doithoai run --webhook` on SQLite
  pg-1       `doithoai run --webhook` on PostgreSQL
  pg-2       `doithoai run --webhook --workers 2` on PostgreSQL

By long polling the double holds each update for getUpdates, as Telegram does (one process only:
Telegram hands a bot's updates to one poller):

  baseline-poll  the same aiogram bot, with aiogram's `start_polling`
  sqlite-poll    `doithoai run` on SQLite (the default deployment)
  pg-poll        `doithoai run` on PostgreSQL

Each doithoai variant is compared with the baseline of its own feed, measured in the same run.

For each: a warm-up of 10 residents (not counted), then N residents (100, then 1,000) all starting
the registration at the same moment and each going as fast as the bot answers (closed loop:
throughput), then a fixed offered rate (200 updates a second; open loop: latency under a steady
load). Latency is from handing the update to the HTTP client to the arrival, at the double, of the
message that asks the resident's next question.
"""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    SECRET,
    TELEGRAM_MAX_CONNECTIONS,
    BenchDouble,
    Server,
    Table,
    bot_env,
    cli,
    cpu_seconds,
    doithoai_run,
    log_findings,
    machine,
    percentile,
    pg_create,
    pg_drop,
    pg_url,
    plan_text,
    port,
    process_problems,
    python_module,
    rounded,
    rss_mib,
    save,
    say,
    self_cpu,
)
from bench.residents import STEPS, Feed, Polled, Resident, Webhook

VARIANTS = {
    "baseline": "aiogram FSM + MemoryStorage (SimpleRequestHandler webhook)",
    "sqlite": "doithoai run --webhook, SQLite",
    "pg-1": "doithoai run --webhook, PostgreSQL, 1 worker",
    "pg-2": "doithoai run --webhook --workers 2, PostgreSQL",
    "baseline-poll": "aiogram FSM + MemoryStorage (Dispatcher.start_polling)",
    "sqlite-poll": "doithoai run (long polling), SQLite",
    "pg-poll": "doithoai run (long polling), PostgreSQL",
}
# The p99 at the offered rate may be at most this many times the baseline's (same feed, same run).
P99_WITHIN = 1.2


def polled(variant: str) -> bool:
    return variant.endswith("-poll")


def baseline_of(variant: str) -> str:
    return "baseline-poll" if polled(variant) else "baseline"
WARM_UP = 10
STEP_TIMEOUT = 180.0


@dataclass
class Target:
    """A running bot under test and what is needed to measure it."""

    name: str
    server: Server
    env: dict | None = None  # doithoai's settings (None: the baseline)
    database: str | None = None  # our PostgreSQL database, dropped at the end
    db_backends: dict[int, float] = field(default_factory=dict)

    def cpu(self) -> float:
        return cpu_seconds(self.server.pids())

    async def db_cpu(self) -> float:
        """CPU time so far of the PostgreSQL backends serving this bot's database (0 on SQLite)."""
        if self.database is None:
            return 0.0
        import asyncpg

        conn = await asyncpg.connect(pg_url("postgres"))
        try:
            pids = [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)]
        finally:
            await conn.close()
        for pid in pids:
            self.db_backends[pid] = max(self.db_backends.get(pid, 0.0), cpu_seconds([pid]))
        return sum(self.db_backends.values())


async def start_target(name: str, double: BenchDouble, tmp: Path) -> Target:
    plan = tmp / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    p = None if polled(name) else port()
    if name.startswith("baseline"):
        feed = ["--poll"] if p is None else ["--port", str(p), "--secret", SECRET]
        argv = python_module("bench.baseline_bot", *feed, "--api", double.base_url, "--token", double.token, "--plan", str(plan))
        from bench.common import ROOT, clean_env

        server = Server(argv, clean_env(PYTHONPATH=str(ROOT)), tmp / f"{name}.log", p, cwd=ROOT, ready="polling")
        await server.start()
        return Target(name, server)
    database = None
    if name.startswith("sqlite"):
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        database = await pg_create("inbound")
        url = pg_url(database)
    env = bot_env(url, double, DOITHOAI_LOG_LEVEL="INFO")
    await cli(env, "db", "upgrade", cwd=tmp)
    await cli(env, "meeting", "load", str(plan), cwd=tmp)
    workers = 2 if name == "pg-2" else 1
    server = doithoai_run(env, tmp / f"{name}.log", p, workers=workers, cwd=tmp)
    await server.start()
    # With workers, each listens on the port once it is ready: wait for all of them.
    deadline = time.monotonic() + 60
    while p is not None and server.tail(10**7).count("webhooks listening") < workers and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return Target(name, server, env=env, database=database)


def by_step(residents: list[Resident]) -> dict[str, list[float]]:
    """p50 and p99 (ms) of each step of the form, to see where the time goes."""
    steps: dict[int, list[float]] = {}
    for r in residents:
        for s in r.samples:
            steps.setdefault(s.step, []).append(s.latency)
    return {f"{k + 1}:{STEPS[k][1]}": [percentile(v, 50) * 1000, percentile(v, 99) * 1000] for k, v in sorted(steps.items())}


def acks(residents: list[Resident]) -> dict[str, float]:
    """How long the webhook took to answer 200 (Telegram waits for it, with at most 40 connections open)."""
    values = [s.ack for r in residents for s in r.samples]
    return {"ack_p50_ms": percentile(values, 50) * 1000, "ack_p99_ms": percentile(values, 99) * 1000}


def latency_stats(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 50) * 1000, "p95_ms": percentile(samples, 95) * 1000,
            "p99_ms": percentile(samples, 99) * 1000, "max_ms": max(samples, default=float("nan")) * 1000}


class Crowd:
    """Residents of one variant, numbered across its phases (each a new Telegram user)."""

    def __init__(self, double: BenchDouble) -> None:
        self.double = double
        self.count = 0
        self.everyone: list[Resident] = []

    def make(self, n: int) -> list[Resident]:
        out = []
        for _ in range(n):
            self.count += 1
            user = self.double.user(first_name=f"Dân {self.count}")
            out.append(Resident(self.double, user, self.count, random.Random(self.count)))
        self.everyone += out
        return out


async def measure(target: Target, run: Any) -> dict[str, Any]:
    """Run a phase; add the CPU the bot (and its database backends) and this process used meanwhile."""
    cpu0, db0, me0 = target.cpu(), await target.db_cpu(), self_cpu()
    result = await run
    result["bot_cpu_s"] = target.cpu() - cpu0
    result["db_cpu_s"] = await target.db_cpu() - db0
    result["bench_cpu_s"] = self_cpu() - me0
    updates = result["updates"]
    result["cpu_ms_per_update"] = (result["bot_cpu_s"] + result["db_cpu_s"]) / updates * 1000 if updates else float("nan")
    return result


async def closed_loop(crowd: Crowd, webhook: Feed, n: int) -> dict[str, Any]:
    """N residents start at once; each sends its next update as soon as the bot has asked for it."""
    residents = crowd.make(n)
    refused = webhook.refused
    started = time.perf_counter()
    await asyncio.gather(*(r.register(webhook, STEP_TIMEOUT) for r in residents))
    samples = [s for r in residents for s in r.samples]
    ended = max((s.sent + s.latency for s in samples), default=started)
    seconds = ended - started
    return {
        "residents": n, "updates": len(samples), "seconds": seconds, "updates_per_s": len(samples) / seconds if seconds else 0.0,
        **latency_stats([s.latency for s in samples]), "completed": sum(r.ref is not None for r in residents),
        "failed": [r.failed for r in residents if r.failed][:5], "failures": sum(r.failed is not None for r in residents),
        "webhook_refusals": webhook.refused - refused, "by_step_ms": by_step(residents), **acks(residents),
    }


async def fixed_rate(crowd: Crowd, webhook: Feed, rate: float, seconds: float) -> dict[str, Any]:
    """Updates offered at `rate` a second (open loop), each by a resident whose previous step has been
    answered; enough residents that one is nearly always ready."""
    count = int(rate * seconds)
    residents = crowd.make(math.ceil(count / len(STEPS)))
    ready: asyncio.Queue[Resident] = asyncio.Queue()
    for r in residents:
        ready.put_nowait(r)
    tasks: set[asyncio.Task] = set()
    refused = webhook.refused
    waited = 0.0  # time the pacer spent waiting for a resident to be ready (the bot lagging behind)

    async def one(r: Resident) -> None:
        await r.take_step(webhook, STEP_TIMEOUT)
        if not r.done:
            ready.put_nowait(r)

    started = time.perf_counter()
    for k in range(count):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if ready.empty():
            t = time.perf_counter()
            r = await ready.get()
            waited += time.perf_counter() - t
        else:
            r = ready.get_nowait()
        task = asyncio.create_task(one(r))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending = time.perf_counter() - started
    while tasks:
        await asyncio.gather(*list(tasks))
    samples = [s for r in residents for s in r.samples]
    return {
        "offered_per_s": rate, "updates": len(samples), "seconds": sending, "achieved_per_s": count / sending if sending else 0.0,
        "pacer_waited_s": waited, **latency_stats([s.latency for s in samples]),
        "failures": sum(r.failed is not None for r in residents), "failed": [r.failed for r in residents if r.failed][:5],
        "webhook_refusals": webhook.refused - refused, "by_step_ms": by_step(residents), **acks(residents),
    }


async def check_records(target: Target, crowd: Crowd, tmp: Path) -> dict[str, Any]:
    """Every receipt a resident got names a submission, once; for doithoai, the database holds exactly those."""
    receipts = [r.ref for r in crowd.everyone if r.ref is not None]
    out: dict[str, Any] = {"receipts": len(receipts), "duplicate_refs": len(receipts) - len(set(receipts))}
    if target.env is not None:
        import json

        rows = json.loads(await cli(target.env, "submissions", "list", "--json", cwd=tmp))
        stored = [row["ref"] for row in rows]
        out.update(stored=len(stored), receipts_not_stored=len(set(receipts) - set(stored)), stored_without_receipt=len(set(stored) - set(receipts)))
    return out


async def run_variant(name: str, sizes: list[int], rate: float, rate_seconds: float) -> dict[str, Any]:
    say(f"\n== {name}: {VARIANTS[name]}")
    with tempfile.TemporaryDirectory(prefix=f"bench-inbound-{name}-") as tmp_name:
        tmp = Path(tmp_name)
        async with BenchDouble(polled=polled(name)) as double:
            target = await start_target(name, double, tmp)
            feed_name = "long polling (getUpdates)" if polled(name) else "webhook (HTTP POST, secret header)"
            result: dict[str, Any] = {"variant": name, "what": VARIANTS[name], "feed": feed_name, "phases": {}}
            feed: Feed = Polled() if polled(name) else Webhook(f"http://127.0.0.1:{target.server.port}/webhook/telegram", TELEGRAM_MAX_CONNECTIONS)
            try:
                async with feed as webhook:
                    crowd = Crowd(double)
                    warm = await closed_loop(crowd, webhook, WARM_UP)
                    if warm["failures"]:
                        result["warm_up_failed"] = warm["failed"]
                        say(f"   warm-up failed, {name} skipped: {warm['failed'][:1]}")
                        return result
                    for n in sizes:
                        calls = len(double.calls)
                        phase = await measure(target, closed_loop(crowd, webhook, n))
                        phase.update(api_calls(double.calls[calls:], phase["completed"]))
                        result["phases"][f"closed_{n}"] = phase
                        say(f"   {n:>5} residents at once: {phase['updates']} updates in {phase['seconds']:.1f} s = "
                            f"{phase['updates_per_s']:.0f}/s, p50 {phase['p50_ms']:.0f} ms, p99 {phase['p99_ms']:.0f} ms, "
                            f"failures {phase['failures']}, bot CPU {phase['bot_cpu_s']:.1f} s + db {phase['db_cpu_s']:.1f} s")
                    phase = await measure(target, fixed_rate(crowd, webhook, rate, rate_seconds))
                    result["phases"]["fixed_rate"] = phase
                    say(f"   {rate:.0f}/s offered for {rate_seconds:.0f} s: achieved {phase['achieved_per_s']:.0f}/s, p50 {phase['p50_ms']:.0f} ms, "
                        f"p99 {phase['p99_ms']:.0f} ms, max {phase['max_ms']:.0f} ms, failures {phase['failures']}")
                    result["rss_mib"] = sum(rss_mib(pid) for pid in target.server.pids())  # the whole tree: supervisor and workers
                    result["records"] = await check_records(target, crowd, tmp)
                    result["bot_api_refusals"] = len(double.real_rejections())
                    result["unanswered_callbacks"] = len(double.unanswered_callbacks())
            finally:
                result["exit_code"] = await target.server.stop()
                if target.env is not None:
                    result["log"] = log_findings(target.server)
                if target.database is not None:
                    await pg_drop(target.database)
    return result


def api_calls(calls: list[Any], registrations: int) -> dict[str, Any]:
    """The Bot API calls the bot made per registration (getUpdates apart: how often it polls is no
    work done for a resident), and which."""
    by_method: dict[str, int] = {}
    for call in calls:
        by_method[call.method] = by_method.get(call.method, 0) + 1
    work = sum(n for method, n in by_method.items() if method != "getUpdates")
    return {"api_calls": by_method, "api_calls_per_registration": work / registrations if registrations else float("nan")}


def ratio(results: list[dict[str, Any]], r: dict[str, Any], phase: str, key: str) -> float:
    """r's figure over its feed's baseline's, in the same run (nan when the baseline did not run)."""
    base = next((b for b in results if b["variant"] == baseline_of(r["variant"])), None)
    if base is None or phase not in base["phases"] or phase not in r["phases"] or not base["phases"][phase][key]:
        return float("nan")
    return r["phases"][phase][key] / base["phases"][phase][key]


def tables(results: list[dict[str, Any]], sizes: list[int], rate: float) -> tuple[str, str]:
    t = Table(["variant", "residents", "updates/s", "× baseline", "p50 ms", "p99 ms", "CPU ms/update", "API calls/registration", "failed"])
    for r in results:
        for n in sizes:
            ph = r["phases"].get(f"closed_{n}")
            if ph is None:
                continue
            t.add(r["variant"], n, ph["updates_per_s"], ratio(results, r, f"closed_{n}", "updates_per_s"), ph["p50_ms"], ph["p99_ms"],
                  ph["cpu_ms_per_update"], ph.get("api_calls_per_registration", float("nan")), ph["failures"])
    f = Table(["variant", "offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99 × baseline", "failed"])
    for r in results:
        ph = r["phases"].get("fixed_rate")
        if ph:
            f.add(r["variant"], rate, ph["achieved_per_s"], ph["p50_ms"], ph["p95_ms"], ph["p99_ms"], ph["max_ms"],
                  ratio(results, r, "fixed_rate", "p99_ms"), ph["failures"])
    return t.render(), f.render()


async def main(args: Any) -> dict[str, Any]:
    sizes = [int(x) for x in args.residents.split(",")]
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))} (choose from {', '.join(VARIANTS)})")
    say(f"inbound: residents {sizes} at once, then {args.rate:g} updates/s for {args.rate_seconds:g} s; "
        f"{len(STEPS)} updates a registration; variants {', '.join(variants)}")
    info = machine()
    results = [await run_variant(v, sizes, args.rate, args.rate_seconds) for v in variants]
    throughput, steady = tables(results, sizes, args.rate)
    say("\nThroughput (closed loop: every resident at once, each step as soon as the bot has answered)\n")
    say(throughput)
    say(f"\nSteady load ({args.rate:g} updates/s offered, open loop)\n")
    say(steady)
    goals = goals_of(results, sizes)
    say("\nGoals: " + "; ".join(f"{k}: {v}" for k, v in goals.items()))
    findings = [f"{r['variant']}: {x}" for r in results for x in problems(r)]
    if findings:
        say("Problems seen:\n  " + "\n  ".join(findings))
    data = {"benchmark": "inbound", "machine": info, "options": {"residents": sizes, "rate": args.rate, "rate_seconds": args.rate_seconds,
            "variants": variants, "webhook_connections": TELEGRAM_MAX_CONNECTIONS, "steps": len(STEPS)},
            "goals": goals, "problems": findings, "tables": {"throughput": throughput, "steady": steady}, "results": results}
    path = save("inbound", rounded(data, 2))
    say(f"\nwritten to {path}")
    return data


def goals_of(results: list[dict[str, Any]], sizes: list[int]) -> dict[str, str]:
    goals: dict[str, str] = {}
    for r in results:
        if r["variant"].startswith("baseline"):
            continue
        ratios = [x for n in sizes if not math.isnan(x := ratio(results, r, f"closed_{n}", "updates_per_s"))]
        if ratios:
            goals[f"{r['variant']} throughput ≥ 1.0 × {baseline_of(r['variant'])}"] = (
                f"{min(ratios):.2f}–{max(ratios):.2f} × ({'met' if min(ratios) >= 1 else 'NOT met'})")
        p99 = ratio(results, r, "fixed_rate", "p99_ms")
        if not math.isnan(p99):
            offered = r["phases"]["fixed_rate"]["offered_per_s"]
            goals[f"{r['variant']} p99 ≤ {P99_WITHIN:g} × {baseline_of(r['variant'])}'s at {offered:g}/s"] = (
                f"{p99:.2f} × ({'met' if p99 <= P99_WITHIN else 'NOT met'})")
    return goals


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    if r.get("warm_up_failed"):
        out.append(f"the warm-up's residents got no answer, nothing measured: {r['warm_up_failed'][:1]}")
    for key, ph in r["phases"].items():
        if ph.get("failures"):
            out.append(f"{key}: {ph['failures']} residents did not finish ({ph['failed'][:2]})")
        if ph.get("webhook_refusals"):
            out.append(f"{key}: {ph['webhook_refusals']} webhook deliveries refused or failed (retried)")
    rec = r.get("records", {})
    for key in ("duplicate_refs", "receipts_not_stored", "stored_without_receipt"):
        if rec.get(key):
            out.append(f"{key}: {rec[key]}")
    if r.get("bot_api_refusals"):
        out.append(f"{r['bot_api_refusals']} Bot API requests refused by the double")
    if r.get("unanswered_callbacks"):
        out.append(f"{r['unanswered_callbacks']} button presses never answered")
    return out + process_problems(r)
