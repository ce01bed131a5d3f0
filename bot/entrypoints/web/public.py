"""The meeting's public page as HTML: the same file whether the console serves it (/cong-khai/<code>)
or `doithoai public export` writes it for the commune's portal, only the stylesheet's address differs."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from bot.entrypoints.web.console import HERE, environment
from bot.services.public import PublicPage
from bot.text.catalogue import Translator

STYLESHEET = HERE / "static" / "public.css"
# Where the page links its stylesheet: served by the console, or next to the exported index.html.
SERVED_STYLESHEET = "/static/public.css"
EXPORTED_STYLESHEET = STYLESHEET.name


def page_html(page: PublicPage, *, stylesheet: str, templates: Environment | None = None, exported: bool = False) -> str:
    """The page; `templates` are the console's own when it serves it (Vietnamese, as the console is).
    `exported`: the answers' public files are linked next to it, not under /cong-khai/."""
    return (templates or environment(Translator("vi"))).get_template("public.html").render(page=page, stylesheet=stylesheet,
                                                                                            exported=exported)


def export(page: PublicPage, directory: Path, files: dict[str, bytes] | None = None) -> Path:
    """Write `directory`/index.html, the stylesheet it links and the answers' public `files` (by their
    exported names, bot/services/public.py `exported_files`), the folder made if missing; the index's
    path. OSError when the folder cannot be written."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / EXPORTED_STYLESHEET).write_bytes(STYLESHEET.read_bytes())
    for name, data in (files or {}).items():
        (directory / name).write_bytes(data)
    index = directory / "index.html"
    index.write_text(page_html(page, stylesheet=EXPORTED_STYLESHEET, exported=True), encoding="utf-8")
    return index
