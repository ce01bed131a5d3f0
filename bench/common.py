"""What every benchmark shares: the Bot API double in webhook mode, `doithoai` processes, PostgreSQL
databases of our own, CPU and memory of a process tree, percentiles, tables and the results file."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import asyncpg

from tests.support.botapi_double import BotAPIDouble
from tests.support.process import command, free_port, wait_listening

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PLAN = ROOT / "bot" / "entrypoints" / "demo" / "gia-phuc-2026.toml"
PG_SERVER = os.environ.get("DOITHOAI_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SECRET = "bench-webhook-secret-0123456789"
# Telegram opens at most this many connections at once to a webhook (setWebhook's max_connections default).
TELEGRAM_MAX_CONNECTIONS = 40
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the double


class BenchDouble(BotAPIDouble):
    """The strict Bot API double: for a bot on webhooks, a simulated person's update is handed back
    (to be POSTed to the bot's webhook, as Telegram would) instead of being queued for getUpdates;
    every bot message's arrival is timed and wakes whoever waits for that chat."""

    def __init__(self, *args: Any, first_update_id: int = 10_000, polled: bool = False, **kwargs: Any) -> None:
        """`first_update_id`: where update ids start; a bot that has seen ids before (the same
        database, another run) skips a repeated one as a redelivery, as it should. `polled`: the bot
        long-polls, so updates are queued for getUpdates, as Telegram does, rather than handed back."""
        self.polled = polled
        super().__init__(*args, **kwargs)
        self._next_update_id = first_update_id
        self.arrived: dict[tuple[int, int], float] = {}  # (chat, message_id) -> perf_counter at arrival
        self._chat_waiters: dict[int, asyncio.Future] = {}

    def queue_update(self, payload: dict) -> dict:
        if self.polled:
            return super().queue_update(payload)
        update = {"update_id": self._next_update_id, **copy.deepcopy(payload)}
        self._next_update_id += 1
        return update

    def _store_bot_message(self, chat, content, params):  # type: ignore[no-untyped-def]
        public = super()._store_bot_message(chat, content, params)
        self.arrived[(chat.id, public["message_id"])] = time.perf_counter()
        waiter = self._chat_waiters.pop(chat.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return public

    def started_user(self, first_name: str) -> Any:
        """A user who has written to the bot already (the bot may message them)."""
        user = self.user(first_name=first_name)
        user.started = user.seen = True
        self._private_chat(user)
        return user

    async def wait_for(self, chat_id: int, cursor: int, fragment: str, timeout: float) -> tuple[dict, int, float]:
        """The first bot message in the chat from position `cursor` on whose text holds `fragment`:
        (message, the cursor after it, when it arrived). TimeoutError if none comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            chat = self.chats.get(chat_id)
            ids = chat.bot_message_ids if chat is not None else []
            while cursor < len(ids):
                message = chat.history[ids[cursor]]  # type: ignore[union-attr]
                cursor += 1
                if fragment in message.get("text", ""):
                    return message, cursor, self.arrived[(chat_id, message["message_id"])]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(fragment)
            waiter = self._chat_waiters.get(chat_id)
            if waiter is None or waiter.done():
                waiter = self._chat_waiters[chat_id] = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(waiter), remaining)
            except asyncio.TimeoutError:
                pass

    def button(self, chat_id: int, label: str) -> tuple[dict, str]:
        """The newest bot message in the chat still showing a button whose label holds `label`."""
        chat = self.chats[chat_id]
        for message_id in reversed(chat.bot_message_ids):
            message = chat.history[message_id]
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if label in b["text"]:
                        return message, b["callback_data"]
        raise LookupError(f"no button {label!r} in chat {chat_id}")

    def buttons(self, message: dict) -> list[str]:
        return [b["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


class MultiDouble:
    """Several bots' doubles behind one Bot API address, told apart by the token in the path (as
    api.telegram.org does): one `DOITHOAI_TELEGRAM_API_URL` serves every commune's bot."""

    def __init__(self, tokens: dict[str, str], host: str = "127.0.0.1", first_update_id: int = 10_000) -> None:
        """`tokens`: a name (the commune's code) for each bot's token."""
        self.doubles = {name: BenchDouble(token, username=f"bench_{name.lower()}_bot", first_update_id=first_update_id)
                        for name, token in tokens.items()}
        self._by_token = {d.token: d for d in self.doubles.values()}
        self._host, self._port = host, 0
        self._runner: Any = None

    async def __aenter__(self) -> "MultiDouble":
        from aiohttp import web

        async def route(request: web.Request) -> web.StreamResponse:
            double = self._by_token.get(request.match_info["token"])
            if double is None:
                return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
            return await double._handle_api(request)

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", route)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, 0).start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for d in self.doubles.values():
            d._closing = True
            d._notify()
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"


# --------------------------------------------------------------------------- processes


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    env.update(extra)
    return env


def bot_env(database_url: str, double: BotAPIDouble, *, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """`doithoai run --webhook` at the double: pacing per chat off (the simulated residents answer in
    milliseconds, which no person does) and the overall rate at 1,000 messages a second, far above
    what is offered, so that the send limit is not what is measured. (Not higher: with --workers,
    a rate whose slot is shorter than the event loop's wake-up delay never lets a message go; see
    the README's Benchmarks.)"""
    settings = {
        "DOITHOAI_DATABASE_URL": database_url,
        "DOITHOAI_TELEGRAM_TOKEN": double.token,
        "DOITHOAI_TELEGRAM_API_URL": api_url or double.base_url,
        "DOITHOAI_WEBHOOK_BASE_URL": "https://bench.invalid",
        "DOITHOAI_WEBHOOK_SECRET": SECRET,
        "DOITHOAI_TELEGRAM_CHAT_RATE": "1000",
        "DOITHOAI_TELEGRAM_CHAT_BURST": "1000",
        "DOITHOAI_TELEGRAM_RATE": "1000",
        "DOITHOAI_LOG_LEVEL": "WARNING",
    }
    settings.update(extra)
    return clean_env(**settings)


async def cli(env: dict, *args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    """A `doithoai` command; its output, or RuntimeError with its stderr. In a session of its own, so
    that a password prompt reads stdin rather than the terminal the benchmark runs in."""
    proc = await asyncio.create_subprocess_exec(
        *command(*args), env=env, cwd=cwd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode:
        raise RuntimeError(f"doithoai {' '.join(args[:3])} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return out.decode()


async def timed_cli(env: dict, *args: str, **kwargs: Any) -> tuple[float, str]:
    started = time.perf_counter()
    out = await cli(env, *args, **kwargs)
    return time.perf_counter() - started, out


class Server:
    """A long-running process (`doithoai run --webhook`, `doithoai web`, the baseline bot) in a
    session of its own, its output in `log`."""

    def __init__(self, argv: Sequence[str], env: dict, log: Path, port: int | None, cwd: Path | None = None, *, ready: str | None = None) -> None:
        """`port`: where it listens once ready; a process that listens nowhere (a long poll) is ready
        when its log shows `ready`."""
        self.argv, self.env, self.log, self.port, self.cwd, self.ready = list(argv), env, log, port, cwd, ready
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 60) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=out, start_new_session=True)
        out.close()
        if self.port is None:
            deadline = time.monotonic() + timeout
            while self.ready not in self.tail(10**7):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.argv[0]} did not get ready: {self.tail()}")
                await asyncio.sleep(0.1)
            return
        try:
            await wait_listening(self.port, timeout)
        except OSError:
            raise RuntimeError(f"{self.argv[0]} did not start listening: {self.tail()}") from None

    def pids(self) -> list[int]:
        assert self.proc is not None
        return tree(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    async def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if self.proc.poll() is None:
            for pid in reversed(self.pids()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        return self.proc.returncode


def doithoai_run(env: dict, log: Path, port: int | None, workers: int = 1, cwd: Path | None = None) -> Server:
    """`doithoai run --webhook` on `port`, or with no port `doithoai run`, which long-polls."""
    if port is None:
        return Server(command("run"), env, log, None, cwd, ready="polling Telegram as")
    args = ["run", "--webhook", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    return Server(command(*args), env, log, port, cwd)


def tree(root: int) -> list[int]:
    """The process and its descendants (a supervisor's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of one process, in MiB (0 once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- PostgreSQL


def pg_url(name: str, driver: str = "postgresql") -> str:
    return f"{PG_SERVER.replace('postgresql', driver, 1)}/{name}"


async def pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(pg_url("postgres"), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def pg_create(label: str) -> str:
    name = f"doithoai_bench_{label}_{uuid.uuid4().hex[:8]}"
    await pg_admin(f"CREATE DATABASE {name}")
    return name


async def pg_drop(name: str) -> None:
    await pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def pg_drop_leftovers() -> None:
    """Databases a killed benchmark run left behind (only ours: doithoai_bench_…)."""
    conn = await asyncpg.connect(pg_url("postgres"), timeout=10)
    try:
        names = [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'doithoai\\_bench\\_%'")]
    finally:
        await conn.close()
    for name in names:
        await pg_drop(name)


def plan_text(*, code: str = "GP", name: str = "Xã Gia Phúc", meeting: str = "GP-2026", villages: list[str] | None = None) -> str:
    """The example plan, its registration open (deadline in 10 days, meeting three weeks later), as
    another commune if asked."""
    from datetime import datetime, timedelta, timezone

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    closes = today + timedelta(days=10, hours=16, minutes=59)
    starts = closes.replace(hour=1, minute=0) + timedelta(days=21)
    text = PLAN.read_text(encoding="utf-8")
    text = text.replace('starts_at = "2026-06-11T08:00:00+07:00"', f'starts_at = "{starts.isoformat()}"')
    text = text.replace('ends_at = "2026-06-11T11:30:00+07:00"', f'ends_at = "{(starts + timedelta(hours=3, minutes=30)).isoformat()}"')
    text = text.replace('registration_closes_at = "2026-05-15T23:59:00+07:00"', f'registration_closes_at = "{closes.isoformat()}"')
    text = text.replace('code = "GP-2026"', f'code = "{meeting}"').replace('code = "GP" ', f'code = "{code}" ')
    text = text.replace('name = "Xã Gia Phúc"', f'name = "{name}"')
    if villages is not None:
        head, _, tail = text.partition("[[commune.villages]]")
        tail = tail[tail.index("[meeting]"):]
        text = head + "".join(f'[[commune.villages]]\nname = "{v}"\n' for v in villages) + "\n" + tail
    return text


# --------------------------------------------------------------------------- numbers and output


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([_cell(c) for c in cells])

    def render(self) -> str:
        """A Markdown table (prints well in a terminal and pastes into the README)."""
        widths = [max(len(str(x)) for x in [c, *(r[i] for r in self.rows)]) for i, c in enumerate(self.columns)]
        line = lambda cells: "| " + " | ".join(str(x).ljust(w) for x, w in zip(cells, widths)) + " |"  # noqa: E731
        return "\n".join([line(self.columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in self.rows)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def code_version() -> dict[str, str]:
    """The code measured: the commit, and a hash of the uncommitted changes to bot/ and storage/ (if any)."""
    import hashlib

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    diff = git("diff", "HEAD", "--", "bot", "storage") + git("ls-files", "--others", "--exclude-standard", "--", "bot", "storage")
    return {"commit": head, "uncommitted": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else "none"}


def machine() -> dict[str, Any]:
    return {
        "code": code_version(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_before": round(os.getloadavg()[0], 2),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return str(value)


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded all the way down a structure, so the results file stays small and diffable."""
    if isinstance(value, float):
        return None if value != value else round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def say(text: str = "") -> None:
    print(text, flush=True)


def port() -> int:
    return free_port()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def log_findings(server: Server) -> dict[str, Any]:
    """What a `doithoai run` left in its log: errors, warnings, workers restarted."""
    lines = server.tail(10**8).splitlines()
    errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
    return {
        "error_lines": len(errors), "first_errors": errors[:5],
        "warnings": sum(" WARNING " in line for line in lines),
        "worker_restarts": sum("starting another" in line for line in lines),
    }


def process_problems(r: dict[str, Any]) -> list[str]:
    """The problems a run's log and exit show (see `log_findings`), for a benchmark's findings."""
    out = []
    log = r.get("log", {})
    if log.get("error_lines"):
        out.append(f"{log['error_lines']} ERROR/traceback lines in its log, e.g. {log['first_errors'][:1]}")
    if log.get("worker_restarts"):
        out.append(f"{log['worker_restarts']} worker restarts")
    if r.get("exit_code") not in (0, None):
        out.append(f"exit code {r['exit_code']} on SIGTERM")
    return out
