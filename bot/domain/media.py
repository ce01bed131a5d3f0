"""What a resident may send with a question besides text: one voice question, and a few photos.

Pure rules: the limits said in the replies, and a voice note's length as people read it. The bytes'
type is decided from the content (bot/services/filetypes.py), never from what the sender claimed.
"""

from __future__ import annotations

import struct
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
    """"0:42", "4:05": a voice note's length as a player shows it ("?:??" when nothing told it)."""
    if seconds is None:
        return "?:??"
    seconds = max(0, seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def megabytes(size: int) -> int:
    return size // (1024 * 1024)


@dataclass(frozen=True)
class Stashed:
    """A file kept for a form in progress, by its attachment's id; a voice note with its length."""

    attachment_id: int
    seconds: int | None = None


def measured_seconds(data: bytes) -> int | None:
    """A recording's length read from its own header, for platforms that do not say it (the Zalo OA):
    MP4/M4A (the movie header), WAV (bytes over byte rate), Ogg Opus (the last page's 48 kHz position).
    None for anything else: the length is then unknown, and shown as such."""
    try:
        if data[4:8] == b"ftyp" and (at := data.find(b"mvhd")) > 0:
            version = data[at + 4]
            if version == 1:
                scale, length = struct.unpack(">IQ", data[at + 24:at + 36])
            else:
                scale, length = struct.unpack(">II", data[at + 16:at + 24])
            return round(length / scale) if scale else None
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE" and (fmt := data.find(b"fmt ")) > 0 and (body := data.find(b"data", fmt)) > 0:
            byte_rate = struct.unpack("<I", data[fmt + 16:fmt + 20])[0]
            size = struct.unpack("<I", data[body + 4:body + 8])[0]
            return round(size / byte_rate) if byte_rate else None
        if data[:4] == b"OggS" and b"OpusHead" in data[:200] and (last := data.rfind(b"OggS")) >= 0:
            return round(struct.unpack("<q", data[last + 6:last + 14])[0] / 48000)
    except (struct.error, IndexError):
        return None
    return None


def draft_voice(draft: dict | None) -> Stashed | None:
    """The voice question a form in progress holds (kept in its draft as {"id", "seconds"})."""
    voice = (draft or {}).get("voice")
    return Stashed(voice["id"], voice.get("seconds")) if isinstance(voice, dict) and isinstance(voice.get("id"), int) else None


def draft_files(draft: dict | None) -> list[int]:
    """Every file a form in progress holds, by attachment id: its voice question, then its photos."""
    voice = draft_voice(draft)
    photos = [i for i in (draft or {}).get("photos", []) if isinstance(i, int)]
    return ([voice.attachment_id] if voice else []) + photos
