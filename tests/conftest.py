from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from bot.services.plans import load_plan, parse_plan
from bot.services.staff import OPERATOR
from storage.db import Database
from storage.schema import upgrade
from storage.uow import UnitOfWork
from tests.support import pg

EXAMPLE = Path(__file__).resolve().parents[1] / "bot" / "entrypoints" / "demo" / "gia-phuc-2026.toml"


def plan_text(
    *,
    closes: datetime | None = None,
    starts: datetime | None = None,
    code: str = "GP-2026",
    coords: bool = False,
    topics: list[str] | None = None,
    villages: list[str] | None = None,
) -> str:
    """The example plan, with its dates moved to where a test needs them."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    # 23:59 and 08:00 in Asia/Ho_Chi_Minh (UTC+7), as a commune would write them.
    closes = closes or today + timedelta(days=10, hours=16, minutes=59)
    starts = starts or closes.replace(hour=1, minute=0) + timedelta(days=21)
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('starts_at = "2026-06-11T08:00:00+07:00"', f'starts_at = "{starts.isoformat()}"')
    text = text.replace('ends_at = "2026-06-11T11:30:00+07:00"', f'ends_at = "{(starts + timedelta(hours=3, minutes=30)).isoformat()}"')
    text = text.replace('registration_closes_at = "2026-05-15T23:59:00+07:00"', f'registration_closes_at = "{closes.isoformat()}"')
    text = text.replace('code = "GP-2026"', f'code = "{code}"')
    if coords:
        text = text.replace("# latitude = 0.0", "latitude = 20.45").replace("# longitude = 0.0", "longitude = 106.34")
    if topics is not None:
        start = text.index("topics = [")
        text = text[:start] + "topics = [" + ", ".join(f'"{t}"' for t in topics) + "]\n"
    if villages is not None:
        head, _, tail = text.partition("[[commune.villages]]")
        tail = tail[tail.index("[meeting]") :]
        text = head + "".join(f'[[commune.villages]]\nname = "{v}"\n' for v in villages) + "\n" + tail
    return text


def second_commune_plan(**kw) -> str:
    """A neighbouring commune's plan (Xã Tân Phong, code TP, its own villages), for several-commune tests."""
    text = plan_text(code="TP-2026", villages=["Thôn Đông Hải", "Thôn Tây Sơn"], **kw)
    return text.replace('code = "GP"', 'code = "TP"').replace("Gia Phúc", "Tân Phong")


async def rows(db: Database, model) -> list:
    """Every row of a table, as the database holds it now."""
    async with UnitOfWork(db, readonly=True) as uow:
        return list((await uow.session.exec(select(model))).all())


async def invited_village(db: Database, name: str, meeting: str = "GP-2026"):
    """The village of that name among the meeting's invited villages (for deep links and poster codes)."""
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.meetings.by_code(meeting)
        return next(v for v in await uow.meetings.invited_villages(found.id) if v.name == name)


async def load(db: Database, text: str) -> None:
    async with UnitOfWork(db) as uow:
        await load_plan(uow, OPERATOR, parse_plan(text))
        await uow.commit()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per test process; each test gets a copy (a copy takes
    milliseconds, a migration a few hundred)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    assert not path.with_name(path.name + "-wal").exists()  # the whole schema is in the file we copy
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """Every test that touches the database runs on both: the embedded SQLite file and a real
    PostgreSQL server (a database of its own, dropped afterwards)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = pg.create()
    try:
        yield pg.url(name, "postgresql+asyncpg")
    finally:
        pg.drop(name)


@pytest.fixture
async def db(db_url: str):
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def meeting_db(db: Database) -> Database:
    await load(db, plan_text())
    return db


@pytest.fixture
async def double():
    """The Bot API double; afterwards, every request the bot made is one Telegram would accept
    (injected failures aside) and every button press was answered."""
    from tests.support.botapi_double import BotAPIDouble

    async with BotAPIDouble() as d:
        yield d
    assert d.real_rejections() == [], d.real_rejections()
    assert d.unanswered_callbacks() == []


# Modules whose tests take tens of seconds each (separate `doithoai` processes, pg_dump, nginx,
# Chromium). Run first, so that with several workers (pytest-xdist) none is left running alone at
# the end while the others sit idle.
SLOW_FIRST = ("test_workers_process", "test_staff_process", "test_zalo_process", "test_run_process", "test_backup", "test_deploy", "test_browser")


# The folder a test is in says what it needs, and gives it the marker of the same name (`pytest -m unit`):
# unit: nothing but Python (a fake unit of work at most); integration: SQLite and PostgreSQL, real
# the bot against the doubles, in this process; e2e: `doithoai` processes, Chromium, nginx and the
# other deployment tools, the README; doubles: the Telegram and Zalo doubles' own behaviour.
KINDS = ("unit", "integration", "e2e", "doubles")
TESTS = Path(__file__).resolve().parent
# A unit test asking for one of these is an integration test in the wrong folder.
NOT_FOR_UNIT_TESTS = {"db_url", "sqlite_template", "double"}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m unit` (or `-m "unit or doubles"`) does not import the other folders' modules: importing the
    web console, Playwright and the doubles for tests it then deselects takes longer than the unit tests."""
    chosen = set(re.split(r"\s+or\s+", config.option.markexpr.strip())) if config.option.markexpr else set()
    if chosen and chosen <= set(KINDS) and collection_path.parent == TESTS and collection_path.name in set(KINDS) - chosen:
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        kind = item.path.relative_to(TESTS).parts[0]
        if kind not in KINDS:
            # Unmarked, it would run in the whole suite and never under -m: say where it belongs instead.
            raise pytest.UsageError(f"{item.nodeid}: a test goes in one of tests/{', tests/'.join(KINDS)} (see tests/conftest.py)")
        item.add_marker(kind)
        needs = NOT_FOR_UNIT_TESTS.intersection(getattr(item, "fixturenames", ()))
        if kind == "unit" and needs:
            raise pytest.UsageError(f"{item.nodeid} needs {', '.join(sorted(needs))}: move it to tests/integration")

    def rank(item: pytest.Item) -> int:
        name = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: each module's tests keep their order


@pytest.fixture
def conv(meeting_db: Database):
    """The conversation core on the example meeting, without any channel."""
    from bot.conversation.engine import Conversation

    return Conversation(meeting_db)


@pytest.fixture
async def chat(conv):
    """A resident who has consented, talking to the core directly."""
    from tests.support.core_chat import CoreChat

    c = CoreChat(conv)
    await c.text("/start")
    await c.press("Đồng ý")
    return c
