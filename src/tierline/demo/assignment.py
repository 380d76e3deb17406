"""The demo's assignment step: assign the book, show each segmentation's distribution.

``tierline demo`` runs :func:`assign_demo` after the import: the real engine
(:func:`tierline.engine.assign.assign_accounts`) at the demo's as-of, then, per
segmentation, how many accounts of the book got each outcome (from the store's current
assignments), the accounts left unassigned with the policy's reason (the seed 000 rule's
gap), and a few explained accounts: the deepest path of the first tree, an account decided
by the rarest outcome of the first rule table, and one unassigned account.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tierline.engine.assign import AssignReport, assign_accounts, decided_sql
from tierline.engine.decision import recorded_explanations
from tierline.engine.explain import describe_steps
from tierline.errors import EngineError
from tierline.policy.model import Project, Segmentation
from tierline.store.store import Store

__all__ = [
    "DemoAssignment",
    "Distribution",
    "Example",
    "OutcomeShare",
    "assign_demo",
    "render_assignment",
]

UNASSIGNED = "(unassigned)"


@dataclass(frozen=True)
class OutcomeShare:
    """Accounts of the book with ``outcome`` (or unassigned, for ``reason``)."""

    outcome: str
    count: int
    reason: str | None = None


@dataclass(frozen=True)
class Distribution:
    """One segmentation's outcomes over the book; the counts sum to ``total``."""

    segmentation: str
    total: int
    rows: tuple[OutcomeShare, ...]

    @property
    def unassigned(self) -> int:
        """Accounts the policy gives no outcome."""
        return sum(r.count for r in self.rows if r.reason is not None)


@dataclass(frozen=True)
class Example:
    """One account's decision in one segmentation, as human-readable steps."""

    why: str
    account_id: str
    name: str
    segmentation: str
    outcome: str | None
    steps: tuple[str, ...]


@dataclass(frozen=True)
class DemoAssignment:
    """What the demo's assignment step did and found."""

    report: AssignReport
    seconds: float
    distributions: tuple[Distribution, ...]
    examples: tuple[Example, ...]


# The book as of a time (bind it twice): the accounts closed-won by then.
_BOOK = (
    "SELECT id FROM accounts_as_of(CAST(? AS TIMESTAMP)) "
    "WHERE closed_won_at <= CAST(? AS TIMESTAMP)"
)


def _distribution(store: Store, seg_id: str, report: AssignReport, total: int) -> Distribution:
    rows = store.con.execute(
        f"SELECT c.outcome, count(*) FROM current_assignments c JOIN ({_BOOK}) b "
        "ON b.id = c.account_id WHERE c.segmentation = ? GROUP BY 1 ORDER BY 2 DESC, 1",
        [report.as_of, report.as_of, seg_id],
    ).fetchall()
    shares = [OutcomeShare(str(o), int(n)) for o, n in rows]
    result = report.segmentation(seg_id)
    shares.extend(OutcomeShare(UNASSIGNED, u.count, u.reason) for u in result.unassigned)
    return Distribution(seg_id, total, tuple(shares))


def _parse(text: object) -> Mapping[str, object]:
    value = json.loads(str(text)) if text is not None else {}
    return value if isinstance(value, dict) else {}


def _name(store: Store, account_id: str) -> str:
    row = store.con.execute(
        "SELECT coalesce(name, id) FROM accounts WHERE id = ?", [account_id]
    ).fetchall()
    return str(row[0][0]) if row else account_id


def _recorded(
    store: Store, seg: Segmentation, why: str, order_by: str, where: str = "TRUE"
) -> Example | None:
    rows = store.con.execute(
        "SELECT account_id, outcome, id FROM current_assignments "
        f"WHERE segmentation = ? AND source = 'rule' AND {where} ORDER BY {order_by} LIMIT 1",
        [seg.id],
    ).fetchall()
    if not rows:
        return None
    account, outcome, assignment = rows[0]
    explanation = recorded_explanations(store.con, [int(assignment)]).get(int(assignment))
    detail = seg if seg.table is not None else None  # rule text helps; question text is long
    steps = tuple(describe_steps(_parse(explanation), detail))
    return Example(why, str(account), _name(store, str(account)), seg.id, str(outcome), steps)


def _unassigned(
    store: Store, project: Project, seg: Segmentation, report: AssignReport
) -> Example | None:
    result = report.segmentation(seg.id)
    if not result.unassigned or not result.unassigned[0].examples:
        return None
    gap = result.unassigned[0]
    account = gap.examples[0]
    try:
        rows = store.con.execute(
            f"SELECT explanation FROM ({decided_sql(seg, project)}) WHERE account_id = ?",
            [report.as_of, report.as_of, account],
        ).fetchall()
    except duckdb.Error as exc:
        raise EngineError(f"segmentation {seg.id!r}: cannot explain {account}: {exc}") from exc
    steps = tuple(describe_steps(_parse(rows[0][0] if rows else None), seg))
    why = f"unassigned: {gap.reason} ({gap.count:,} accounts)"
    return Example(why, account, _name(store, account), seg.id, None, steps)


def _examples(store: Store, project: Project, report: AssignReport) -> tuple[Example, ...]:
    found: list[Example | None] = []
    tree = next((s for s in project.segmentations if s.tree is not None), None)
    if tree is not None:
        found.append(
            _recorded(
                store,
                tree,
                "the longest path of the tree",
                # A policy-made row records its path by reference: its decision's template.
                "json_array_length(coalesce(explanation, "
                "(SELECT template FROM decisions WHERE id = decision_id)), '$.path') DESC, "
                "account_id",
            )
        )
    table = next((s for s in project.segmentations if s.table is not None), None)
    if table is not None:
        counts = sorted(
            (o.count, o.outcome) for o in report.segmentation(table.id).assigned if o.count
        )
        if counts:
            rarest = counts[0][1]
            found.append(
                _recorded(
                    store,
                    table,
                    f"the rarest outcome of {table.id}",
                    "account_id",
                    f"outcome = '{rarest}'",
                )
            )
    gap = next((s for s in project.segmentations if report.segmentation(s.id).unassigned), None)
    if gap is not None:
        found.append(_unassigned(store, project, gap, report))
    return tuple(e for e in found if e is not None)


def assign_demo(
    store: Store, project: Project, as_of: datetime, now: datetime | None = None
) -> DemoAssignment:
    """Assign the book as of ``as_of`` and gather the distribution and a few examples."""
    began = time.perf_counter()
    report = assign_accounts(store, project, as_of, now=now)
    seconds = time.perf_counter() - began
    total_row = store.con.execute(
        f"SELECT count(*) FROM ({_BOOK})", [report.as_of, report.as_of]
    ).fetchall()
    total = int(total_row[0][0]) if total_row else 0
    distributions = tuple(
        _distribution(store, s.segmentation, report, total) for s in report.segmentations
    )
    return DemoAssignment(report, seconds, distributions, _examples(store, project, report))


def render_assignment(result: DemoAssignment, console: Console) -> None:
    """Print each segmentation's distribution, then the explained examples."""
    report = result.report
    console.print(
        f"Assigned the book as of {report.as_of:%Y-%m-%d %H:%M} UTC in {result.seconds:.2f}s "
        f"(policy version {report.policy_version})",
        soft_wrap=True,
    )
    for dist in result.distributions:
        table = Table(title=f"{dist.segmentation} ({dist.total:,} accounts)", title_justify="left")
        table.add_column("outcome")
        table.add_column("accounts", justify="right")
        table.add_column("share", justify="right")
        table.add_column("reason")
        for row in dist.rows:
            share = row.count / dist.total if dist.total else 0.0
            table.add_row(row.outcome, f"{row.count:,}", f"{share:.1%}", row.reason or "")
        console.print(table)
    for example in result.examples:
        outcome = example.outcome or UNASSIGNED
        console.print(
            f"\n[bold]{escape(example.account_id)}[/] {escape(example.name)} — "
            f"{example.segmentation} → {outcome}  ({escape(example.why)})",
            soft_wrap=True,
        )
        for step in example.steps:
            console.print(f"  {escape(step)}", soft_wrap=True)
