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
from tierline.engine.outbox import OutboxRow
from tierline.engine.run import RunReport, run
from tierline.errors import UsageError

__all__ = ["actions_table", "register", "run_command", "summary_lines"]


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
    """A table of actions: due (UTC), account, kind, rule, episode, to, what."""
    table = Table(title=title, title_justify="left")
    for name in ("due (UTC)", "account", "kind", "rule", "episode", "to", "what"):
        table.add_column(name)
    for a in actions:
        to = a.payload.get("to")
        table.add_row(
            _when(a),
            a.account_id,
            a.kind,
            a.rule,
            a.episode,
            "" if to is None else str(to),
            _text(a),
        )
    if more > 0:
        table.add_row("", f"… and {more} more", "", "", "", "", "")
    return table


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
    if report.dry_run:
        out.print(
            f"dry run as of {stamp}, policy version {report.policy_version}: would add "
            f"{report.added} actions ({report.candidates} candidates); nothing was written"
        )
    else:
        out.print(
            f"run {report.run_id} as of {stamp}, policy version {report.policy_version}: "
            f"added {report.added} actions ({report.candidates} candidates)"
        )
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
    for kind, n in report.by_kind:
        kinds.add_row(kind, str(n))
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
        table.add_row(f"[bold]{step.as_of:%Y-%m-%d %H:%M}[/bold]", f"{rep.added} actions", kinds)
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
) -> None:
    """Run the engine: assign, track milestones, transitions, CSMs, touchpoints → outbox."""
    if backtest_range is None:
        if keep is not None or step != "1d":
            raise UsageError("--step and --keep only apply to --backtest FROM TO")
        when = parse_as_of(as_of)
        with open_book(project) as (proj, store):
            report = run(store, proj, when, dry_run=dry_run, limit=limit)
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
    with open_book(project) as (proj, store):
        timeline = backtest(store, proj, start, end, step=span, scratch=keep, limit=limit)
    if json_out:
        typer.echo(json.dumps(timeline.to_dict(), indent=2))
        return
    _print_backtest(console(), timeline)


def register(app: typer.Typer) -> None:
    """Add ``tierline run``."""
    app.command("run")(run_command)
