"""A voice question and photos sent while filling in the form (bot/services/media.py keeps them).

A voice note answers the question step; photos (up to three) may come from the question step on,
a caption read as the question when the question step is the one asked. Both wait in the form's
draft as kept files until the form is sent, and are dropped when it is not.
"""

from __future__ import annotations

from typing import Any

from bot.conversation.context import Context
from bot.domain import media
from bot.domain.errors import ServiceError
from bot.services import media as keeping
from bot.text.catalogue import Translator


def placeholder(seconds: int | None) -> str:
    """What stands as the question until the secretariat types what was said: staff read it (in
    Vietnamese, as the console and the exports are) wherever the question would be."""
    return Translator("vi")("voice.awaiting_transcript", length=media.duration(seconds))


def question_line(ctx: Context, draft: dict[str, Any]) -> str:
    """The question as the review shows it: a voice note is named with its length."""
    voice = media.draft_voice(draft)
    return ctx.tr("review.voice", length=media.duration(voice.seconds)) if voice else draft["question"]


async def drop_all(ctx: Context) -> None:
    """The form ends without being sent: its kept files go."""
    draft = (ctx.state or {}).get("draft") or {}
    await ctx.uow.files.drop_stashed(media.draft_files(draft))


async def forget_voice(ctx: Context) -> None:
    """A typed question replaces a voice one."""
    state = ctx.state
    voice = media.draft_voice(state["draft"])
    if voice is not None:
        await ctx.uow.files.drop_stashed([voice.attachment_id])
        state["draft"] = {k: v for k, v in state["draft"].items() if k != "voice"}
        ctx.set_state(state)


async def take_voice(ctx: Context) -> tuple[bool, str]:
    """Keep a voice question: (kept, what to say above the step asked next, or again)."""
    assert ctx.event.file is not None
    try:
        stashed = await keeping.keep_voice(ctx.uow, ctx.event.file, now=ctx.now)
    except ServiceError as exc:
        return False, exc.text(ctx.tr)
    await forget_voice(ctx)
    state = ctx.state
    state["draft"] = {**state["draft"], "question": placeholder(stashed.seconds), "voice": {"id": stashed.attachment_id, "seconds": stashed.seconds}}
    ctx.set_state(state)
    return True, ctx.tr("form.voice_saved", length=media.duration(stashed.seconds))


async def take_photo(ctx: Context) -> tuple[bool, str]:
    """Keep a photo with the form: (kept, what to say above the step asked next, or again)."""
    assert ctx.event.file is not None
    state = ctx.state
    photos = list(state["draft"].get("photos", []))
    if len(photos) >= media.PHOTOS_MAX:
        return False, ctx.tr("form.photos_full", most=media.PHOTOS_MAX)
    try:
        stashed = await keeping.keep_photo(ctx.uow, ctx.event.file, now=ctx.now)
    except ServiceError as exc:
        return False, exc.text(ctx.tr)
    photos.append(stashed.attachment_id)
    state["draft"] = {**state["draft"], "photos": photos}
    ctx.set_state(state)
    return True, ctx.tr("form.photo_saved", count=len(photos), most=media.PHOTOS_MAX)


async def drop_photos(ctx: Context) -> None:
    state = ctx.state
    await ctx.uow.files.drop_stashed(state["draft"].get("photos", []))
    state["draft"] = {k: v for k, v in state["draft"].items() if k != "photos"}
    ctx.set_state(state)
