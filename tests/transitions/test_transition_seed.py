"""The seed pack's rules: self-serve without first value at day 14 → tech-touch (seed 000)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

import tierline
from tierline.engine.transition import apply_transitions, plan_transitions, read_candidates
from tierline.errors import EngineError
from tierline.policy.load import load_project
from tierline.store import Store

SEED = Path(tierline.__file__).parent / "packs" / "seed"
T0 = datetime(2026, 3, 2, 9, 0)
D = timedelta(days=1)


def _book(store: Store) -> None:
    con = store.con
    con.execute(
        "INSERT INTO csms (id, name, pool, capacity, role, manager_id) VALUES "
        "('mia', 'Mia', NULL, NULL, 'manager', NULL), "
        "('pat', 'Pat', 'self_service', 600, 'csm', 'mia')"
    )
    for account in ("quiet", "valued"):
        con.execute(
            "INSERT INTO account_versions (id, name, acv, closed_won_at, version, loaded_at, "
            "source) VALUES (?, ?, 3000, ?, 1, ?, 'test')",
            [account, account.title(), T0, datetime(2026, 1, 1)],
        )
        con.execute(
            "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
            "assigned_at, source, recorded_at) VALUES (?, 'onboarding_track', 'SELF_SERVE', "
            "'v', ?, 'rule', ?)",
            [account, T0, T0],
        )
    con.execute(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, received_at) "
        "VALUES ('e1', 'valued', 'p1', 'report_reviewed', ?, ?)",
        [T0 + 6 * D, T0 + 6 * D],
    )


def test_seed_self_serve_upgrades_to_tech_touch_at_day_14(tmp_path: Path) -> None:
    project = load_project(SEED)
    with Store.open(tmp_path / "book.duckdb", project.fields) as store:
        _book(store)
        assert (
            plan_transitions(store.con, project, T0 + 14 * D - timedelta(seconds=1)).upgrades == ()
        )
        plan = apply_transitions(store.con, project, T0 + 14 * D, "seed", T0 + 14 * D)
        assert [(u.account_id, u.from_track, u.to_track, u.at) for u in plan.upgrades] == [
            ("quiet", "self_serve", "tech_touch", T0 + 14 * D)
        ]
        assert plan.upgrades[0].outcome == "SELF_SERVE" and plan.upgrades[0].outcome_kept
        found = {(c.rule, c.account_id, c.kind) for c in read_candidates(store.con)}
        assert found == {
            ("upgrade:self_serve", "quiet", "tier_change"),
            ("csm:self_service", "quiet", "csm_assignment"),
        }
        track = store.con.execute(
            "SELECT track_id, started_at FROM track_enrollments "
            "WHERE account_id = 'quiet' AND ended_at IS NULL"
        ).fetchall()
        assert track == [("tech_touch", T0 + 14 * D)]
        # tech-touch's own rule counts from the upgrade: day 14 + 30 → guided
        later = apply_transitions(store.con, project, T0 + 44 * D, "seed2", T0 + 44 * D)
        assert [(u.account_id, u.to_track, u.at) for u in later.upgrades] == [
            ("quiet", "guided", T0 + 44 * D)
        ]
        assert later.upgrades[0].outcome == "GUIDED_ONBOARDING"


def test_seed_graduation_conditions_need_their_metrics(tmp_path: Path) -> None:
    project = load_project(SEED)
    with Store.open(tmp_path / "book.duckdb", project.fields) as store:
        _book(store)
        store.con.execute(
            "CREATE TEMP TABLE partial_metrics AS SELECT 'quiet' AS account_id, 1 AS x"
        )
        with pytest.raises(EngineError, match="lacks"):
            plan_transitions(store.con, project, T0 + 20 * D, metrics="partial_metrics")


def test_seed_high_touch_graduates_on_computed_usage_metrics(tmp_path: Path) -> None:
    project = load_project(SEED)
    with Store.open(tmp_path / "book.duckdb", project.fields) as store:
        con = store.con
        con.execute(
            "INSERT INTO csms (id, name, pool, capacity, role, manager_id) VALUES "
            "('mia', 'Mia', NULL, NULL, 'manager', NULL), "
            "('hal', 'Hal', 'high_touch', 20, 'csm', 'mia')"
        )
        con.execute(
            "INSERT INTO account_versions (id, name, acv, closed_won_at, csm_id, version, "
            "loaded_at, source) VALUES ('big', 'Big', 120000, ?, 'hal', 1, ?, 'test')",
            [T0, datetime(2026, 1, 1)],
        )
        con.execute(
            "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
            "assigned_at, source, recorded_at) VALUES ('big', 'onboarding_track', "
            "'HIGH_TOUCH', 'v', ?, 'rule', ?)",
            [T0, T0],
        )
        timeline = [
            ("workspace_configured", 1, "p1"),
            ("data_imported", 2, "p1"),
            ("report_reviewed", 12, "p1"),
            ("workflow_completed", 15, "p1"),
            ("workflow_completed", 16, "p2"),
            ("workflow_completed", 17, "p3"),
        ]
        for n, (name, day, person) in enumerate(timeline):
            con.execute(
                "INSERT INTO events (message_id, account_id, person_id, event, ts, received_at) "
                "VALUES (?, 'big', ?, ?, ?, ?)",
                [f"b{n}", person, name, T0 + day * D, T0 + day * D],
            )
        plan = apply_transitions(con, project, T0 + 40 * D, "seed", T0 + 40 * D)
        assert plan.requested == 1
        (grad,) = plan.graduations
        assert (grad.to_track, grad.to_outcome, grad.status) == (
            "guided",
            "GUIDED_ONBOARDING",
            "new",
        )
        assert "usage_change_30d = 1" in grad.reason and "active_users_30d = 3" in grad.reason
        tasks = [c for c in read_candidates(con) if c.rule == "graduate:high_touch"]
        assert [t.account_id for t in tasks] == ["big"]
