"""The clock inside `doithoai run`: APScheduler ticks, the database says what is due.

Each tick fires the notices and reminders that are due (bot/services/notices.py records each
one with its messages in one transaction, so it fires once); a daily job keeps the privacy
promise (bot/services/privacy.py). Every worker runs this clock; on PostgreSQL a transaction
advisory lock elects the one whose tick does the work, and the others' ticks do nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError

from bot.delivery.sender import Sender
from bot.entrypoints.settings import Settings
from bot.services.notices import report_village_notices, run_due
from bot.services.privacy import purge_expired
from storage.db import Database
from storage.locks import elected
from storage.models import utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class Schedule:
    def __init__(self, db: Database, settings: Settings, sender: Sender | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    async def tick(self) -> list[tuple[str, str, int]]:
        now = self.clock()
        holidays = self.settings.holiday_dates(range(now.year - 1, now.year + 2))
        try:
            async with UnitOfWork(self.db) as uow:
                if not await elected(uow.session, "schedule.tick"):
                    return []
                # One transaction under the election's lock: a second process must not fire the same notices.
                with uow.one_transaction():
                    fired = await run_due(uow, now, holidays)
                    reports = await report_village_notices(uow, now - timedelta(days=2), now=now)
                await uow.commit()
        except IntegrityError:
            log.info("another process fired the same notice first")
            return []
        for meeting, kind, count in fired:
            log.info("%s for %s: %d messages queued", kind, meeting, count)
        if (fired or reports) and self.sender is not None:
            self.sender.wake()
        return fired

    async def purge(self) -> None:
        async with UnitOfWork(self.db) as uow:
            if not await elected(uow.session, "schedule.purge"):
                return
            report = await purge_expired(uow, self.clock())  # commits, and so lets go of the election
        log.info("privacy purge: %s", report)

    def start(self) -> None:
        # The first tick runs at once: whatever fell due while the bot was down goes out now.
        self.scheduler.add_job(self.tick, "interval", seconds=self.settings.scheduler_interval, next_run_time=datetime.now(timezone.utc),
                               max_instances=1, coalesce=True, id="notices")
        self.scheduler.add_job(self.purge, "cron", hour=20, minute=0, max_instances=1, coalesce=True, id="privacy")  # 03:00 in Việt Nam
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
