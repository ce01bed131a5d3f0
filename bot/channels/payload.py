"""Reading a webhook's body before anything trusts it: JSON, of a depth real updates have."""

from __future__ import annotations

import json
from typing import Any

# Telegram's and Zalo's updates are a few levels deep. A body nested far deeper is not an update, and
# hundreds of levels would hit Python's recursion limit while it is parsed, stored or validated.
MAX_DEPTH = 32


class Malformed(ValueError):
    """Not an update: not JSON, not an object, or of a shape no platform sends. The text names no content."""


def parse(raw: bytes) -> dict:
    """The JSON object in `raw`, or `Malformed`."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise Malformed("nested too deeply") from None
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError)
        raise Malformed("not JSON") from None
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    if not _shallow(body):
        raise Malformed("nested too deeply")
    return body


def _shallow(value: Any) -> bool:
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [v for item in level for v in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())]
        if not level:
            return True
    return False


def part(parent: dict, name: str) -> dict:
    """`parent[name]` when it is an object, else an empty one: a field of the wrong type reads as absent."""
    found = parent.get(name)
    return found if isinstance(found, dict) else {}


def identifier(value: Any) -> str | None:
    """A chat's, a person's or a message's id as the platforms send it (a string or a whole number), as text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value) if isinstance(value, str) or abs(value) < 10**30 else ""
    return text if 0 < len(text) <= 64 else None
