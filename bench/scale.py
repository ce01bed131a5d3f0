"""`python -m bench scale`: a deployment of 50 communes holding 100,000 residents and 20,000 submissions
(PostgreSQL), and what one commune's people and staff feel of that size.

Two databases are built: "50 communes" (each commune's plan loaded with bot.services.plans, then its
2,000 residents and 400 submissions, half of them answered, bulk-loaded with COPY) and, as the
baseline, "GP alone" (the same commune, the same rows, nothing else). On each:

- `doithoai submissions list --meeting GP-2026 --json` and `doithoai answers export … --meeting
  GP-2026` (median of 3 runs, each a new process as an operator runs it);
- the web console's submissions page (`doithoai web`; a secretariat member of commune GP logs in,
  then GET /submissions, p50/p95 over --requests requests after 2 warm-up ones), and the same for a
  secretariat member without a commune (a district's staff, who sees every commune);

and on "50 communes", the resident memory (VmRSS) of `doithoai run --webhook` serving GP's bot alone,
then of one serving all 50 communes' bots (DOITHOAI_COMMUNES_FILE), each after 100 residents (2 per
commune for the 50 bots) have registered through it.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    TELEGRAM_MAX_CONNECTIONS,
    MultiDouble,
    Server,
    Table,
    bot_env,
    clean_env,
    cli,
    doithoai_run,
    machine,
    percentile,
    pg_create,
    pg_drop,
    pg_url,
    port,
    rounded,
    rss_mib,
    save,
    say,
    timed_cli,
)
from bench.data import Commune, bulk_people, communes, create_schema_and_plans
from bench.residents import Resident, Webhook
from tests.support.process import command

PASSWORD = "bench-password-0123"
WEB_KEY = "bench-web-secret-key-0123456789abcdef"
REGISTRANTS = 100  # residents who register through the bot before its memory is read


def chat_base(index: int) -> int:
    """The bulk residents' chat ids: 500,000,000 + 100,000 a commune (never a simulated user's)."""
    return 500_000_000 + index * 100_000


def channel_of(c: Commune) -> str:
    return "telegram" if c.code == "GP" else f"telegram:{c.code}"


async def build(label: str, wanted: list[Commune], residents: int, submissions: int) -> tuple[str, dict[str, float]]:
    database = await pg_create(label)
    started = time.monotonic()
    await create_schema_and_plans(database, wanted)
    plans_s = time.monotonic() - started
    counts = {"residents": 0, "submissions": 0}
    for i, c in enumerate(wanted):
        got = await bulk_people(database, c, channel=channel_of(c), chat_ids=list(range(chat_base(i), chat_base(i) + residents)),
                                submissions=submissions, answered=0.5, start=i * residents)
        counts["residents"] += got["residents"]
        counts["submissions"] += got["submissions"]
    return database, {"plans_s": plans_s, "rows_s": time.monotonic() - started - plans_s, **counts}


async def median_cli(env: dict, tmp: Path, *args: str, runs: int = 3) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        seconds, out = await timed_cli(env, *args, cwd=tmp)
        times.append(seconds)
    return statistics.median(times), out


async def console_page(env: dict, tmp: Path, login: str, requests: int) -> dict[str, Any]:
    """Log in to `doithoai web` as `login`, then time GET /submissions."""
    p = port()
    web = Server(command("web", "--host", "127.0.0.1", "--port", str(p)), env, tmp / f"web-{login}.log", p, cwd=tmp)
    await web.start()
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(f"http://127.0.0.1:{p}", cookie_jar=jar) as http:
            async with http.get("/login") as r:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
            assert csrf, "no CSRF token on the login page"
            form = {"csrf": csrf.group(1), "next": "/submissions", "login": login, "password": PASSWORD}
            async with http.post("/login", data=form) as r:
                await r.read()
                if r.url.path != "/submissions":
                    raise RuntimeError(f"login as {login} failed: ended at {r.url.path} ({r.status})")
            times, size, refs = [], 0, 0
            for k in range(requests + 2):
                started = time.perf_counter()
                async with http.get("/submissions") as r:
                    body = await r.text()
                    if r.status != 200:
                        raise RuntimeError(f"GET /submissions: {r.status}")
                if k >= 2:
                    times.append(time.perf_counter() - started)
                size, refs = len(body.encode()), len(set(re.findall(r"\b[A-Z]{2,5}-\d{4}\b", body)))
            communes_shown = sorted(set(re.findall(r"\b([A-Z]{2,5})-\d{4}\b", body)))
    finally:
        await web.stop()
    return {"p50_ms": percentile(times, 50) * 1000, "p95_ms": percentile(times, 95) * 1000, "max_ms": max(times) * 1000,
            "requests": len(times), "page_kib": size / 1024, "refs_on_page": refs, "communes_on_page": len(communes_shown)}


async def operator_timings(label: str, database: str, submissions: int, requests: int) -> dict[str, Any]:
    say(f"   {label}: command line and console")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        env = clean_env(DOITHOAI_DATABASE_URL=pg_url(database), DOITHOAI_WEB_SECRET_KEY=WEB_KEY, DOITHOAI_LOG_LEVEL="WARNING")
        out["meeting_list_s"], _ = await median_cli(env, tmp, "meeting", "list", "--json")
        out["list_s"], listed = await median_cli(env, tmp, "submissions", "list", "--meeting", "GP-2026", "--json")
        rows = json.loads(listed)
        if len(rows) != submissions or any(not r["ref"].startswith("GP-") for r in rows):
            raise RuntimeError(f"submissions list: {len(rows)} rows, expected {submissions} of GP")
        out["export_s"], exported = await median_cli(env, tmp, "answers", "export", str(tmp / "gp.xlsx"), "--meeting", "GP-2026")
        out["exported"] = exported.strip()
        await cli(env, "staff", "add", "--role", "secretariat", "--login", "sec_gp", "--commune", "GP", "--name", "Văn phòng xã Gia Phúc", cwd=tmp)
        await cli(env, "staff", "add", "--role", "secretariat", "--login", "sec_district", "--name", "Văn phòng huyện", cwd=tmp)
        for login in ("sec_gp", "sec_district"):
            await cli(env, "staff", "password", login, stdin=f"{PASSWORD}\n{PASSWORD}\n", cwd=tmp)
        out["page_commune"] = await console_page(env, tmp, "sec_gp", requests)
        out["page_district"] = await console_page(env, tmp, "sec_district", requests)
    say(f"      list {out['list_s']:.2f} s, export {out['export_s']:.2f} s, page p50 {out['page_commune']['p50_ms']:.0f} ms "
        f"(district staff {out['page_district']['p50_ms']:.0f} ms)")
    return out


async def bot_memory(database: str, wanted: list[Commune], all_bots: bool) -> dict[str, Any]:
    """RSS of `doithoai run --webhook` (one process) just started, and after REGISTRANTS residents registered through it."""
    serving = wanted if all_bots else wanted[:1]
    tokens = {c.code: f"{7_000_000 + i}:bench-{c.code}" for i, c in enumerate(wanted)}
    with tempfile.TemporaryDirectory(prefix="bench-scale-bot-") as tmp_name:
        tmp = Path(tmp_name)
        # Each run its own update and user ids: the database remembers the updates it has handled.
        run = 2 if all_bots else 1
        async with MultiDouble({c.code: tokens[c.code] for c in serving}, first_update_id=run * 1_000_000) as md:
            extra = {"DOITHOAI_COMMUNE": "GP", "DOITHOAI_LOG_LEVEL": "INFO"}
            if all_bots:
                path = tmp / "communes.toml"
                path.write_text("".join(f'[{c.code}]\ntelegram_token = "{tokens[c.code]}"\n\n' for c in serving[1:]), encoding="utf-8")
                extra["DOITHOAI_COMMUNES_FILE"] = str(path)
            env = bot_env(pg_url(database), md.doubles["GP"], api_url=md.base_url, **extra)
            p = port()
            server = doithoai_run(env, tmp / "run.log", p, cwd=tmp)
            await server.start(timeout=120)
            await asyncio.sleep(3)
            assert server.proc is not None
            idle = rss_mib(server.proc.pid)
            residents: list[Resident] = []
            per = max(1, REGISTRANTS // len(serving))
            for i, c in enumerate(serving):
                double = md.doubles[c.code]
                path = "/webhook/telegram" + ("" if c.code == "GP" else f"/{c.code}")
                for j in range(per):
                    user = double.user(user_id=300_000_000 + run * 10_000_000 + i * 1000 + j, first_name=f"Dân {c.code} {j}")
                    residents.append(Resident(double, user, i * 1000 + j, None, url=f"http://127.0.0.1:{p}{path}"))  # type: ignore[arg-type]
            started = time.monotonic()
            try:
                async with Webhook(f"http://127.0.0.1:{p}/webhook/telegram", TELEGRAM_MAX_CONNECTIONS) as webhook:
                    await asyncio.gather(*(r.register(webhook, 180) for r in residents))
                seconds = time.monotonic() - started
                await asyncio.sleep(2)
                served = rss_mib(server.proc.pid)
                status = Path(f"/proc/{server.proc.pid}/status").read_text()
                peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
            finally:
                exit_code = await server.stop()
            failures = [f"{r.url.rsplit('/', 1)[-1] if r.url else ''}: {r.failed}" for r in residents if r.failed]
            refs = [r.ref for r in residents if r.ref]
    return {"bots": len(serving), "idle_mib": idle, "after_mib": served, "peak_mib": peak, "registered": len(refs), "residents": len(residents),
            "communes_served": len({r.split("-")[0] for r in refs}), "seconds": seconds, "failures": len(failures),
            "first_failures": failures[:3], "exit_code": exit_code}


def tables(result: dict[str, Any], requests: int) -> tuple[str, str]:
    full, one = result["fifty"], result["alone"]
    t = Table(["what (one commune: GP, 400 submissions)", "50 communes", "GP alone", "ratio", "goal"])
    t.add("`submissions list --meeting GP-2026 --json`, s", full["list_s"], one["list_s"], full["list_s"] / one["list_s"], "")
    t.add("`answers export … --meeting GP-2026`, s", full["export_s"], one["export_s"], full["export_s"] / one["export_s"], "")
    t.add("`meeting list --json` (start-up reference), s", full["meeting_list_s"], one["meeting_list_s"],
          full["meeting_list_s"] / one["meeting_list_s"], "")
    for key, who in (("page_commune", "GP's secretariat"), ("page_district", "district secretariat (every commune)")):
        a, b = full[key], one[key]
        t.add(f"console /submissions p50, {who}, ms", a["p50_ms"], b["p50_ms"], a["p50_ms"] / b["p50_ms"], "< 200")
        t.add(f"console /submissions p95, {who}, ms", a["p95_ms"], b["p95_ms"], a["p95_ms"] / b["p95_ms"], "< 200")
    m = Table(["`doithoai run --webhook`, 1 process", "bots", "RSS idle MiB", "RSS after MiB", "peak MiB", "registered", "communes", "failed"])
    for key in ("memory_one", "memory_all"):
        r = result[key]
        m.add("GP's bot alone" if key == "memory_one" else "every commune's bot", r["bots"], r["idle_mib"], r["after_mib"], r["peak_mib"],
              r["registered"], r["communes_served"], r["failures"])
    ratio = result["memory_all"]["after_mib"] / result["memory_one"]["after_mib"]
    return t.render(), m.render() + f"\n\nRSS after, {result['memory_all']['bots']} bots ÷ 1 bot: {ratio:.2f}"


async def main(args: Any) -> dict[str, Any]:
    per_residents, per_submissions = args.residents // args.communes, args.submissions // args.communes
    say(f"scale: {args.communes} communes × {per_residents} residents and {per_submissions} submissions "
        f"({per_residents * args.communes} and {per_submissions * args.communes}); PostgreSQL")
    info = machine()
    wanted = communes(args.communes)
    result: dict[str, Any] = {}
    databases: list[str] = []
    try:
        full, loading = await build("scale_all", wanted, per_residents, per_submissions)
        databases.append(full)
        say(f"   built: {loading['residents']} residents, {loading['submissions']} submissions; plans {loading['plans_s']:.1f} s, rows {loading['rows_s']:.1f} s")
        one, loading_one = await build("scale_one", communes(1), per_residents, per_submissions)
        databases.append(one)
        result["loading"] = {"fifty": loading, "alone": loading_one}
        result["fifty"] = await operator_timings("50 communes", full, per_submissions, args.requests)
        result["alone"] = await operator_timings("GP alone", one, per_submissions, args.requests)
        say("   memory: GP's bot alone")
        result["memory_one"] = await bot_memory(full, wanted, all_bots=False)
        say(f"      {result['memory_one']['after_mib']:.0f} MiB after {result['memory_one']['registered']} registrations")
        say(f"   memory: {args.communes} communes' bots")
        result["memory_all"] = await bot_memory(full, wanted, all_bots=True)
        say(f"      {result['memory_all']['after_mib']:.0f} MiB after {result['memory_all']['registered']} registrations "
            f"in {result['memory_all']['communes_served']} communes")
    finally:
        for name in databases:
            await pg_drop(name)
    operators, memory = tables(result, args.requests)
    say("\n" + operators + "\n\n" + memory)
    goals = {f"console p95 < 200 ms ({who})": f"{result['fifty'][key]['p95_ms']:.0f} ms ({'met' if result['fifty'][key]['p95_ms'] < 200 else 'NOT met'})"
             for key, who in (("page_commune", "commune staff"), ("page_district", "district staff"))}
    say("\nGoals: " + "; ".join(f"{k}: {v}" for k, v in goals.items()))
    problems = [f"{k}: {r['failures']} residents did not finish: {r['first_failures'][:1]}" for k in ("memory_one", "memory_all")
                if (r := result[k])["failures"]]
    problems += [f"{k}: exit code {result[k]['exit_code']} on SIGTERM" for k in ("memory_one", "memory_all") if result[k]["exit_code"] not in (0, None)]
    if problems:
        say("Problems seen:\n  " + "\n  ".join(problems))
    data = {"benchmark": "scale", "machine": info, "options": {"communes": args.communes, "residents": args.residents,
            "submissions": args.submissions, "requests": args.requests, "registrants": REGISTRANTS},
            "goals": goals, "problems": problems, "tables": {"operators": operators, "memory": memory}, "results": result}
    path = save("scale", rounded(data, 3))
    say(f"\nwritten to {path}")
    return data

