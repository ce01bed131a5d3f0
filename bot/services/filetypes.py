"""The kinds of file the bot keeps and hands out, decided from the bytes, never from what the sender claimed.

A village head's file is served from the same host as the web console (the Zalo bots take files by
address): a page or a script there would run with a staff member's session. So only these types are
kept, each is served under its own type and extension, and only the images are shown inline.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

import filetype  # magic bytes, pure Python: libmagic would be a system dependency for a handful of types


@dataclass(frozen=True)
class FileType:
    mime: str
    extension: str  # with the dot
    inline: bool = False  # an image a browser may show; everything else is downloaded


ALLOWED = {
    t.mime: t
    for t in (
        FileType("image/jpeg", ".jpg", inline=True),
        FileType("image/png", ".png", inline=True),
        FileType("image/gif", ".gif", inline=True),
        FileType("image/webp", ".webp", inline=True),
        FileType("application/pdf", ".pdf"),
        FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
        FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
        FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
        FileType("text/calendar", ".ics"),  # the meeting's calendar file the bot makes itself
    )
}
# A resident's voice question. Kept apart from ALLOWED: a village head's notice carries no sound, and
# the console plays only what Chromium plays without conversion (AAC, MP3, Ogg/Opus, WAV).
AUDIO = {
    t.mime: t
    for t in (
        FileType("audio/ogg", ".ogg", inline=True),
        FileType("audio/mpeg", ".mp3", inline=True),
        FileType("audio/mp4", ".m4a", inline=True),
        FileType("audio/aac", ".aac", inline=True),
        FileType("audio/x-wav", ".wav", inline=True),
    )
}


def sniff_audio(data: bytes) -> FileType | None:
    """The playable audio type these bytes are, or None (AMR and the rest are refused: no browser plays them)."""
    found = filetype.guess(data)
    return AUDIO.get(found.mime) if found is not None else None


# Whatever is stored but not on the list (kept before the list existed) goes out as bytes to save.
UNKNOWN = FileType("application/octet-stream", ".bin")


def sniff(data: bytes) -> FileType | None:
    """The allowed type these bytes are, or None. Old Word/Excel files (macros), SVG and HTML (scripts)
    and plain text (no magic to tell it from a page) are not allowed."""
    if data.removeprefix(b"\xef\xbb\xbf")[:15].upper() == b"BEGIN:VCALENDAR":
        return ALLOWED["text/calendar"]
    found = filetype.guess(data)
    return ALLOWED.get(found.mime) if found is not None else None


def file_name(name: str, kind: FileType) -> str:
    """The name with the extension of what the file really is ("thong-bao.html" holding a PNG → "thong-bao.html.png")."""
    name = PurePosixPath(name.replace("\\", "/")).name.strip() or "tep"
    return name if name.lower().endswith(kind.extension) else f"{name[: 255 - len(kind.extension)]}{kind.extension}"


def content_disposition(name: str, kind: FileType) -> str:
    """Inline for an image, attachment otherwise; the name in ASCII for old clients and in full (RFC 5987)."""
    name = file_name(name, kind)
    folded = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D")).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._") or "tep"
    if not fallback.lower().endswith(kind.extension):
        fallback += kind.extension
    return f"{'inline' if kind.inline else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
