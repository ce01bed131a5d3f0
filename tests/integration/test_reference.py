"""The reference data the bots keep in memory (storage/reference.py): read once, read again as soon
as anyone changes it, in any process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork


async def invited_names(db: Database) -> list[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        commune = await uow.reference.commune(None)
        assert commune is not None and commune.id is not None
        meeting = await uow.reference.current_meeting(commune.id, utcnow())
        assert meeting is not None and meeting.id is not None
        return [v.name for v in await uow.reference.invited_villages(meeting.id)]


async def test_kept_until_another_process_changes_the_plan(meeting_db: Database, db_url: str):
    first = await invited_names(meeting_db)
    reads = meeting_db.reference.reads
    assert await invited_names(meeting_db) == first
    assert meeting_db.reference.reads == reads  # nothing read again: nothing changed

    other = Database(db_url)  # as the console or the CLI would, with an engine of its own
    try:
        async with other.engine.begin() as conn:
            await conn.execute(text("UPDATE village SET name = 'Thôn Mới' WHERE name = :old"), {"old": first[0]})
    finally:
        await other.dispose()
    assert await invited_names(meeting_db) == ["Thôn Mới", *first[1:]]
    assert meeting_db.reference.reads > reads


async def test_a_receipt_number_is_not_a_plan_change(meeting_db: Database):
    await invited_names(meeting_db)
    reads = meeting_db.reference.reads
    async with UnitOfWork(meeting_db) as uow:
        commune = await uow.reference.commune(None)
        assert commune is not None and commune.id is not None
        await uow.communes.next_ref_number(commune.id)  # every registration does this
        await uow.commit()
    await invited_names(meeting_db)
    assert meeting_db.reference.reads == reads


async def test_the_current_meeting_moves_on_when_it_is_over(meeting_db: Database):
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        commune = await uow.reference.commune(None)
        assert commune is not None and commune.id is not None
        meeting = await uow.reference.current_meeting(commune.id, utcnow())
        assert meeting is not None
        reads = meeting_db.reference.reads
        later = meeting.ends_at + timedelta(days=1)
        # Still the latest meeting (there is no other), but asked again, not taken from memory.
        assert (await uow.reference.current_meeting(commune.id, later)).id == meeting.id  # type: ignore[union-attr]
        assert meeting_db.reference.reads == reads + 1


async def test_what_is_kept_survives_a_rolled_back_unit_of_work(meeting_db: Database):
    async with UnitOfWork(meeting_db) as uow:
        commune = await uow.reference.commune(None)
        await uow.rollback()
    assert commune is not None and commune.name  # still readable: detached before the rollback
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        assert (await uow.reference.commune(None)) is commune


async def test_an_update_without_a_session_reads_the_version_with_the_resident(meeting_db: Database, db_url: str):
    """One statement fewer an update (a round trip on PostgreSQL): the version comes with the resident,
    from the same transaction, and a plan changed meanwhile by another process is still seen."""
    import pytest

    from storage.repositories.base import NotTheUpdate
    from storage.uow import BareWork

    await invited_names(meeting_db)
    kept = meeting_db.reference.version

    async def step(connection):
        work = BareWork(meeting_db, connection)
        assert await work.residents.find("telegram", "nobody") is None
        return work.reference._checked, meeting_db.reference.version, await work.reference.commune(None)

    checked, version, commune = await meeting_db.write(step)
    assert checked and version == kept and commune is not None  # known before any question, and kept

    other = Database(db_url)
    try:
        async with other.engine.begin() as conn:
            await conn.execute(text("UPDATE village SET name = 'Thôn Mới' WHERE position = 1"))
    finally:
        await other.dispose()
    with pytest.raises(NotTheUpdate):  # what was kept is dropped; reading it again needs a session
        await meeting_db.write(step)
    assert meeting_db.reference.version != kept
