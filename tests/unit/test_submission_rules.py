"""A submission's receipt code and statuses (bot/domain/submissions.py), as rules without a database."""

from __future__ import annotations

from bot.domain.submissions import STATUSES, Status, Withdrawal, after_answer, is_live, receipt_code, withdrawal


def test_the_receipt_code_is_the_commune_s_code_and_a_running_number():
    assert receipt_code("GP", 7) == "GP-0007" and receipt_code("TP", 12345) == "TP-12345"


def test_a_question_may_be_withdrawn_only_while_it_waits_and_registration_is_open():
    assert withdrawal(Status.RECEIVED, registration_open=True) == Withdrawal.ALLOWED
    assert withdrawal(Status.RECEIVED, registration_open=False) == Withdrawal.TOO_LATE
    assert withdrawal(Status.ANSWERED, registration_open=True) == Withdrawal.TOO_LATE
    assert withdrawal(Status.FORWARDED, registration_open=True) == Withdrawal.TOO_LATE
    assert withdrawal(Status.WITHDRAWN, registration_open=True) == Withdrawal.ALREADY


def test_only_a_withdrawn_question_is_left_out_and_an_answer_is_answered_or_forwarded():
    assert [s for s in STATUSES if is_live(s)] == [Status.RECEIVED, Status.ANSWERED, Status.FORWARDED]
    assert is_live("received") and not is_live("withdrawn")  # as the column stores them
    assert (after_answer(forwarded=False), after_answer(forwarded=True)) == (Status.ANSWERED, Status.FORWARDED)
