"""Shared builders for the milestone tests: tracks, a project, a real DuckDB store, a book."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from tierline.policy.model import CORE_ACCOUNT_FIELDS, Project, Rule, RuleTable, Segmentation
from tierline.policy.track import Action, Gate, Milestone, StallRule, Track
from tierline.store import Store

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday: the accounts' closed_won_at
SEG = "onboarding_track"


def self_serve(stall_days: int = 14) -> Track:
    """A self-serve track (level 1) with one milestone of each gate kind."""
    return Track(
        id="self_serve",
        name="Self-Serve",
        level=1,
        driver="product",
        ttfv_target_days=(14, 21),
        completion_target=(0.4, 0.6),
        milestones=(
            Milestone("configured", Gate("first", "workspace_configured"), due_days=3),
            Milestone("three_reports", Gate("count", "report_generated", at_least=3), due_days=10),
            Milestone(
                "workflow_by_3_users",
                Gate("distinct_users", "workflow_completed", at_least=3),
                due_days=21,
            ),
            Milestone("first_value", Gate("first", "report_reviewed"), due_days=14, ttfv=True),
        ),
        stall=StallRule(stall_days, Action("task", "csm", template="stall_outreach")),
    )


def tech_touch() -> Track:
    """A tech-touch track (level 2) sharing two gates with self-serve, plus a step gate."""
    return Track(
        id="tech_touch",
        name="Tech-Touch",
        level=2,
        driver="product",
        ttfv_target_days=(7, 14),
        completion_target=(0.65, 0.8),
        milestones=(
            Milestone("configured", Gate("first", "workspace_configured"), due_days=3),
            Milestone("first_value", Gate("first", "report_reviewed"), due_days=7, ttfv=True),
            Milestone(
                "step_3_done",
                Gate("count", "step_completed", at_least=2, properties=(("step", "3"),)),
                due_days=10,
            ),
        ),
        stall=StallRule(7, Action("task", "csm")),
    )


def high_touch() -> Track:
    """A high-touch track (level 3) without a stall rule (the default window applies)."""
    return Track(
        id="high_touch",
        name="High-Touch",
        level=3,
        driver="csm",
        ttfv_target_days=(1, 7),
        completion_target=(0.85, 1.0),
        milestones=(
            Milestone("integrated", Gate("first", "integration_connected"), due_days=30),
            Milestone(
                "admin_and_plan",
                Gate("first", "step_completed", properties=(("step", "plan"), ("role", "admin"))),
                due_days=20,
                ttfv=True,
            ),
        ),
    )


def _segmentation(sid: str, mapping: tuple[tuple[str, str], ...]) -> Segmentation:
    rules = tuple(Rule(outcome.lower(), outcome) for outcome, _ in mapping) or (Rule("any", "ANY"),)
    return Segmentation(sid, table=RuleTable(sid, "first", rules), tracks=mapping)


def make_project(*, stall_days: int = 14, timezone: str = "America/New_York") -> Project:
    """Two tracked segmentations (the first drives tracks) and an untracked one."""
    return Project(
        root=Path("."),
        name="milestones",
        timezone=timezone,
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(
            _segmentation("value_band", ()),
            _segmentation(
                SEG,
                (
                    ("SELF_SERVE", "self_serve"),
                    ("TECH_TOUCH", "tech_touch"),
                    ("HIGH_TOUCH", "high_touch"),
                ),
            ),
            _segmentation("onboarding_tier", (("TIER_A", "high_touch"), ("TIER_B", "self_serve"))),
        ),
        version="v1",
        tracks=(self_serve(stall_days), tech_touch(), high_touch()),
    )


def open_store(path: Path) -> Store:
    """A real DuckDB store file under ``path``."""
    return Store.open(path / "book.duckdb")


def add_account(
    store: Store,
    account_id: str,
    *,
    closed_won_at: datetime = T0,
    timezone: str | None = None,
    loaded_at: datetime = datetime(2026, 1, 1),
) -> None:
    """Insert one account version."""
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, timezone, version, "
        "loaded_at, source) VALUES (?, ?, 1000, ?, ?, 1, ?, 'test')",
        [account_id, account_id.title(), closed_won_at, timezone, loaded_at],
    )


def assign(
    store: Store,
    account_id: str,
    outcome: str,
    at: datetime,
    *,
    source: str = "rule",
    segmentation: str = SEG,
) -> None:
    """Append one assignments row."""
    store.con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
        "assigned_at, source, recorded_at) VALUES (?, ?, ?, 'v1', ?, ?, ?)",
        [account_id, segmentation, outcome, at, source, at],
    )


_counter = [0]


def event(
    store: Store,
    account_id: str,
    name: str,
    ts: datetime,
    person: str | None = "p1",
    properties: Mapping[str, object] | None = None,
) -> None:
    """Insert one product event with a fresh message id."""
    _counter[0] += 1
    store.con.execute(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            f"m{_counter[0]}",
            account_id,
            person,
            name,
            ts,
            None if properties is None else json.dumps(properties),
            ts,
        ],
    )


def progress(store: Store, account_id: str) -> dict[str, tuple[object, ...]]:
    """milestone_id → (due_at, reached_at, status) of one account."""
    rows = store.con.execute(
        "SELECT milestone_id, due_at, reached_at, status FROM milestone_progress "
        "WHERE account_id = ? ORDER BY ord",
        [account_id],
    ).fetchall()
    return {str(r[0]): (r[1], r[2], r[3]) for r in rows}


def summary(store: Store, account_id: str) -> dict[str, object]:
    """The track_progress row of one account, by column name."""
    cur = store.con.execute("SELECT * FROM track_progress WHERE account_id = ?", [account_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, account_id
    return dict(zip(names, row, strict=True))
