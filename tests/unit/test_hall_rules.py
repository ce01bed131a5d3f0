"""The speakers' list's rules, without a database: order, moving, counts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.hall import HALL, Place, Turn, called, counts, grouped_by_topic, in_order, moved, turn_of

T0 = datetime(2026, 7, 1, 8, 0)


def test_placed_speakers_come_first_then_everyone_else_in_the_order_they_registered():
    places = [Place(1, None, T0 + timedelta(minutes=3)), Place(2, 2, T0), Place(3, None, T0 + timedelta(minutes=1)), Place(4, 1, T0 + timedelta(minutes=9))]
    assert [p.id for p in in_order(places)] == [4, 2, 3, 1]


@pytest.mark.parametrize(("to", "expected"), [(0, [30, 10, 20, 40]), (2, [10, 20, 30, 40]), (3, [10, 20, 40, 30]), (99, [10, 20, 40, 30]), (-5, [30, 10, 20, 40])])
def test_moving_a_speaker_keeps_everyone_elses_order(to, expected):
    assert moved([10, 20, 30, 40], 30, to) == expected


def test_moving_someone_not_on_the_list_is_refused():
    with pytest.raises(ValueError):
        moved([1, 2], 3, 0)


def test_counts_tell_the_floor_from_the_registered_and_the_hall_from_later():
    speakers = [("telegram", Turn.SPOKE, True), ("zalo", Turn.ABSENT, False), ("paper", Turn.WAITING, False), (HALL, Turn.SPOKE, False)]
    live = [("telegram", True), ("zalo", False), ("paper", False), (HALL, False), ("telegram", False)]
    c = counts(speakers, live)
    assert (c.registered, c.spoke, c.from_floor, c.absent, c.answered_in_hall, c.to_answer_later) == (3, 2, 1, 1, 1, 4)


def test_an_unknown_stored_turn_reads_as_waiting():
    assert turn_of(None) == Turn.WAITING and turn_of("nonsense") == Turn.WAITING and turn_of("called") == Turn.CALLED


def test_grouping_by_topic_keeps_who_was_called_ahead_and_each_topics_own_order():
    # (id, turn, topic's rank): 1 and 4 share topic 2, 2 and 5 share topic 0.
    speakers = [(3, Turn.SPOKE, 1), (1, Turn.WAITING, 2), (2, Turn.WAITING, 0), (6, Turn.CALLED, 2), (4, Turn.WAITING, 2), (5, Turn.WAITING, 0)]
    assert grouped_by_topic(speakers) == [3, 6, 2, 5, 1, 4]
    assert grouped_by_topic([]) == []


def test_a_speaker_called_out_of_turn_or_late_moves_to_where_they_spoke():
    listed = [(1, Turn.SPOKE), (2, Turn.ABSENT), (3, Turn.WAITING), (4, Turn.WAITING), (5, Turn.WAITING)]
    assert called(listed, 3) == [1, 2, 3, 4, 5]  # in turn: nothing moves
    assert called(listed, 5) == [1, 2, 5, 3, 4]  # out of turn
    assert called(listed, 2) == [1, 2, 3, 4, 5]  # absent, then arrived: after those done, ahead of the waiting
    assert called([(1, Turn.WAITING), (2, Turn.SPOKE), (3, Turn.WAITING)], 3) == [2, 3, 1]
