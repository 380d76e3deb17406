"""``tierline override request|approve|reject|list|stats``: manager-approved overrides."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from tierline.cli.assign import ProjectOption, console, open_book
from tierline.engine.override import (
    Decision,
    OverrideRequest,
    decide_override,
    list_overrides,
    override_stats,
    request_override,
)

__all__ = ["override_app", "register"]

override_app = typer.Typer(
    help="Request, approve, reject and list tier overrides.", no_args_is_help=True
)

ByOption = Annotated[str, typer.Option("--by", help="Your id in the csms roster.")]
NoteOption = Annotated[str | None, typer.Option("--note", help="A note on the decision.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _line(r: OverrideRequest) -> str:
    return (
        f"override #{r.id} {r.status}: {r.account_id} in {r.segmentation}, "
        f"{r.from_outcome or '(unassigned)'} → {r.to_outcome}"
    )


@override_app.command("request")
def request_command(
    account: Annotated[str, typer.Argument(help="The account id.")],
    to: Annotated[str, typer.Option("--to", help="The outcome you ask for.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in at least a sentence.")],
    by: ByOption,
    segmentation: Annotated[
        str | None, typer.Option("--segmentation", "-s", help="Which segmentation.")
    ] = None,
    project: ProjectOption = None,
    json_out: JsonOption = False,
) -> None:
    """Ask for another outcome for an account (a manager approves or rejects it)."""
    with open_book(project) as (proj, store):
        req = request_override(store, proj, account, to, reason, by, segmentation=segmentation)
    typer.echo(json.dumps(req.to_dict(), indent=2) if json_out else _line(req))


def _decision_command(decision: Decision, summary: str) -> Callable[..., None]:
    """The ``tierline override approve|reject`` command that decides a request as ``decision``.

    Both commands take the same arguments (request number, ``--by``, ``--note``, ``--project``,
    ``--json``) and print the decided request; only the decision and the help line
    (``summary``) differ.
    """

    def command(
        request_id: Annotated[int, typer.Argument(help="The request number.")],
        by: ByOption,
        note: NoteOption = None,
        project: ProjectOption = None,
        json_out: JsonOption = False,
    ) -> None:
        with open_book(project) as (proj, store):
            req = decide_override(store, proj, request_id, decision, by, note=note)
        typer.echo(json.dumps(req.to_dict(), indent=2) if json_out else f"{_line(req)} by {by}")

    command.__doc__ = summary
    return command


approve_command = override_app.command("approve")(
    _decision_command(
        "approved", "Approve a pending request (managers only; not your own): it becomes current."
    )
)
reject_command = override_app.command("reject")(
    _decision_command("rejected", "Reject a pending request (managers only; not your own).")
)


@override_app.command("list")
def list_command(
    pending: Annotated[bool, typer.Option("--pending", help="Only undecided requests.")] = False,
    project: ProjectOption = None,
    json_out: JsonOption = False,
) -> None:
    """List override requests, oldest first."""
    with open_book(project) as (_, store):
        found = list_overrides(store, pending=pending)
    if json_out:
        typer.echo(json.dumps([r.to_dict() for r in found], indent=2))
        return
    table = Table(title=f"{len(found)} override requests", title_justify="left")
    for name in (
        "#",
        "account",
        "segmentation",
        "from",
        "to",
        "status",
        "requested by",
        "requested at",
        "decided by",
        "reason",
    ):
        table.add_column(name)
    for r in found:
        table.add_row(
            str(r.id),
            r.account_id,
            r.segmentation,
            r.from_outcome or "-",
            r.to_outcome,
            r.status,
            r.requested_by,
            r.requested_at.isoformat() + "Z",
            r.decided_by or "-",
            r.reason,
        )
    console().print(table)


@override_app.command("stats")
def stats_command(project: ProjectOption = None, json_out: JsonOption = False) -> None:
    """Override rate and direction (up / down a tier) per outcome."""
    with open_book(project) as (proj, store):
        rows = override_stats(store, proj)
    if json_out:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    table = Table(title="overrides per outcome", title_justify="left")
    for name in (
        "segmentation",
        "outcome",
        "accounts",
        "requested",
        "approved",
        "rejected",
        "pending",
        "rate",
        "up",
        "down",
    ):
        table.add_column(name)
    for r in rows:
        rate = "-" if r.override_rate is None else f"{r.override_rate:.1%}"
        table.add_row(
            r.segmentation,
            r.outcome or "(unassigned)",
            str(r.accounts),
            str(r.requested),
            str(r.approved),
            str(r.rejected),
            str(r.pending),
            rate,
            str(r.up),
            str(r.down),
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``tierline override …``."""
    app.add_typer(override_app, name="override")
