"""The secretariat's web console: meetings, submissions, answers, the conclusion, notices, figures.

Server-rendered (FastAPI + Jinja2), no JavaScript. Another door into the services in
bot/services: every permission is decided there; this package only shows and forwards.
"""

from bot.entrypoints.web.app import create_app, serve

__all__ = ["create_app", "serve"]
