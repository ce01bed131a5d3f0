"""The fake unit of work (tests/support/fake_uow.py) keeps to what the real one offers, so that a
unit test over it cannot pass on a method or an argument the real repositories do not have."""

from __future__ import annotations

import inspect

import pytest

import storage.uow
from storage.models import Commune, Village
from tests.support.fake_uow import FakeUnitOfWork, Rows

# The unit of work's attribute → its real repository, as storage/uow.py binds them.
FAKED = {"communes": "CommuneRepository", "meetings": "MeetingRepository", "staff": "StaffRepository", "sessions": "SessionRepository"}


def shape(function) -> tuple[bool, list[tuple[str, object, object]]]:
    parameters = inspect.signature(function).parameters.values()
    return inspect.iscoroutinefunction(function), [(p.name, p.kind, p.default) for p in parameters]


def test_every_faked_method_is_called_as_the_real_one_is():
    uow = FakeUnitOfWork()
    for attribute, real_name in FAKED.items():
        fake, real = type(getattr(uow, attribute)), getattr(storage.uow, real_name)
        for name, method in inspect.getmembers(fake, inspect.isfunction):
            if not name.startswith("_"):
                assert hasattr(real, name), f"{real_name} has no {name}"
                assert shape(method) == shape(getattr(real, name)), f"{real_name}.{name}"


def test_the_unit_of_work_itself_is_used_as_the_real_one_is():
    for name in ("commit", "flush", "__aenter__", "__aexit__"):
        assert inspect.iscoroutinefunction(getattr(FakeUnitOfWork, name)) == inspect.iscoroutinefunction(getattr(storage.uow.UnitOfWork, name))


async def test_added_rows_get_ids_at_the_flush_and_a_query_flushes_first():
    rows = Rows()
    async with FakeUnitOfWork(rows) as uow:
        commune = uow.communes.add(Commune(code="GP", name="Xã Gia Phúc", timezone="Asia/Ho_Chi_Minh"))
        assert commune.id is None and rows.all(Commune) == []
        assert await uow.communes.by_code("GP") is commune and commune.id == 1
        uow.staff.add(Village(commune_id=1, name="Thôn Phong Lâm"))
    assert rows.all(Village) == []  # never flushed nor committed: not written


def test_ids_are_never_given_twice():
    rows = Rows()
    first = rows.add(Commune(code="GP", name="Xã Gia Phúc", timezone="Asia/Ho_Chi_Minh"))
    rows.delete(first)
    assert rows.add(Commune(code="TP", name="Xã Tân Phong", timezone="Asia/Ho_Chi_Minh")).id == 2


def test_a_repository_that_is_not_faked_says_so():
    with pytest.raises(AttributeError, match="residents"):
        FakeUnitOfWork().residents  # noqa: B018
