"""The console's pages, one module to each group of URLs."""

from bot.entrypoints.web.routes import (
    account,
    conclusion,
    exports,
    hall,
    media,
    meetings,
    notices,
    outbox,
    public,
    record,
    signin,
    stats,
    submissions,
)

ROUTERS = (signin.router, meetings.router, submissions.router, conclusion.router, notices.router, outbox.router, stats.router,
           exports.router, hall.router, public.router, record.router, account.router, media.router)
