"""python -m bench {inbound,outbound,scale,statements,broadcast} [options]: see `python -m bench COMMAND --help`."""

from __future__ import annotations

import argparse
import asyncio
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="doithoai's benchmarks. Each talks HTTP to the Telegram Bot API double on 127.0.0.1, prints a table "
        "of ratios measured in the same run, and writes bench/results/<name>.json.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    i = sub.add_parser("inbound", help="residents registering at once: updates/s and reply latency, vs an aiogram FSM bot",
                       description="N residents complete the whole registration at once, over webhooks and by long polling; then a "
                       "fixed offered rate. Variants: baseline (aiogram FSM + MemoryStorage), doithoai on SQLite, on PostgreSQL with 1 and 2 "
                       "workers; by long polling: baseline-poll (aiogram's start_polling), doithoai on SQLite and on PostgreSQL.")
    i.add_argument("--residents", default="100,1000", help="comma-separated crowd sizes (default: 100,1000)")
    i.add_argument("--rate", type=float, default=200.0, help="updates a second offered in the fixed-rate run (default: 200)")
    i.add_argument("--rate-seconds", type=float, default=10.0, help="how long the fixed-rate run offers updates (default: 10)")
    i.add_argument("--variants", default="baseline,sqlite,pg-1,pg-2,baseline-poll,sqlite-poll,pg-poll",
                   help="comma-separated subset of baseline,sqlite,pg-1,pg-2 (webhooks) and baseline-poll,sqlite-poll,pg-poll (long polling)")
    i.add_argument("--quick", action="store_true", help="a quick check: --residents 50,200 --rate-seconds 5")

    o = sub.add_parser("outbound", help="10,000 answers published at once, against Telegram's limits: rate, 429s, lost/duplicated",
                       description="Publishes the conclusion of a meeting with N answered submissions and measures their delivery by "
                       "`doithoai run --webhook` (PostgreSQL) with 1 worker, then 2, against a double enforcing 30 messages/s overall "
                       "and 1/s per chat.")
    o.add_argument("--answers", type=int, default=10_000, help="answered submissions, one resident each (default: 10000)")
    o.add_argument("--rate", type=float, default=30.0, help="the overall limit, enforced by the double and configured in doithoai (default: 30)")
    o.add_argument("--workers", default="1,2", help="comma-separated worker counts to run (default: 1,2)")
    o.add_argument("--quick", action="store_true", help="a quick check: --answers 600")

    s = sub.add_parser("scale", help="100,000 residents, 20,000 submissions, 50 communes: memory, CLI listing/export, console page",
                       description="Bulk-loads 50 communes into PostgreSQL, then measures a bot process's memory with every commune's "
                       "bot, `doithoai submissions list`/`answers export` for one commune, and the console's submissions page; "
                       "each against the same on a database holding that commune alone.")
    s.add_argument("--residents", type=int, default=100_000, help="residents over all communes (default: 100000)")
    s.add_argument("--submissions", type=int, default=20_000, help="submissions over all communes (default: 20000)")
    s.add_argument("--communes", type=int, default=50, help="communes (default: 50)")
    s.add_argument("--requests", type=int, default=20, help="timed requests of the console page (default: 20)")
    s.add_argument("--quick", action="store_true", help="a quick check: 10 communes, 10,000 residents, 2,000 submissions")

    t = sub.add_parser("statements", help="one database round trip at each layer, from the bare driver to a unit of work",
                       description="CPU per call of the lookup every update starts with, through sqlite3, aiosqlite, SQLAlchemy Core, "
                       "the ORM repository and whole units of work (and asyncpg up on PostgreSQL), as ratios to the bare driver.")
    t.add_argument("-n", type=int, default=2000, help="calls per layer (default: 2000)")
    t.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")

    b = sub.add_parser("broadcast", help="bench/broadcast.py: a naive send loop vs doithoai's sender (in-process)", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["broadcast"]:  # its own options (and --help), as `python bench/broadcast.py` takes them
        from bench import broadcast

        sys.argv = ["python -m bench broadcast", *argv[1:]]
        asyncio.run(broadcast.main())
        return
    args = parser().parse_args(argv)
    if args.command == "inbound":
        from bench import inbound

        if args.quick:
            args.residents, args.rate_seconds = "50,200", 5.0
        asyncio.run(inbound.main(args))
    elif args.command == "outbound":
        from bench import outbound

        if args.quick:
            args.answers = 600
        asyncio.run(outbound.main(args))
    elif args.command == "statements":
        from bench import statements

        asyncio.run(statements.main(args))
    elif args.command == "scale":
        from bench import scale

        if args.quick:
            args.communes, args.residents, args.submissions = 10, 10_000, 2_000
        asyncio.run(scale.main(args))


if __name__ == "__main__":
    main()
