"""``tierline explain ACCOUNT_ID``: the path or rule behind each assignment, and overrides."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tierline.cli.assign import ProjectOption, console, open_book
from tierline.engine.explain import AccountExplanation, explain_account

__all__ = ["register"]


def _print(found: AccountExplanation) -> None:
    out = console()
    out.print(f"account {found.account_id} ({found.name}), policy version {found.policy_version}")
    for seg in found.segmentations:
        cur = seg.current
        if cur is None:
            head = f"{seg.segmentation}: not assigned"
        else:
            head = (
                f"{seg.segmentation}: {cur.outcome} (source {cur.source}, policy "
                f"{cur.policy_version}, assigned {cur.assigned_at.isoformat()}Z)"
            )
        out.print()
        out.print(head, style="bold")
        for line in seg.steps:
            out.print(f"  {line}", markup=False)
        if seg.overrides:
            table = Table(title="overrides", title_justify="left")
            for name in ("#", "from", "to", "status", "requested by", "decided by", "reason"):
                table.add_column(name)
            for o in seg.overrides:
                table.add_row(
                    str(o.id),
                    o.from_outcome or "-",
                    o.to_outcome,
                    o.status,
                    o.requested_by,
                    o.decided_by or "-",
                    o.reason,
                )
            out.print(table)


def explain_command(
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    project: ProjectOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Explain an account's assignment in every segmentation, with its overrides."""
    with open_book(project) as (proj, store):
        found = explain_account(store, proj, account_id)
    if json_out:
        typer.echo(json.dumps(found.to_dict(), indent=2))
    else:
        _print(found)


def register(app: typer.Typer) -> None:
    """Add ``tierline explain``."""
    app.command("explain")(explain_command)
