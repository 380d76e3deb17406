"""``tierline run``: run the engine as of a time (or dry, or as a backtest) and show the actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tierline.cli.assign import ProjectOption, console, open_book, parse_as_of
from tierline.engine.backtest import BacktestReport, backtest, parse_step
from tierline.engine.outbox import STATUS_PENDING, OutboxRow
from tierline.engine.run import FROM_POLICY, CatchUp, RunReport, run
from tierline.errors import UsageError
from tierline.policy.catchup import format_catch_up, parse_catch_up

__all__ = [
    "actions_table",
    "expiry_line",
    "parse_catch_up_option",
    "register",
    "run_command",
    "summary_lines",
]


def _text(action: OutboxRow) -> str:
    body = action.payload
    for key in ("text", "template", "csm_name"):
        value = body.get(key)
        if value:
            return str(value)
    return ""


def _when(action: OutboxRow) -> str:
    return "" if action.due_at is None else f"{action.due_at:%Y-%m-%d %H:%M}"


def actions_table(title: str, actions: tuple[OutboxRow, ...], *, more: int = 0) -> Table:
    """A table of actions: due (UTC), account, kind, rule, episode, to, what (and status,
    when any of them is not pending)."""
    table = Table(title=title, title_justify="left")
    statuses = any(a.status != STATUS_PENDING for a in actions)
    names = ("due (UTC)", "account", "kind", "rule", "episode", "to", "what")
    for name in (*names, "status") if statuses else names:
        table.add_column(name)
    for a in actions:
        to = a.payload.get("to")
        cells = [
            _when(a),
            a.account_id,
            a.kind,
            a.rule,
            a.episode,
            "" if to is None else str(to),
            _text(a),
        ]
        table.add_row(*cells, *((a.status,) if statuses else ()))
    if more > 0:
        table.add_row("", f"… and {more} more", *[""] * (len(table.columns) - 2))
    return table


def parse_catch_up_option(text: str | None) -> CatchUp:
    """``--catch-up``: a window (``7d``, ``48 hours``, ``0d``), ``all``, or the policy's."""
    if text is None:
        return FROM_POLICY
    try:
        return parse_catch_up(text)
    except ValueError as exc:
        raise UsageError(f"--catch-up: {exc}") from exc


def expiry_line(report: RunReport) -> str | None:
    """``N expired: due before <date>, outside the 7-day catch-up window`` (None: none)."""
    cutoff = report.expire_before
    if not report.expired or cutoff is None:
        return None
    window = format_catch_up(report.catch_up)
    return (
        f"{report.expired:,} expired: due before {cutoff:%Y-%m-%d %H:%M} UTC, outside the "
        f"{window} catch-up window (recorded as history, not delivered)"
    )


def summary_lines(report: RunReport) -> list[str]:
    """The run's steps in a few lines of text."""
    assigned = ", ".join(f"{seg} {n}" for seg, n in report.assigned) or "none"
    lines = [
        f"new assignments: {assigned}",
        f"accounts on a track: {report.enrolled}",
        f"upgrades {report.upgrades}, stalls {report.stalls}, "
        f"graduation recommendations {report.graduations}",
        f"CSMs assigned {report.csm_assigned}, accounts without a CSM {report.csm_unplaced}",
    ]
    if report.shortfall:
        short = ", ".join(f"{pool} short by {n}" for pool, n in sorted(report.shortfall.items()))
        lines.append(f"over capacity: {short}")
    return lines


def _print_run(out: Console, report: RunReport) -> None:
    stamp = f"{report.as_of.isoformat()}Z"
    expired = expiry_line(report)
    tail = "" if expired is None else f", {expired}"
    if report.dry_run:
        out.print(
            f"dry run as of {stamp}, policy version {report.policy_version}: would add "
            f"{report.added:,} actions ({report.candidates:,} candidates){tail}; "
            "nothing was written"
        )
    else:
        out.print(
            f"run {report.run_id} as of {stamp}, policy version {report.policy_version}: "
            f"added {report.added:,} actions ({report.candidates:,} candidates){tail}"
        )
    if expired is not None:
        out.print(f"  pending (to do now): {report.pending:,}")
    for line in summary_lines(report):
        out.print(f"  {line}")
    if report.later_decisions is not None:
        out.print(
            f"note: the store holds decisions as late as {report.later_decisions.isoformat()}Z; "
            "a run as of an earlier time sees only what was decided by then (replay the past "
            "with --backtest FROM TO)"
        )
    if not report.added:
        out.print("nothing new to do: every action due by then is already in the outbox")
        return
    kinds = Table(title="actions by kind", title_justify="left")
    kinds.add_column("kind")
    kinds.add_column("actions", justify="right")
    expired_by_kind = dict(report.expired_by_kind)
    if report.expired:
        kinds.add_column("pending", justify="right")
        kinds.add_column("expired", justify="right")
    for kind, n in report.by_kind:
        gone = expired_by_kind.get(kind, 0)
        split = (f"{n - gone:,}", f"{gone:,}") if report.expired else ()
        kinds.add_row(kind, f"{n:,}", *split)
    out.print(kinds)
    rules = Table(title="actions by rule", title_justify="left")
    rules.add_column("rule")
    rules.add_column("kind")
    rules.add_column("actions", justify="right")
    for rule, kind, n in report.by_rule:
        rules.add_row(rule, kind, str(n))
    out.print(rules)
    shown = len(report.actions)
    title = f"first {shown} actions" if shown < report.added else "actions"
    if report.expired:
        title += " (pending first, soonest due first)"
    out.print(actions_table(title, report.actions, more=report.added - shown))


def _print_backtest(out: Console, report: BacktestReport) -> None:
    days = len(report.steps)
    out.print(
        f"backtest {report.start.isoformat()}Z → {report.end.isoformat()}Z, {days} runs every "
        f"{report.step}, policy version {report.policy_version}, in a scratch store "
        f"({report.scratch or 'removed afterwards'}); the real outbox is untouched"
    )
    totals = ", ".join(f"{k} {n}" for k, n in report.by_kind().items()) or "none"
    out.print(f"  {report.added} actions in all: {totals}")
    table = Table(title="timeline", title_justify="left")
    for name in ("as of", "account", "kind", "rule", "due (UTC)", "what"):
        table.add_column(name)
    quiet = 0
    for step in report.steps:
        rep = step.report
        if not rep.added:
            quiet += 1
            continue
        kinds = ", ".join(f"{k} {n}" for k, n in rep.by_kind)
        added = f"{rep.added} actions" + (f" ({rep.expired} expired)" if rep.expired else "")
        table.add_row(f"[bold]{step.as_of:%Y-%m-%d %H:%M}[/bold]", added, kinds)
        for a in rep.actions:
            table.add_row("", a.account_id, a.kind, a.rule, _when(a), _text(a))
        if rep.added > len(rep.actions):
            table.add_row("", f"… and {rep.added - len(rep.actions)} more", "", "", "", "")
    out.print(table)
    if quiet:
        out.print(f"{quiet} of {days} runs added nothing")


def run_command(
    project: ProjectOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Run as of this time (UTC; a date: its end).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added; write nothing.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="How many actions to list (per step).")
    ] = 20,
    backtest_range: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--backtest",
            metavar="FROM TO",
            help="Replay runs from FROM to TO in a scratch store; print the timeline.",
        ),
    ] = None,
    step: Annotated[
        str, typer.Option("--step", help="Backtest step: 12h, 1d (default), 1w.")
    ] = "1d",
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Backtest: keep the scratch store at this new path."),
    ] = None,
    catch_up: Annotated[
        str | None,
        typer.Option(
            "--catch-up",
            metavar="DURATION",
            help="Actions due more than this before --as-of are recorded expired, not "
            "pending: 7d, 48h, 2w, 0d (only what is due now), or all. Default: the "
            "policy's run: {catch_up: …} (7 days).",
        ),
    ] = None,
) -> None:
    """Run the engine: assign, track milestones, transitions, CSMs, touchpoints → outbox."""
    if backtest_range is None:
        if keep is not None or step != "1d":
            raise UsageError("--step and --keep only apply to --backtest FROM TO")
        when = parse_as_of(as_of)
        window = parse_catch_up_option(catch_up)
        with open_book(project) as (proj, store):
            report = run(store, proj, when, dry_run=dry_run, limit=limit, catch_up=window)
        if json_out:
            typer.echo(json.dumps(report.to_dict(), indent=2))
            return
        _print_run(console(), report)
        return
    if as_of is not None or dry_run:
        raise UsageError(
            "--backtest FROM TO replays its own range in a scratch store: leave out "
            "--as-of and --dry-run"
        )
    start, end = (parse_as_of(t) for t in backtest_range)
    span = parse_step(step)
    window = parse_catch_up_option(catch_up)
    with open_book(project) as (proj, store):
        timeline = backtest(
            store, proj, start, end, step=span, scratch=keep, limit=limit, catch_up=window
        )
    if json_out:
        typer.echo(json.dumps(timeline.to_dict(), indent=2))
        return
    _print_backtest(console(), timeline)


def register(app: typer.Typer) -> None:
    """Add ``tierline run``."""
    app.command("run")(run_command)
