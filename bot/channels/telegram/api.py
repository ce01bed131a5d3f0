"""The Bot API calls made on every update, as plain JSON over aiogram's own HTTP session.

aiogram's typed call builds a pydantic model of the method, encodes it as a form, and reads the
answer into pydantic models (a whole `Message` for each message sent); for the calls made on every
update (getUpdates, sendMessage, editMessageReplyMarkup, answerCallbackQuery) that was more CPU than
the rest of the update's handling. Here such a call is one JSON body out and the answer's `result`
back, as Telegram documents them. A refusal still becomes aiogram's own exception
(`TelegramRetryAfter`, `TelegramForbiddenError`…), made by aiogram from Telegram's answer, so
everything that sorts failures stays as it is. aiogram keeps what it does well: uploads, the setup
calls, its types where a program reads them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram import methods as typed
from aiogram.exceptions import TelegramNetworkError

# The typed method of each call, used only to word an error as aiogram does.
_METHODS = {
    "getUpdates": typed.GetUpdates, "sendMessage": typed.SendMessage, "editMessageReplyMarkup": typed.EditMessageReplyMarkup,
    "answerCallbackQuery": typed.AnswerCallbackQuery, "sendLocation": typed.SendLocation,
}


async def call(bot: Bot, method: str, params: dict[str, Any], timeout: float) -> Any:
    """Call `method` with `params` (JSON: no None values); its result, or aiogram's exception for the refusal."""
    http = await bot.session.create_session()
    url = bot.session.api.api_url(token=bot.token, method=method)
    try:
        async with http.post(url, json=params, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            status, content = resp.status, await resp.text()
    except asyncio.TimeoutError as exc:
        raise TelegramNetworkError(method=_typed(method, params), message="Request timeout error") from exc
    except aiohttp.ClientError as exc:
        # Only the type: the error's text can hold the request's URL, and with it the token.
        raise TelegramNetworkError(method=_typed(method, params), message=type(exc).__name__) from exc
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if status == 200 and isinstance(body, dict) and body.get("ok") is True and "result" in body:
        return body["result"]
    request = _typed(method, params)
    bot.session.check_response(bot, request, status, content)  # raises what aiogram would
    raise TelegramNetworkError(method=request, message=f"{method} answered {status} without a result")


def _typed(method: str, params: dict[str, Any]) -> Any:
    cls = _METHODS[method]
    try:
        return cls.model_validate(params)
    except ValueError:
        return cls.model_construct(**params)


def markup(buttons: list[list[tuple[str, str]]] | None = None, keyboard: list[list[tuple[str, bool]]] | None = None, *,
           one_time: bool = False, remove: bool = False) -> dict[str, Any] | None:
    """A reply_markup: inline buttons (label, data), else a reply keyboard (label, asks for the contact),
    else the keyboard taken away; None: none."""
    if buttons:
        return {"inline_keyboard": [[{"text": label, "callback_data": data} for label, data in row] for row in buttons]}
    if keyboard is not None:
        out: dict[str, Any] = {
            "keyboard": [[{"text": label, **({"request_contact": True} if contact else {})} for label, contact in row] for row in keyboard],
            "resize_keyboard": True,
        }
        if one_time:
            out["one_time_keyboard"] = True
        else:
            out["is_persistent"] = True
        return out
    if remove:
        return {"remove_keyboard": True}
    return None
