"""`doithoai run --webhook --workers N`: N processes serving every bot's webhooks on one port.

The supervisor (this process) registers the webhooks and menus once, then starts N workers
that listen on the same port (SO_REUSEPORT: the kernel shares the connections out) and share
everything else through PostgreSQL: the inbox (a chat's updates are handled by one worker at a
time, in order), the delivery queue (claimed with FOR UPDATE SKIP LOCKED), each bot's sending
rate, and the scheduler (one worker fires, elected by an advisory lock). A worker that dies is
replaced; what it had in hand is still in the database, and the others carry on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
from typing import Any

from bot.entrypoints.bootstrap import configure_logging, register_webhooks, run_bot
from bot.entrypoints.settings import Settings

log = logging.getLogger(__name__)

# A worker that ends sooner than this after starting is failing at start-up (a setting, the
# database): wait before the next try rather than spin.
QUICK_DEATH = 10.0
RETRY_AFTER = 5.0


def _worker(host: str, port: int) -> None:
    """One worker process (started fresh, so it reads the same environment and .env)."""
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(run_bot(settings, webhook=True, host=host, port=port, register=False, shared=True))


def supervise(settings: Settings, host: str, port: int, workers: int) -> None:
    asyncio.run(register_webhooks(settings))
    context = multiprocessing.get_context("spawn")
    processes: dict[int, Any] = {}
    started: dict[int, float] = {}
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(n: int) -> None:
        process = context.Process(target=_worker, args=(host, port), name=f"doithoai-worker-{n}")
        process.start()
        processes[n], started[n] = process, time.monotonic()
        log.info("worker %d started (pid %s)", n, process.pid)

    try:
        for n in range(workers):
            start(n)
        while not stopping:
            time.sleep(0.5)
            for n, process in list(processes.items()):
                if process.is_alive() or stopping:
                    continue
                log.warning("worker %d (pid %s) ended with code %s: starting another", n, process.pid, process.exitcode)
                if time.monotonic() - started[n] < QUICK_DEATH:
                    time.sleep(RETRY_AFTER)
                if not stopping:
                    start(n)
    finally:
        # SIGTERM lets each worker finish the updates and messages in hand.
        for process in processes.values():
            if process.is_alive():
                process.terminate()
        for process in processes.values():
            process.join(60)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("all workers stopped")
