"""Builders for the transition tests: a four-level track ladder, a real store, a book."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from tierline.engine.transition import read_candidates
from tierline.policy.model import (
    CORE_ACCOUNT_FIELDS,
    Condition,
    Project,
    Rule,
    RuleTable,
    Segmentation,
)
from tierline.policy.staffing import CsmAssignment, CsmPool
from tierline.policy.track import (
    Action,
    Gate,
    GraduateRule,
    Milestone,
    StallRule,
    Track,
    UpgradeRule,
)
from tierline.store import Store

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday: closed_won_at of the accounts
D = timedelta(days=1)
S = timedelta(seconds=1)
SEG = "onboarding_track"

CONFIGURED = Milestone("configured", Gate("first", "workspace_configured"), due_days=3)
FIRST_VALUE = Milestone("first_value", Gate("first", "report_reviewed"), due_days=14, ttfv=True)
TEAM = Milestone("team", Gate("distinct_users", "workflow_completed", at_least=3), due_days=45)
INTEGRATED = Milestone("integrated", Gate("first", "integration_connected"), due_days=60)
STALL = StallRule(14, Action("task", "csm", template="stall_outreach"))


def tracks(graduate_when: str | None = "seats >= 3 AND completion >= 1") -> tuple[Track, ...]:
    """self_serve (1) → tech_touch (2) → guided (3) → high_touch (4), seed-like rules."""

    def track(tid: str, level: int, milestones: tuple[Milestone, ...], **rules: object) -> Track:
        return Track(
            id=tid,
            name=tid.replace("_", " ").title(),
            level=level,
            driver="product" if level <= 2 else "csm",
            ttfv_target_days=(7, 14),
            completion_target=(0.5, 0.8),
            milestones=milestones,
            **rules,  # type: ignore[arg-type]
        )

    when = None if graduate_when is None else Condition(graduate_when)
    return (
        track(
            "self_serve",
            1,
            (CONFIGURED, FIRST_VALUE, TEAM),
            upgrade=UpgradeRule("first_value", 14, "tech_touch", True),
        ),
        track(
            "tech_touch",
            2,
            (CONFIGURED, FIRST_VALUE, TEAM),
            stall=STALL,
            upgrade=UpgradeRule("first_value", 30, "next", True),
        ),
        track(
            "guided",
            3,
            (CONFIGURED, FIRST_VALUE, TEAM, INTEGRATED),
            stall=STALL,
            upgrade=UpgradeRule("first_value", 30, "next", True),
        ),
        track(
            "high_touch",
            4,
            (CONFIGURED, FIRST_VALUE, INTEGRATED),
            stall=STALL,
            graduate=GraduateRule(when),
        ),
    )


def make_project(graduate_when: str | None = "seats >= 3 AND completion >= 1") -> Project:
    """The driving segmentation maps no outcome to tech_touch (as the seed tree does)."""
    mapping = (("SELF_SERVE", "self_serve"), ("GUIDED", "guided"), ("HIGH_TOUCH", "high_touch"))
    table = RuleTable(SEG, "first", tuple(Rule(o.lower(), o) for o, _ in mapping))
    return Project(
        root=Path("."),
        name="transitions",
        timezone="America/New_York",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(Segmentation(SEG, table=table, tracks=mapping),),
        version="v1",
        tracks=tracks(graduate_when),
        csm_assignment=CsmAssignment(
            pools=(
                CsmPool("digital", tracks=("self_serve", "tech_touch")),
                CsmPool("named", levels=(3, 4)),
            )
        ),
    )


def open_store(path: Path) -> Store:
    """A real DuckDB store file with a small roster (two CSMs and a manager)."""
    store = Store.open(path / "book.duckdb")
    store.con.execute(
        "INSERT INTO csms (id, name, email, pool, capacity, role, manager_id) VALUES "
        "('mia', 'Mia', 'mia@x.test', NULL, NULL, 'manager', NULL), "
        "('dana', 'Dana', 'dana@x.test', 'digital', 500, 'csm', 'mia'), "
        "('carl', 'Carl', 'carl@x.test', 'named', 20, 'csm', 'mia')"
    )
    return store


def add_account(
    store: Store,
    account_id: str,
    outcome: str,
    *,
    seats: int = 5,
    csm_id: str | None = None,
    assigned_at_days: int = 0,
) -> None:
    """One account closed-won at T0, assigned ``outcome`` by the rule (at T0 + N days)."""
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, seats, csm_id, version, "
        "loaded_at, source) VALUES (?, ?, 1000, ?, ?, ?, 1, ?, 'test')",
        [account_id, account_id.title(), T0, seats, csm_id, datetime(2026, 1, 1)],
    )
    store.con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
        "assigned_at, source, recorded_at) VALUES (?, ?, ?, 'v1', ?, 'rule', ?)",
        [account_id, SEG, outcome, T0 + assigned_at_days * D, T0 + assigned_at_days * D],
    )


_seq = [0]


def event(store: Store, account_id: str, name: str, ts: datetime, person: str = "p1") -> None:
    """One product event."""
    _seq[0] += 1
    store.con.execute(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [f"m{_seq[0]}", account_id, person, name, ts, ts],
    )


def stints(store: Store, account_id: str) -> list[tuple[str, datetime, datetime | None, str]]:
    """(track, started_at, ended_at, source) of the account's stints, in order."""
    rows = store.con.execute(
        "SELECT track_id, started_at, ended_at, source FROM track_enrollments "
        "WHERE account_id = ? ORDER BY started_at",
        [account_id],
    ).fetchall()
    return [(str(t), s, e, str(src)) for t, s, e, src in rows]


def keys(store: Store) -> set[tuple[str, str, str, str, datetime]]:
    """(rule, account, episode, kind, due_at) of the current candidates."""
    return {(c.rule, c.account_id, c.episode, c.kind, c.due_at) for c in read_candidates(store.con)}


def payload(store: Store, rule: str, account_id: str) -> dict[str, object]:
    """The payload of one candidate."""
    found = [c for c in read_candidates(store.con) if c.rule == rule and c.account_id == account_id]
    assert len(found) == 1, (rule, account_id, found)
    data = json.loads(found[0].payload)
    assert isinstance(data, dict)
    return data


def upgrade_rows(store: Store, account_id: str) -> list[tuple[str, datetime, dict[str, object]]]:
    """(outcome, assigned_at, explanation) of the account's auto_upgrade rows."""
    rows = store.con.execute(
        "SELECT outcome, assigned_at, explanation FROM assignments "
        "WHERE account_id = ? AND source = 'auto_upgrade' ORDER BY assigned_at, id",
        [account_id],
    ).fetchall()
    return [(str(o), a, json.loads(str(e))) for o, a, e in rows]
