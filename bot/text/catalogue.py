"""Message catalogues (gettext .po files read with Babel). Every text a person sees comes from here.

Message ids are stable keys ("registration.ask_name"); the Vietnamese catalogue is the default
and the English one is chosen from the user's language setting.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
DEFAULT = "vi"
LANGUAGES = ("vi", "en")


def pick_language(code: str | None) -> str:
    """Telegram sends IETF tags such as "en-US"; anything we have no catalogue for reads Vietnamese."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    with open(LOCALES / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        cat = read_po(fh, locale=lang)
    return {m.id: m.string for m in cat if m.id and m.string and not m.fuzzy}


# A text's variant for channels without buttons ("gõ số 1, 2…" instead of "bấm nút"): "key@typed".
TYPED = "@typed"


class Translator:
    def __init__(self, lang: str, *, typed: bool = False) -> None:
        self.lang = pick_language(lang)
        self.typed = typed
        self._own = catalogue(self.lang)
        self._fallback = catalogue(DEFAULT)

    def __call__(self, key: str, **params: Any) -> str:
        template = None
        if self.typed:
            template = self._own.get(key + TYPED) or self._fallback.get(key + TYPED)
        template = template or self._own.get(key) or self._fallback.get(key)
        if template is None:
            raise KeyError(f"message {key!r} is missing from the catalogue")
        return template.format(**params) if params else template

    def all_labels(self, key: str) -> set[str]:
        """A label in every language: a reply-keyboard press arrives as its text, in whichever language it was shown."""
        return {catalogue(lang)[key] for lang in LANGUAGES if key in catalogue(lang)}

