"""What a resident may send with a question besides text: one voice question, and a few photos.

Pure rules: the limits said in the replies, and a voice note's length as people read it. The bytes'
type is decided from the content (bot/services/filetypes.py), never from what the sender claimed.
"""

from __future__ import annotations

from dataclasses import dataclass

VOICE = "voice"
PHOTO = "photo"
ANSWER = "answer"  # a file sent with the commune's answer

# A question said aloud: a long enough time to ask, short enough for the secretariat to listen to.
VOICE_MAX_SECONDS = 5 * 60
VOICE_MAX_BYTES = 10 * 1024 * 1024
PHOTOS_MAX = 3
PHOTO_MAX_BYTES = 10 * 1024 * 1024


def duration(seconds: int | None) -> str:
    """"0:42", "4:05": a voice note's length as a player shows it."""
    seconds = max(0, seconds or 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def megabytes(size: int) -> int:
    return size // (1024 * 1024)


@dataclass(frozen=True)
class Stashed:
    """A file kept for a form in progress, by its attachment's id; a voice note with its length."""

    attachment_id: int
    seconds: int | None = None
