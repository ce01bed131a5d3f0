"""A resident's voice question and photos: fetched from the platform while its link is valid, checked
(length, size, the type read from the bytes), kept with the form until it is sent, then bound to the
submission; and the transcript the secretariat types, which becomes the question everywhere.

Voice and photos are personal data: bot/services/privacy.py erases them with the rest. They are
never sent to other residents, and never on the public page.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime

import filetype

from bot.domain import media
from bot.domain import validation as textrules
from bot.domain.errors import ServiceError
from bot.domain.media import Stashed
from bot.domain.messages import FileRef, FileUnavailable
from bot.services.filetypes import file_name, sniff, sniff_audio
from bot.services.secretariat import visible
from bot.services.staff import Actor, audit
from storage.models import Submission
from storage.uow import UnitOfWork, commits


class MediaError(ServiceError, ValueError):
    """What a resident sent cannot be kept; the problem says why and what to send instead."""


async def _fetch(file: FileRef, most: int) -> bytes:
    if file.size is not None and file.size > most:
        raise MediaError("problem.media.too_big", mb=media.megabytes(most))
    try:
        data = await file.fetch()
    except FileUnavailable:
        raise MediaError("problem.media.unavailable") from None
    if not data or len(data) > most:
        raise MediaError("problem.media.too_big", mb=media.megabytes(most))
    return data


async def keep_voice(uow: UnitOfWork, file: FileRef, *, now: datetime) -> Stashed:
    """A voice question, kept for the form; refused when longer than allowed, too big or not sound a browser plays."""
    _not_too_long(file.seconds)  # as the platform says, before anything is downloaded
    data = await _fetch(file, media.VOICE_MAX_BYTES)
    kind = sniff_audio(data)
    if kind is None:
        data = await playable(data)  # AMR (Zalo's own voice format) and the like: made Ogg/Opus, or refused
        kind = sniff_audio(data)
        if kind is None:
            raise MediaError("problem.media.not_voice")
    seconds = file.seconds if file.seconds is not None else media.measured_seconds(data)
    _not_too_long(seconds)
    stashed = await uow.files.stash(filename=file_name(file.filename, kind), mime_type=kind.mime, data=data, now=now)
    return Stashed(stashed, seconds)


def _not_too_long(seconds: int | None) -> None:
    if seconds is not None and seconds > media.VOICE_MAX_SECONDS:
        raise MediaError("problem.media.voice_long", minutes=media.VOICE_MAX_SECONDS // 60, length=media.duration(seconds))


async def keep_photo(uow: UnitOfWork, file: FileRef, *, now: datetime) -> Stashed:
    """A photo of the problem, kept for the form; a file that only claims to be a photo is refused."""
    data = await _fetch(file, media.PHOTO_MAX_BYTES)
    kind = sniff(data)
    if kind is None or not kind.mime.startswith("image/"):
        raise MediaError("problem.media.not_photo")
    return Stashed(await uow.files.stash(filename=file_name(file.filename, kind), mime_type=kind.mime, data=data, now=now))


@commits
async def transcribe(uow: UnitOfWork, actor: Actor, ref: str, text: str, *, now: datetime) -> Submission:
    """What the resident said, typed in: it becomes the question in the console, the exports, the
    report, the minutes and the public page. Those who may see the submission may type it; audited."""
    submission = await visible(uow, actor, ref)
    assert submission.id is not None
    if not await uow.files.of([submission.id], media.VOICE) and not submission.awaiting_transcript:
        raise MediaError("problem.media.no_voice", ref=submission.ref)
    question = textrules.block(text)  # BadText names the character
    problem = textrules.question_problem(question)
    if problem is not None:
        raise MediaError(f"problem.media.transcript_{problem}", min=textrules.QUESTION_MIN, max=textrules.QUESTION_MAX)
    # The audit says that it was typed and how long it is: what a resident said stays out of the log.
    before = {"awaiting_transcript": submission.awaiting_transcript, "length": len(submission.question)}
    submission.question, submission.awaiting_transcript = question, False
    await audit(uow, actor, "submission.transcribe", f"submission {submission.ref}", before=before,
                after={"awaiting_transcript": False, "length": len(question)}, now=now)
    return submission


# Sound no browser plays (AMR, FLAC, AIFF) is converted once, on arrival, with Debian's ffmpeg: kept
# as Ogg/Opus, the console plays it and the original is not kept. Without ffmpeg it is refused.
CONVERTIBLE = frozenset({"audio/amr", "audio/x-flac", "audio/x-aiff"})
CONVERT_SECONDS = 60


async def playable(data: bytes) -> bytes:
    """`data` as Ogg/Opus if it is a sound ffmpeg can convert; otherwise `data` unchanged."""
    found = filetype.guess(data)
    ffmpeg = shutil.which("ffmpeg")
    if found is None or found.mime not in CONVERTIBLE or ffmpeg is None:
        return data
    process = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", "pipe:0", "-vn", "-f", "ogg", "-c:a", "libopus", "-b:a", "24k", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(data), CONVERT_SECONDS)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return data
    return out if process.returncode == 0 and out else data
