"""The `doithoai` command line: one door into the same services the bot uses.

Each module here holds one group of commands; this one holds the root and attaches them.
Commands import the heavier services (spreadsheets, PDFs, the web and bot stacks) inside their bodies:
`doithoai --help` and a mistyped command then answer at once instead of loading all of them first.
"""

from __future__ import annotations

import typer

from bot.entrypoints.cli import answers, console, database, demo, hall, meetings, outbox, posters, privacy, public, record, run, staff, zalo
from bot.entrypoints.cli.common import tr


def _framework_words() -> None:
    """The panel titles and notes typer prints around our texts. (Its vendored click's own few words,
    "Usage:", "Show this message and exit." and its usage errors, are fixed English there.)"""
    import typer.rich_utils as rich

    rich.OPTIONS_PANEL_TITLE, rich.ARGUMENTS_PANEL_TITLE = tr("cli.framework.options"), tr("cli.framework.arguments")
    rich.COMMANDS_PANEL_TITLE, rich.ERRORS_PANEL_TITLE = tr("cli.framework.commands"), tr("cli.framework.error")
    rich.REQUIRED_LONG_STRING = "[" + tr("cli.framework.required") + "]"
    rich.DEFAULT_STRING = "[" + tr("cli.framework.default").replace("{default}", "{}") + "]"
    rich.RICH_HELP = tr("cli.framework.try_help")
    rich.ABORTED_TEXT = tr("cli.restore.aborted")


_framework_words()

app = typer.Typer(
    help=tr("cli.help.app"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# `doithoai --help` lists them in the order they are attached: the commands at the root, then the groups.
for root_commands in (answers.commands, meetings.commands, record.commands, console.commands, posters.commands, database.commands,
                      run.commands, demo.commands):
    app.add_typer(root_commands)
for name, group in (("zalo", zalo.zalo_group), ("db", database.db_group), ("meeting", meetings.meeting_group), ("hall", hall.hall_group),
                    ("submissions", answers.submissions_group), ("answers", answers.answers_group),
                    ("conclusion", answers.conclusion_group), ("outbox", outbox.outbox_group), ("privacy", privacy.privacy_group),
                    ("staff", staff.staff_group), ("audit", staff.audit_group), ("public", public.public_group)):
    app.add_typer(group, name=name)


def main() -> None:
    app()
