"""The `doithoai` command as an operator runs it: a separate process, its own environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.support.botapi_double import BotAPIDouble
from tests.support.eventually import eventually

BIN = Path(sys.executable).parent / "doithoai"


def command(*args: str) -> list[str]:
    return [str(BIN), *args] if BIN.exists() else [sys.executable, "-m", "bot", *args]


def bot_env(tmp_path: Path, double: BotAPIDouble, **extra: str) -> dict:
    """A clean environment pointing at a fresh SQLite file (unless `extra` names another database) and the Bot API double."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    env.update(
        DOITHOAI_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        DOITHOAI_TELEGRAM_TOKEN=double.token,
        DOITHOAI_TELEGRAM_API_URL=double.base_url,
        # Test residents answer faster than any person: no per-chat pacing (tests/integration/test_delivery.py checks it).
        DOITHOAI_TELEGRAM_CHAT_RATE="1000",
        DOITHOAI_TELEGRAM_CHAT_BURST="1000",
    )
    env.update(extra)
    return env


async def cli(env: dict, *args: str) -> tuple[int, str, str]:
    # A session of its own: nothing the command does can wait on the tester's terminal.
    proc = await asyncio.create_subprocess_exec(
        *command(*args), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def ok(env: dict, *args: str) -> str:
    code, out, err = await cli(env, *args)
    assert code == 0, err
    return out


class RunningBot:
    """`doithoai run` in the background, its output appended to `log`."""

    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 180) -> None:
        """Start it and wait until it says it is running: how long a cold start takes depends on the
        machine and its load, and is not what the tests measure (they give the bot's answers seconds)."""
        out = self.log.open("ab")
        since = out.tell()
        self.proc = await asyncio.create_subprocess_exec(*command("run", *self.args), env=self.env, stdout=out, stderr=out)
        if self.env.get("DOITHOAI_LOG_LEVEL", "INFO").upper() not in ("INFO", "DEBUG"):
            return  # it would not say so

        def said_running() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self._log_since(since)
            return " bot.entrypoints.bootstrap: running: " in self._log_since(since)

        await eventually(said_running, timeout=timeout, what="`doithoai run` up")

    def _log_since(self, offset: int) -> str:
        with self.log.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    async def stop(self) -> None:
        """SIGTERM, as systemd sends it: the bot must finish what it holds and exit 0."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(self.proc.wait(), 30) == 0, self.log.read_text(encoding="utf-8", errors="replace")

    async def kill(self) -> None:
        """kill -9: no chance to tidy up."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_listening(port: int, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:port."""
    async def accepting() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await eventually(accepting, timeout=timeout, what=f"a server listening on port {port}")
