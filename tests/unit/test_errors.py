"""Problems as catalogue keys (bot/domain/errors.py): each door words them in its reader's language."""

from __future__ import annotations

import errno

from bot.domain.errors import Problem, ServiceError, file_problem, texts
from bot.text.catalogue import Translator

EN = Translator("en")


def test_a_problem_within_a_problem_is_worded_in_the_same_language():
    refused = ServiceError("problem.plan.bad_text", field="meeting.venue", reason=Problem("problem.text.bad_char", code="U+0000"))
    assert refused.text(EN) == "meeting.venue: holds the character U+0000, which is not text: remove it and try again"
    # A door that forgets to word it still shows no English.
    assert str(refused) == "meeting.venue: có ký tự U+0000 không phải là chữ: xin xoá ký tự đó rồi nhập lại"
    assert (refused.key, refused.params["field"]) == ("problem.plan.bad_text", "meeting.venue")


def test_problems_are_equal_by_key_and_values():
    assert Problem("problem.no_meeting", code="GP-2026") == Problem("problem.no_meeting", code="GP-2026")
    assert Problem("problem.no_meeting", code="GP-2026") != Problem("problem.no_meeting", code="TP-2026")
    assert len({Problem("problem.no_meeting", code="GP-2026"), Problem("problem.no_meeting", code="GP-2026")}) == 1


def test_a_file_problem_says_what_is_wrong_without_the_system_s_english():
    assert file_problem(FileNotFoundError(errno.ENOENT, "No such file"), "/tmp/plan.toml").key == "problem.file.not_found"
    assert file_problem(IsADirectoryError(errno.EISDIR, "Is a directory"), "/tmp").key == "problem.file.is_directory"
    assert file_problem(PermissionError(errno.EACCES, "Permission denied"), "/root/x").key == "problem.file.no_permission"
    unreadable = file_problem(OSError(errno.EIO, "Input/output error"), "/mnt/usb/plan.toml")
    assert texts([unreadable], EN) == ["cannot read /mnt/usb/plan.toml (system error 5)"]
    assert "Input/output" not in str(unreadable)
