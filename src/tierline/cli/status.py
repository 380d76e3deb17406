"""``tierline status [ACCOUNT]`` and ``tierline plan ACCOUNT``: where onboarding stands."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tierline.cli.assign import ProjectOption, console, open_book, parse_as_of
from tierline.cli.run import actions_table
from tierline.engine.milestone import ACCOUNT_STATES
from tierline.engine.plan import success_plan
from tierline.engine.status import (
    AccountStatus,
    BookStatus,
    account_status,
    book_status,
    local_time,
)
from tierline.errors import UsageError

__all__ = ["plan_command", "register", "status_command"]

AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="As of this time (UTC; a date: its end).")
]
_STATE_NAMES = {
    "on_track": "on track",
    "behind": "behind",
    "stuck": "stuck",
    "complete": "complete",
}


def _local(moment: object, zone: str) -> str:
    if not isinstance(moment, datetime):
        return "—"
    return f"{local_time(moment, zone):%Y-%m-%d %H:%M %Z}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _print_account(out: Console, st: AccountStatus) -> None:
    track, zone = st.track, st.timezone
    low, high = track.ttfv_target_days
    out.print(f"[bold]{st.name}[/bold] ({st.account_id}) as of {st.as_of.isoformat()}Z")
    out.print(
        f"  track: {track.name} ({track.id}, level {track.level}, {track.driver}); "
        f"state: {_STATE_NAMES.get(st.state, st.state)}"
    )
    started = _local(st.started_at, zone)
    if st.onboarding_started_at != st.started_at:
        started += f" ({st.source}; onboarding began {_local(st.onboarding_started_at, zone)})"
    out.print(f"  stint start: {started}; time zone {zone}")
    csm = st.csm
    who = "none" if csm is None else f"{csm.name or csm.id} ({csm.id}, from the {csm.source})"
    out.print(f"  CSM: {who}")
    out.print(f"  TTFV: {_days(st.ttfv_days)} days vs target {low}–{high} days: {st.ttfv_verdict}")
    done = "—" if st.completion is None else f"{st.completion:.0%}"
    out.print(f"  milestones done: {st.done} of {len(st.milestones)} ({done})")
    if st.stalled_since is not None:
        out.print(f"  stalled since {_local(st.stalled_since, zone)}")
    table = Table(title="milestones", title_justify="left")
    for name in ("milestone", "owner", "due", "reached", "status"):
        table.add_column(name)
    for m in st.milestones:
        table.add_row(
            m.title + (" (TTFV)" if m.ttfv else ""),
            m.owner,
            _local(m.due_at, zone),
            _local(m.reached_at, zone),
            m.status.replace("_", " "),
        )
    out.print(table)
    if st.next_touchpoints:
        touches = Table(title="next touchpoints", title_justify="left")
        for name in ("due", "touchpoint", "kind", "to", "what"):
            touches.add_column(name)
        for t in st.next_touchpoints:
            label = t.touchpoint_id + (" (optional)" if t.optional else "")
            touches.add_row(_local(t.due_at, zone), label, t.kind, t.to or "", t.text or "")
        out.print(touches)
    else:
        out.print("no touchpoints scheduled after this time")
    if st.open_tasks:
        out.print(actions_table(f"open tasks ({len(st.open_tasks)})", st.open_tasks))
    else:
        out.print("no open tasks")


def _print_book(out: Console, book: BookStatus) -> None:
    out.print(f"onboarding as of {book.as_of.isoformat()}Z")
    table = Table(title="accounts by track and state", title_justify="left")
    table.add_column("track")
    table.add_column("level", justify="right")
    for state in ACCOUNT_STATES:
        table.add_column(_STATE_NAMES.get(state, state), justify="right")
    table.add_column("total", justify="right")
    table.add_column("median TTFV (target)", justify="right")
    for line in book.tracks:
        low, high = line.ttfv_target_days
        table.add_row(
            line.name,
            str(line.level),
            *(str(line.states.get(s, 0)) for s in ACCOUNT_STATES),
            str(line.total),
            f"{_days(line.median_ttfv_days)} ({low}–{high})",
        )
    table.add_row(
        "[bold]total[/bold]",
        "",
        *(str(book.totals.get(s, 0)) for s in ACCOUNT_STATES),
        str(book.enrolled),
        "",
    )
    out.print(table)
    out.print(f"accounts on no track: {book.unenrolled}; open tasks: {book.open_tasks}")
    if book.expired_tasks:
        out.print(
            f"expired tasks (due before a run's catch-up window; history, not open): "
            f"{book.expired_tasks}"
        )


def status_command(
    account: Annotated[
        str | None, typer.Argument(help="An account id (leave out for the whole book).")
    ] = None,
    project: ProjectOption = None,
    as_of: AsOfOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """An account's onboarding, or the book's accounts by track and state."""
    when = parse_as_of(as_of)
    with open_book(project) as (proj, store):
        if account is None:
            book = book_status(store, proj, when)
            if json_out:
                typer.echo(json.dumps(book.to_dict(), indent=2))
            else:
                _print_book(console(), book)
            return
        st = account_status(store, proj, account, when)
    if json_out:
        typer.echo(json.dumps(st.to_dict(), indent=2))
        return
    _print_account(console(), st)


def plan_command(
    account: Annotated[str, typer.Argument(help="The account id.")],
    project: ProjectOption = None,
    as_of: AsOfOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Markdown to this file.")
    ] = None,
) -> None:
    """The account's mutual success plan, as Markdown."""
    when = parse_as_of(as_of)
    with open_book(project) as (proj, store):
        text = success_plan(store, proj, account, when)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc}") from exc
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add ``tierline status`` and ``tierline plan``."""
    app.command("status")(status_command)
    app.command("plan")(plan_command)
