"""The demo's engine step: run the engine as of the demo's date, show what it decided.

``tierline demo`` calls :func:`run_demo` after the assignment: one real
:func:`tierline.engine.run.run` (milestones, transitions, CSMs, touchpoints → the store's
outbox, exactly what ``tierline run --as-of DAY`` does), then
:func:`tierline.engine.status.book_status`. :func:`render_run` prints the actions added by
kind, the book by track and state (on track / behind / stuck / complete) with the median
TTFV against each track's target, and the first actions a CS team acts on now: the pending
ones, soonest due first. The demo book has two years of history, so most of what the run
records was due long ago: those actions fall outside the catch-up window (tierline.yaml,
``run: {catch_up: 7 days}``) and are recorded as expired history, not as work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tierline.engine.milestone import ACCOUNT_STATES
from tierline.engine.outbox import STATUS_PENDING, OutboxRow
from tierline.engine.run import RunReport, run
from tierline.engine.status import BookStatus, TrackLine, book_status
from tierline.policy.catchup import format_catch_up
from tierline.policy.model import Project
from tierline.store.store import Store

__all__ = [
    "DEMO_ACTIONS",
    "DemoRun",
    "action_text",
    "pending_actions",
    "render_run",
    "run_demo",
    "ttfv_against_target",
]

DEMO_ACTIONS = 10
_TEXT_WIDTH = 60
_STATE_NAMES = {
    "on_track": "on track",
    "behind": "behind",
    "stuck": "stuck",
    "complete": "complete",
}


@dataclass(frozen=True)
class DemoRun:
    """The demo's run (its report and first actions) and the book's status after it."""

    report: RunReport
    seconds: float
    status: BookStatus
    status_seconds: float


def run_demo(
    store: Store,
    project: Project,
    as_of: datetime,
    *,
    now: datetime | None = None,
    actions: int = DEMO_ACTIONS,
) -> DemoRun:
    """Run the engine as of ``as_of`` (appending to the outbox), then the book's status.

    The report lists the first ``actions`` actions, most urgent first (pending ones first).
    """
    began = time.perf_counter()
    report = run(store, project, as_of, now=now, limit=actions)
    ran = time.perf_counter() - began
    began = time.perf_counter()
    status = book_status(store, project, as_of)
    return DemoRun(report, ran, status, time.perf_counter() - began)


def ttfv_against_target(line: TrackLine) -> str:
    """The track's median TTFV against its target range: faster, within, slower, or —."""
    median = line.median_ttfv_days
    if median is None:
        return "—"
    low, high = line.ttfv_target_days
    if median < low:
        return "faster"
    return "within" if median <= high else "slower"


def action_text(action: OutboxRow, width: int = _TEXT_WIDTH) -> str:
    """A short description of an action: its text, template, CSM or target, cut to width."""
    body = action.payload
    text = ""
    for key in ("text", "template", "csm_name", "to_track"):
        value = body.get(key)
        if value:
            text = str(value)
            break
    to = body.get("to")
    if to and text:
        text = f"{to}: {text}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _kinds(report: RunReport) -> Table:
    table = Table(title="actions added by kind", title_justify="left")
    table.add_column("kind")
    table.add_column("actions", justify="right")
    table.add_column("pending", justify="right")
    table.add_column("expired", justify="right")
    expired = dict(report.expired_by_kind)
    for kind, n in report.by_kind:
        gone = expired.get(kind, 0)
        table.add_row(kind, f"{n:,}", f"{n - gone:,}", f"{gone:,}")
    table.add_row(
        "[bold]total[/bold]", f"{report.added:,}", f"{report.pending:,}", f"{report.expired:,}"
    )
    return table


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _status(status: BookStatus) -> Table:
    table = Table(
        title=f"onboarding by track and state ({status.enrolled:,} accounts on a track)",
        title_justify="left",
    )
    table.add_column("track", no_wrap=True)
    table.add_column("level", justify="right")
    for state in ACCOUNT_STATES:
        table.add_column(_STATE_NAMES.get(state, state), justify="right")
    table.add_column("total", justify="right")
    for line in status.tracks:
        table.add_row(
            escape(line.track_id),
            str(line.level),
            *(f"{line.states.get(s, 0):,}" for s in ACCOUNT_STATES),
            f"{line.total:,}",
        )
    table.add_row(
        "[bold]total[/bold]",
        "",
        *(f"{status.totals.get(s, 0):,}" for s in ACCOUNT_STATES),
        f"{status.enrolled:,}",
    )
    return table


def _ttfv(status: BookStatus) -> Table:
    table = Table(title="time to first value vs target, per track", title_justify="left")
    table.add_column("track", no_wrap=True)
    table.add_column("median TTFV (days)", justify="right")
    table.add_column("target (days)", justify="right")
    table.add_column("vs target")
    for line in status.tracks:
        low, high = line.ttfv_target_days
        table.add_row(
            escape(line.track_id),
            _days(line.median_ttfv_days),
            f"{low}–{high}",
            ttfv_against_target(line),
        )
    return table


def pending_actions(report: RunReport) -> tuple[OutboxRow, ...]:
    """The report's listed actions that are pending (the work), most urgent first."""
    return tuple(a for a in report.actions if a.status == STATUS_PENDING)


def _actions(report: RunReport) -> Table:
    actions = pending_actions(report)
    table = Table(
        title=f"first {len(actions)} of {report.pending:,} pending actions (soonest due first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("due (UTC)", no_wrap=True, min_width=10)
    table.add_column(
        "account",
        no_wrap=True,
        min_width=max((len(a.account_id) for a in actions), default=7),
    )
    table.add_column("kind", no_wrap=True, min_width=max((len(a.kind) for a in actions), default=4))
    table.add_column("rule / what", no_wrap=True, overflow="ellipsis", ratio=1)
    for a in actions:
        due = "" if a.due_at is None else f"{a.due_at:%Y-%m-%d}"
        what = escape(action_text(a))
        table.add_row(due, escape(a.account_id), a.kind, f"{escape(a.rule)}\n[dim]{what}[/dim]")
    return table


def render_run(result: DemoRun, console: Console) -> None:
    """Print the run's counts by kind, the status summary and the first actions."""
    report = result.report
    console.print(
        f"Ran the engine as of {report.as_of:%Y-%m-%d %H:%M} UTC in {result.seconds:.2f}s "
        f"(run {report.run_id}): {report.added:,} actions added to the outbox from "
        f"{report.candidates:,} candidates, {report.pending:,} of them pending; "
        f"{report.enrolled:,} accounts on a track, "
        f"{report.upgrades:,} upgrades, {report.stalls:,} stalls, "
        f"{report.graduations:,} graduation recommendations, "
        f"{report.csm_assigned:,} CSMs assigned",
        soft_wrap=True,
    )
    cutoff = report.expire_before
    if report.expired and cutoff is not None:
        console.print(
            f"{report.expired:,} expired: due before {cutoff:%Y-%m-%d %H:%M} UTC, outside the "
            f"{format_catch_up(report.catch_up)} catch-up window (recorded as history, not "
            "as work)",
            soft_wrap=True,
        )
    if report.shortfall:
        short = ", ".join(f"{pool} short by {n:,}" for pool, n in sorted(report.shortfall.items()))
        console.print(f"CSM pools over capacity: {short}", soft_wrap=True)
    console.print(_kinds(report))
    console.print(_status(result.status))
    console.print(_ttfv(result.status))
    status = result.status
    console.print(
        f"accounts on no track: {status.unenrolled:,}; open tasks: {status.open_tasks:,} "
        f"(status in {result.status_seconds:.2f}s)",
        soft_wrap=True,
    )
    if pending_actions(report):
        console.print(_actions(report))
