"""Performance sanity: 20,000 accounts × 50 events in one run (timed, not asserted)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from milestone_fixture import SEG, T0, make_project, open_store

from tierline.engine.milestone import milestone_progress
from tierline.engine.reference_milestone import RefEvent, evaluate_track

ACCOUNTS = 20_000
EVENTS_PER_ACCOUNT = 50
NAMES = [
    "workspace_configured",
    "report_generated",
    "workflow_completed",
    "report_reviewed",
    "step_completed",
    "integration_connected",
    "login",
]


def test_twenty_thousand_accounts(tmp_path: Path) -> None:
    outcomes = ["SELF_SERVE", "TECH_TOUCH", "HIGH_TOUCH"]
    with open_store(tmp_path) as store:
        con = store.con
        con.execute(
            "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at) "
            "SELECT 'a' || i, 1000, ? + to_hours(CAST(i % 500 AS INTEGER)), 1, ? "
            "FROM range(?) t(i)",
            [T0, T0 - timedelta(days=30), ACCOUNTS],
        )
        con.execute(
            "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
            "assigned_at, source, recorded_at) "
            "SELECT 'a' || i, ?, list_extract(?, CAST(i % 3 AS INTEGER) + 1), 'v1', "
            "? + to_days(1), 'rule', ? FROM range(?) t(i)",
            [SEG, outcomes, T0 + timedelta(days=21), T0, ACCOUNTS],
        )
        con.execute(
            "INSERT INTO events (message_id, account_id, person_id, event, ts, properties) "
            "SELECT 'm' || n, 'a' || (n // ?), 'p' || (hash(n, 1) % 6), "
            "list_extract(?, CAST(hash(n, 2) % ? AS INTEGER) + 1), "
            "? + to_minutes(CAST(hash(n, 3) % (60 * 24 * 45) AS INTEGER)), "
            "CASE WHEN hash(n, 4) % 3 = 0 THEN "
            "json_object('step', CAST(hash(n, 5) % 4 AS INTEGER), "
            "'role', CASE WHEN hash(n, 6) % 2 = 0 THEN 'admin' ELSE 'user' END) END "
            "FROM range(?) t(n)",
            [EVENTS_PER_ACCOUNT, NAMES, len(NAMES), T0, ACCOUNTS * EVENTS_PER_ACCOUNT],
        )
        as_of = T0 + timedelta(days=30)
        project = make_project()
        started = time.perf_counter()
        run = milestone_progress(con, project, as_of)
        elapsed = time.perf_counter() - started
        print(
            f"\nmilestone_progress: {ACCOUNTS} accounts, {run.milestones} milestones, "
            f"{ACCOUNTS * EVENTS_PER_ACCOUNT} events: {elapsed:.2f} s"
        )
        assert (run.enrollments, run.accounts) == (ACCOUNTS, ACCOUNTS)
        assert run.milestones == sum(len(project.tracks[i % 3].milestones) for i in range(ACCOUNTS))
        statuses = dict(
            con.execute("SELECT status, count(*) FROM milestone_progress GROUP BY ALL").fetchall()
        )
        assert set(statuses) <= {"done_on_time", "done_late", "on_track", "behind", "stuck"}
        assert statuses.get("done_on_time", 0) > 0 and statuses.get("done_late", 0) > 0

        # a sample of accounts agrees with the reference
        track_of = {"SELF_SERVE": 0, "TECH_TOUCH": 1, "HIGH_TOUCH": 2}
        for i in range(0, ACCOUNTS, 997):
            account = f"a{i}"
            track = project.tracks[track_of[outcomes[i % 3]]]
            start = T0 + timedelta(hours=i % 500)
            rows = con.execute(
                "SELECT person_id, event, ts, CAST(properties AS VARCHAR) FROM events "
                "WHERE account_id = ?",
                [account],
            ).fetchall()
            want = evaluate_track(track, start, [RefEvent(*r) for r in rows], as_of)
            got = con.execute(
                "SELECT milestone_id, due_at, reached_at, status FROM milestone_progress "
                "WHERE account_id = ? ORDER BY ord",
                [account],
            ).fetchall()
            assert got == [(w.milestone_id, w.due_at, w.reached_at, w.status) for w in want]
