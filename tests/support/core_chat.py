"""A resident talking to the conversation core directly, without any channel: for the core's fast tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.conversation.engine import Conversation, Handled
from bot.domain.messages import Button, Event, Kind, Reply
from storage.uow import UnitOfWork

_updates = itertools.count(1)


@dataclass
class CoreChat:
    conversation: Conversation
    user_id: str = "1001"
    language: str | None = "vi"
    channel: str = "telegram"
    private: bool = True
    replies: list[Reply] = field(default_factory=list)
    last: Handled | None = None
    # message ref → its buttons, as a phone would keep showing them until they are retired
    shown: dict[str, list[Button]] = field(default_factory=dict)
    _refs: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def _send(self, **kw) -> list[Reply]:
        update_id = kw.pop("update_id", None) or str(next(_updates))
        event = Event(channel=self.channel, user_id=self.user_id, chat_id=self.user_id, update_id=update_id,
                      private=self.private, language=self.language, **kw)
        self.last = await self.conversation.handle(event)
        async with UnitOfWork(self.conversation.db) as uow:
            # The core's replies are what was queued in the outbox for this chat.
            rows = list(await uow.outbox.pending_for_chat(self.channel, self.user_id))
            for row in rows:
                await uow.outbox.mark(row.id, status="sent")
            await uow.commit()
        new = [Reply.from_payload(r.payload) for r in rows]
        for reply in new:
            if reply.retire_buttons_of:
                self.shown.pop(reply.retire_buttons_of, None)
            elif reply.buttons:
                self.shown[str(next(self._refs))] = [b for row in reply.buttons for b in row]
        self.replies.extend(new)
        return new

    async def text(self, text: str, **kw) -> list[Reply]:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return await self._send(kind=Kind.COMMAND, text=text, command=command, args=args, **kw)
        return await self._send(kind=Kind.TEXT, text=text, **kw)

    async def press(self, label: str, **kw) -> list[Reply]:
        """Press the newest shown button whose label contains `label`."""
        for ref, buttons in reversed(list(self.shown.items())):
            for b in buttons:
                if label in b.label:
                    return await self._send(kind=Kind.BUTTON, data=b.data, message_ref=ref, **kw)
        raise AssertionError(f"no button {label!r} on screen; shown: {[[b.label for b in bs] for bs in self.shown.values()]}")

    async def press_data(self, data: str, ref: str = "999", **kw) -> list[Reply]:
        return await self._send(kind=Kind.BUTTON, data=data, message_ref=ref, **kw)

    async def contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self._send(kind=Kind.CONTACT, phone=phone, contact_is_own=own)

    async def sticker(self) -> list[Reply]:
        return await self._send(kind=Kind.UNSUPPORTED)

    def button_data(self, label: str) -> str:
        for buttons in reversed(list(self.shown.values())):
            for b in buttons:
                if label in b.label:
                    return b.data
        raise AssertionError(label)

    @property
    def toast(self) -> str | None:
        return self.last.outcome.toast if self.last else None

    @staticmethod
    def texts(replies: list[Reply]) -> str:
        return "\n".join(r.text for r in replies if r.text)

    async def register(self, *, name="Nguyễn Văn An", village="Thôn Phong Lâm", topic="Môi trường",
                       question="Đường liên thôn bị xuống cấp, khi nào được sửa?", speak=True, phone=None) -> str:
        """The whole happy path from a consented resident; returns the receipt text."""
        await self.text("/dangky")
        await self.text(name)
        if village:
            await self.press(village)
        await self.press(topic)
        await self.text(question)
        await self.press("Phát biểu trực tiếp" if speak else "Chỉ cần trả lời")
        if phone:
            await self.text(phone)
        else:
            await self.text("Bỏ qua")
        return self.texts(await self.press("Gửi"))
