"""`doithoai outbox status|retry`: the queue of messages `doithoai run` sends."""

from __future__ import annotations

from typing import Any

import typer

from bot.domain.outbox import Delivery, Purpose
from bot.entrypoints.cli.common import as_operator, fail, show, tr

outbox_group = typer.Typer(help=tr("cli.help.outbox"), no_args_is_help=True)

STATE_NAMES = {Delivery.PENDING: "queued"}  # the JSON's word; people read the catalogue's (cli.state.*)
STATES = ("queued", "sent", "failed", "unreachable")


@outbox_group.command("status", help=tr("cli.help.outbox_status"))
def outbox_status(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    from bot.services.queue import queue_counts

    def line(r: dict[str, Any]) -> str:
        state = tr(f"cli.state.{r['state']}") if r["state"] in STATES else r["state"]
        kind = tr(f"cli.kind.{r['kind']}") if r["kind"] in set(Purpose) else r["kind"]
        return f"{r['meeting'] or '-':<12} {kind:<16} {state:<14} {r['count']}"

    counts = as_operator(queue_counts, readonly=True)
    rows = [{"meeting": meeting, "kind": kind, "state": STATE_NAMES.get(status, status), "count": count} for meeting, kind, status, count in counts]
    show(rows, as_json, line, empty=tr("cli.outbox.empty"))


@outbox_group.command("retry", help=tr("cli.help.outbox_retry"))
def outbox_retry(failed: bool = typer.Option(False, "--failed", help=tr("cli.help.retry_failed"))) -> None:
    from bot.services.queue import retry_failed

    if not failed:
        fail(tr("cli.retry.what"))
    typer.echo(tr("cli.retry.done", count=as_operator(retry_failed)))
