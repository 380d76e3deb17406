"""Helpers for the incremental-run tests: two stores run side by side, compared row for row.

:class:`Twin` holds two copies of one store: on ``inc`` every run may be incremental (the
default), on ``full`` every run derives everything (``run(..., incremental=False)``). Each
step applies the same change to both (:meth:`Twin.both`) and runs both at the same time;
:func:`state` is everything a run writes that must not depend on how it derived it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tierline.engine.run import RunReport, run
from tierline.policy.model import Project
from tierline.store import Store

Rows = list[tuple[Any, ...]]


def _strip(text: object, *keys: str) -> str | None:
    """A JSON object's text without ``keys`` (run ids differ from store to store)."""
    if text is None:
        return None
    body = json.loads(str(text))
    if isinstance(body, dict):
        for key in keys:
            body.pop(key, None)
    return json.dumps(body, sort_keys=True)


def _exists(store: Store, table: str) -> bool:
    row = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()
    return bool(row and row[0])


def state(store: Store) -> dict[str, Rows]:
    """The outbox, the recorded runs' times, assignments, override requests and audit log."""
    con = store.con
    out: dict[str, Rows] = {}
    if _exists(store, "outbox"):
        out["outbox"] = [
            tuple(r)
            for r in con.execute(
                "SELECT o.seq, o.idempotency_key, o.rule, o.account_id, o.episode, o.kind, "
                "o.due_at, CAST(o.payload AS VARCHAR), o.created_at, o.policy_version, o.status, "
                "r.as_of FROM outbox AS o JOIN runs AS r USING (run_id) ORDER BY o.seq"
            ).fetchall()
        ]
        out["runs"] = [
            tuple(r)
            for r in con.execute(
                "SELECT as_of, policy_version, dry_run, backtest FROM runs "
                "ORDER BY started_at, as_of"
            ).fetchall()
        ]
    # without ids: a run assigns new accounts in no particular order (only each account's
    # rows of a segmentation are ordered, by assigned_at then id)
    out["assignments"] = [
        (*r[:3], _strip(r[3], "run_id"), *r[4:])
        for r in con.execute(
            "SELECT account_id, segmentation, outcome, CAST(explanation AS VARCHAR), "
            "policy_version, assigned_at, source, recorded_at, override_id, decision_id "
            "FROM assignments ORDER BY account_id, segmentation, assigned_at, id"
        ).fetchall()
    ]
    out["requests"] = [
        tuple(r) for r in con.execute("SELECT * FROM override_requests ORDER BY id").fetchall()
    ]
    out["audit"] = [
        (*r[:-1], _strip(r[-1], "run_id"))
        for r in con.execute(
            'SELECT "at", actor, action, account_id, segmentation, "before", "after", reason, '
            "CAST(details AS VARCHAR) FROM audit_log ORDER BY id"
        ).fetchall()
    ]
    return out


def report_counts(report: RunReport) -> dict[str, object]:
    """A run report's counts but those that say how it derived (candidates compared, scope,
    events it rolled up: none when an import folded them first)."""
    counts = report.counts()
    for key in ("candidates", "scope", "rolled_up"):
        counts.pop(key, None)
    return counts


@dataclass
class Twin:
    """Two stores with the same book: ``inc`` runs incrementally, ``full`` in full."""

    project: Project
    inc: Store
    full: Store
    reports: list[tuple[RunReport, RunReport]]

    def both(self, change: Callable[[Store], object]) -> None:
        """Apply the same change to both stores."""
        change(self.inc)
        change(self.full)

    def run(self, moment: datetime, **options: Any) -> tuple[RunReport, RunReport]:
        """Run both stores as of ``moment`` (recorded at ``moment``); check they agree."""
        options.setdefault("now", moment)
        options.setdefault("limit", None)
        a = run(self.inc, self.project, moment, **options)
        b = run(self.full, self.project, moment, incremental=False, **options)
        assert not b.incremental
        assert report_counts(a) == report_counts(b), moment
        assert [x.to_dict() | {"run_id": ""} for x in a.actions] == [
            x.to_dict() | {"run_id": ""} for x in b.actions
        ], moment
        got, want = state(self.inc), state(self.full)
        for table in want:
            assert got[table] == want[table], (moment, table)
        assert got.keys() == want.keys()
        self.reports.append((a, b))
        return a, b


@contextmanager
def twin(project: Project, folder: Path) -> Iterator[Twin]:
    """Open two copies of ``project``'s store (it must be closed) under ``folder``."""
    paths = (folder / "inc.duckdb", folder / "full.duckdb")
    for path in paths:
        shutil.copy(project.store_path, path)
    with Store.open(paths[0], project.fields) as inc, Store.open(paths[1], project.fields) as full:
        yield Twin(project, inc, full, [])
