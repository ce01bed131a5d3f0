"""Errors that say what went wrong as a catalogue key and its values, not as a sentence.

Why: the services are used through several doors (the console, the command line, the bot), each read in
its reader's language; an English sentence raised deep inside ended up verbatim inside a Vietnamese page.
The door words the problem with its own Translator: `exc.text(tr)`. `str(exc)` is the Vietnamese text,
so a door that forgets still shows no English.

Keys start with "problem." (tests/test_catalogue.py checks each one is in every catalogue).
"""

from __future__ import annotations

from typing import Any, Callable

Words = Callable[..., str]  # bot.text.catalogue.Translator, or anything called like it


def _vietnamese() -> Words:
    from bot.text.catalogue import Translator  # lazily: the catalogue is a leaf; nothing here needs it until shown

    return Translator("vi")


class Problem:
    """One thing wrong: a catalogue key and the values its text names. A value may itself be a Problem
    (a field's name, a text-rule refusal), worded in the same language."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params

    def text(self, tr: Words) -> str:
        return tr(self.key, **{k: v.text(tr) if isinstance(v, (Problem, ServiceError)) else v for k, v in self.params.items()})

    def __str__(self) -> str:
        return self.text(_vietnamese())

    def __repr__(self) -> str:
        return f"Problem({self.key!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)


class ServiceError(Exception):
    """What was asked cannot be done; `problem` says why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.problem = Problem(key, **params)

    @property
    def key(self) -> str:
        return self.problem.key

    @property
    def params(self) -> dict[str, Any]:
        return self.problem.params

    def text(self, tr: Words) -> str:
        return self.problem.text(tr)

    def __str__(self) -> str:
        return self.problem.text(_vietnamese())


def file_problem(exc: OSError, path: object) -> Problem:
    """A file that cannot be read or written, worded without the operating system's English."""
    if isinstance(exc, FileNotFoundError):
        return Problem("problem.file.not_found", path=path)
    if isinstance(exc, IsADirectoryError):
        return Problem("problem.file.is_directory", path=path)
    if isinstance(exc, PermissionError):
        return Problem("problem.file.no_permission", path=path)
    return Problem("problem.file.unreadable", path=path, errno=exc.errno or 0)


def texts(problems: list[Problem], tr: Words) -> list[str]:
    return [p.text(tr) for p in problems]
