"""``tierline assign``: assign closed-won accounts; preview or apply a policy change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tierline.engine.assign import AssignReport, Move, SegmentationResult, assign_accounts
from tierline.engine.state import utc_naive
from tierline.errors import UsageError
from tierline.policy.load import find_project, load_project
from tierline.policy.model import Project
from tierline.store import Store

__all__ = ["ProjectOption", "console", "open_book", "parse_as_of", "register"]

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder (default: found from here up)."),
]


@contextmanager
def open_book(project_dir: Path | None) -> Iterator[tuple[Project, Store]]:
    """The project (found from ``project_dir``) and its store, closed afterwards."""
    project = load_project(find_project(project_dir))
    store = Store.open(project.store_path, project.fields)
    try:
        yield project, store
    finally:
        store.close()


def console() -> Console:
    """A console on the current stdout (wide enough that tables do not wrap in tests)."""
    return Console(highlight=False, width=140, soft_wrap=True)


def parse_as_of(text: str | None) -> datetime:
    """``--as-of``: ISO-8601 date or time (offsets converted to UTC); a date means its end.

    >>> parse_as_of("2026-03-01")
    datetime.datetime(2026, 3, 1, 23, 59, 59)
    """
    if text is None:
        return utc_naive(None)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59))
        return utc_naive(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise UsageError(
            f"--as-of {text!r}: give an ISO-8601 date or time, e.g. 2026-03-01 or "
            "2026-03-01T09:00:00Z"
        ) from exc


def _ex(examples: tuple[str, ...]) -> str:
    return ", ".join(examples)


def _moves_table(title: str, moves: tuple[Move, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("from")
    table.add_column("to")
    table.add_column("accounts", justify="right")
    table.add_column("examples")
    for m in moves:
        table.add_row(m.from_outcome, m.to_outcome or "(unassigned)", str(m.count), _ex(m.examples))
    return table


def _print_segmentation(out: Console, report: AssignReport, seg: SegmentationResult) -> None:
    verb = "would assign" if report.mode == "preview" else "assigned"
    table = Table(title=f"{seg.segmentation}: {verb} {seg.assigned_count}", title_justify="left")
    table.add_column("outcome")
    table.add_column("accounts", justify="right")
    table.add_column("examples")
    for o in seg.assigned:
        table.add_row(o.outcome, str(o.count), _ex(o.examples))
    out.print(table)
    if seg.unassigned:
        gaps = Table(
            title=f"{seg.segmentation}: {seg.unassigned_count} unassigned (not recorded)",
            title_justify="left",
        )
        gaps.add_column("reason")
        gaps.add_column("accounts", justify="right")
        gaps.add_column("examples")
        for u in seg.unassigned:
            gaps.add_row(u.reason, str(u.count), _ex(u.examples))
        out.print(gaps)
    if seg.moves:
        title = {
            "assign": f"{seg.segmentation}: {seg.move_count} would move under this policy "
            "(not applied; see --preview, apply with --reassign)",
            "preview": f"{seg.segmentation}: {seg.move_count} would move (--reassign applies)",
            "reassign": f"{seg.segmentation}: moved {seg.move_count}",
        }[report.mode]
        out.print(_moves_table(title, seg.moves))
    if seg.kept_by_override:
        out.print(
            _moves_table(f"{seg.segmentation}: kept by an approved override", seg.kept_by_override)
        )
    if seg.kept_unassigned:
        out.print(
            _moves_table(
                f"{seg.segmentation}: kept (the policy gives no outcome now)", seg.kept_unassigned
            )
        )


def assign_command(
    project: ProjectOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Assign the book as it was then (UTC).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    preview: Annotated[
        bool, typer.Option("--preview", help="Write nothing; show what a reassign would move.")
    ] = False,
    reassign: Annotated[
        bool, typer.Option("--reassign", help="Also apply the moves a policy change implies.")
    ] = False,
) -> None:
    """Assign every closed-won account without a current assignment, per segmentation."""
    when = parse_as_of(as_of)
    with open_book(project) as (proj, store):
        report = assign_accounts(store, proj, when, preview=preview, reassign=reassign)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out = console()
    out.print(
        f"{report.mode} as of {report.as_of.isoformat()}Z, policy version {report.policy_version}"
    )
    for seg in report.segmentations:
        _print_segmentation(out, report, seg)


def register(app: typer.Typer) -> None:
    """Add ``tierline assign``."""
    app.command("assign")(assign_command)
