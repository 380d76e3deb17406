"""Backtest: replay the engine day by day over a range, in a separate scratch store.

:func:`backtest` never writes to the real store. It creates a scratch DuckDB file (in a
temporary folder, removed afterwards, unless ``scratch`` names a file to keep), migrates it
(empty engine state: no assignments, overrides, actions or runs), copies the *book* into it
(``account_versions``, people, events, tickets, NPS, billing, ARR, the CSM roster; one
``INSERT … SELECT`` per table through an attached database), and then calls
:func:`tierline.engine.run.run` at ``start``, ``start + step``, … up to ``end`` on the
scratch store, each run recorded as of its own time (``now = as_of``, so the rows are
those a daily schedule would have written). The result is the timeline of actions: for
each step, what that run added.

A backtest replays the *policy*: human decisions recorded in the real store (approved
overrides) are not carried into the scratch state.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from tierline.engine.run import FROM_POLICY, CatchUp, RunReport, run
from tierline.engine.state import utc_naive
from tierline.errors import EngineError, UsageError
from tierline.policy.model import Project
from tierline.store import BOOK_TABLES, Store

__all__ = [
    "MAX_STEPS",
    "BacktestReport",
    "BacktestStep",
    "backtest",
    "copy_book",
    "parse_step",
    "step_times",
]

MAX_STEPS = 3660
_SCRATCH = "tierline_scratch"
_STEP = re.compile(r"^\s*(\d+)\s*(h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class BacktestStep:
    """One replayed run: its time and its report (the actions it added)."""

    as_of: datetime
    report: RunReport

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "as_of": self.as_of.isoformat() + "Z",
            "added": self.report.added,
            "expired": self.report.expired,
            "by_kind": dict(self.report.by_kind),
            "actions": [a.to_dict() for a in self.report.actions],
        }


@dataclass(frozen=True)
class BacktestReport:
    """The timeline of a backtest: one :class:`BacktestStep` per run, in time order.

    ``scratch`` is the kept scratch store's path (None when it was removed).
    """

    start: datetime
    end: datetime
    step: timedelta
    policy_version: str
    steps: tuple[BacktestStep, ...]
    scratch: Path | None

    @property
    def added(self) -> int:
        """Actions added over the whole range."""
        return sum(s.report.added for s in self.steps)

    def by_kind(self) -> dict[str, int]:
        """Actions added over the range, per kind."""
        total: dict[str, int] = {}
        for s in self.steps:
            for kind, n in s.report.by_kind:
                total[kind] = total.get(kind, 0) + n
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times as ISO-8601 UTC)."""
        return {
            "start": self.start.isoformat() + "Z",
            "end": self.end.isoformat() + "Z",
            "step_seconds": int(self.step.total_seconds()),
            "policy_version": self.policy_version,
            "added": self.added,
            "by_kind": self.by_kind(),
            "scratch": None if self.scratch is None else str(self.scratch),
            "steps": [s.to_dict() for s in self.steps],
        }


def parse_step(text: str) -> timedelta:
    """A step such as ``1d``, ``12h`` or ``1w`` as a timedelta.

    >>> parse_step("2d")
    datetime.timedelta(days=2)
    """
    match = _STEP.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise UsageError(
            f"--step {text!r}: give a positive number of hours, days or weeks: 12h, 1d, 1w"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def step_times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """``start``, ``start + step``, … up to and including ``end``."""
    if step <= timedelta(0):
        raise UsageError(f"the step must be positive, not {step}")
    if end < start:
        raise UsageError(
            f"the backtest ends ({end:%Y-%m-%d %H:%M}) before it starts ({start:%Y-%m-%d %H:%M})"
        )
    count = int((end - start) / step) + 1
    if count > MAX_STEPS:
        raise UsageError(
            f"the backtest would make {count} runs; at most {MAX_STEPS}: use a larger --step"
        )
    return [start + i * step for i in range(count)]


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = 'main' AND table_name = ? "
        "ORDER BY ordinal_position",
        [catalog, table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def copy_book(store: Store, project: Project, target: Path) -> None:
    """Create a migrated store at ``target`` holding a copy of ``store``'s book (no state)."""
    if target.exists():
        raise UsageError(f"{target} exists already; the scratch store must be a new file")
    Store.open(target, project.fields).close()
    con = store.con
    row = con.execute("SELECT current_database()").fetchone()
    source = str(row[0]) if row else "main"
    quoted = str(target).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS {_SCRATCH}")
    except duckdb.Error as exc:
        raise EngineError(f"cannot attach the scratch store {target}: {exc}") from exc
    try:
        con.execute("BEGIN TRANSACTION")
        for table in BOOK_TABLES.values():
            wanted = _columns(con, _SCRATCH, table)
            have = set(_columns(con, source, table))
            cols = ", ".join(f'"{c}"' for c in wanted if c in have)
            con.execute(
                f'INSERT INTO {_SCRATCH}.main."{table}" ({cols}) '
                f'SELECT {cols} FROM "{source}".main."{table}"'
            )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise EngineError(f"copying the book into the scratch store failed: {exc}") from exc
    finally:
        con.execute(f"DETACH {_SCRATCH}")


def _replay(
    scratch: Store, project: Project, times: list[datetime], limit: int | None, catch_up: CatchUp
) -> tuple[BacktestStep, ...]:
    steps: list[BacktestStep] = []
    for moment in times:
        report = run(
            scratch, project, moment, now=moment, limit=limit, backtest=True, catch_up=catch_up
        )
        steps.append(BacktestStep(moment, report))
    return tuple(steps)


def backtest(
    store: Store,
    project: Project,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = timedelta(days=1),
    scratch: Path | None = None,
    limit: int | None = None,
    catch_up: CatchUp = FROM_POLICY,
) -> BacktestReport:
    """Replay runs at ``start``, ``start + step``, … ``end`` on a scratch copy of the book.

    ``scratch``: keep the scratch store at this (new) path; by default it is a temporary
    file, removed afterwards. ``limit``: how many actions each step lists (None: all).
    ``catch_up``: each run's catch-up window (default: the policy's); a step within the
    window records every action of the range pending, on its day.
    """
    first, last = utc_naive(start), utc_naive(end)
    times = step_times(first, last, step)
    with tempfile.TemporaryDirectory(prefix="tierline-backtest-") as folder:
        path = scratch if scratch is not None else Path(folder) / "backtest.duckdb"
        copy_book(store, project, path)
        with Store.open(path, project.fields) as replica:
            steps = _replay(replica, project, times, limit, catch_up)
    return BacktestReport(first, last, step, project.version, steps, scratch)
