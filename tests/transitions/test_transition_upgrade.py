"""Upgrades: deterministic transition time, carried milestones, cascades, idempotence."""

from __future__ import annotations

from pathlib import Path

from transition_fixture import (
    SEG,
    T0,
    D,
    S,
    add_account,
    event,
    keys,
    make_project,
    open_store,
    payload,
    stints,
    upgrade_rows,
)

from tierline.engine.transition import apply_transitions, plan_transitions
from tierline.store import Store


def _progress(store: Store, account_id: str) -> dict[str, tuple[object, ...]]:
    rows = store.con.execute(
        "SELECT milestone_id, due_at, reached_at, status FROM milestone_progress "
        "WHERE account_id = ? ORDER BY ord",
        [account_id],
    ).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_upgrade_at_exactly_day_30_with_carried_milestones(store: Store) -> None:
    project = make_project()
    add_account(store, "b", "GUIDED")
    event(store, "b", "workspace_configured", T0 + D)
    assert plan_transitions(store.con, project, T0 + 30 * D - S).upgrades == ()
    # a plan writes nothing
    assert upgrade_rows(store, "b") == []

    plan = apply_transitions(store.con, project, T0 + 30 * D, "r1", T0 + 40 * D)
    assert plan.written == 1
    (up,) = plan.upgrades
    assert (up.from_track, up.to_track, up.outcome, up.outcome_kept) == (
        "guided",
        "high_touch",
        "HIGH_TOUCH",
        False,
    )
    assert (up.at, up.round, up.missed) == (T0 + 30 * D, 1, "first_value")
    ((outcome, at, why),) = upgrade_rows(store, "b")
    assert (outcome, at) == ("HIGH_TOUCH", T0 + 30 * D)
    assert why["rule"] == "upgrade:guided" and why["track"] == "high_touch"
    assert why["missed"] == "first_value" and why["after_days"] == 30
    assert why["due_at"] == "2026-04-01T09:00:00Z" and why["run_id"] == "r1"
    assert stints(store, "b") == [
        ("guided", T0, T0 + 30 * D, "assignment"),
        ("high_touch", T0 + 30 * D, None, "auto_upgrade"),
    ]
    start = T0 + 30 * D
    assert _progress(store, "b") == {
        "configured": (start + 3 * D, T0 + D, "done_on_time"),  # carried over
        "first_value": (start + 14 * D, None, "on_track"),
        "integrated": (start + 60 * D, None, "on_track"),
    }
    assert keys(store) == {
        ("upgrade:guided", "b", "2026-04-01T09:00:00", "tier_change", start),
        ("csm:named", "b", "2026-04-01T09:00:00", "csm_assignment", start),
    }
    assert payload(store, "csm:named", "b")["csm_id"] == "carl"
    change = payload(store, "upgrade:guided", "b")
    assert (change["from_level"], change["to_level"], change["missed"]) == (3, 4, "first_value")


def test_apply_twice_adds_one_row(store: Store) -> None:
    project = make_project()
    add_account(store, "b", "GUIDED")
    first = apply_transitions(store.con, project, T0 + 31 * D, "r1", T0 + 31 * D)
    again = apply_transitions(store.con, project, T0 + 31 * D, "r2", T0 + 32 * D)
    later = apply_transitions(store.con, project, T0 + 35 * D, "r3", T0 + 35 * D)
    assert (first.written, again.written, later.written) == (1, 0, 0)
    assert again.upgrades == () and later.upgrades == ()
    assert [(o, a) for o, a, _ in upgrade_rows(store, "b")] == [("HIGH_TOUCH", T0 + 30 * D)]
    audit = store.con.execute(
        'SELECT actor, action, account_id, "before", "after" FROM audit_log'
    ).fetchall()
    assert audit == [("tierline", "auto_upgrade", "b", "guided", "high_touch")]


def test_first_value_reached_on_the_due_moment_is_not_missed(store: Store) -> None:
    project = make_project()
    add_account(store, "ok", "SELF_SERVE")
    event(store, "ok", "report_reviewed", T0 + 14 * D)
    add_account(store, "late", "SELF_SERVE")
    event(store, "late", "report_reviewed", T0 + 14 * D + S)
    plan = plan_transitions(store.con, project, T0 + 20 * D)
    assert [(u.account_id, u.at) for u in plan.upgrades] == [("late", T0 + 14 * D)]


def test_self_serve_without_first_value_at_day_14_moves_to_tech_touch(store: Store) -> None:
    project = make_project()
    add_account(store, "s", "SELF_SERVE")
    event(store, "s", "workspace_configured", T0 + D)
    assert plan_transitions(store.con, project, T0 + 14 * D - S).upgrades == ()
    plan = apply_transitions(store.con, project, T0 + 14 * D, "r1", T0 + 14 * D)
    (up,) = plan.upgrades
    # no outcome of the driving segmentation maps to tech_touch: the outcome is kept
    assert (up.to_track, up.outcome, up.outcome_kept) == ("tech_touch", "SELF_SERVE", True)
    ((outcome, at, why),) = upgrade_rows(store, "s")
    assert (outcome, at, why["track"], why["outcome_kept"]) == (
        "SELF_SERVE",
        T0 + 14 * D,
        "tech_touch",
        True,
    )
    assert stints(store, "s") == [
        ("self_serve", T0, T0 + 14 * D, "assignment"),
        ("tech_touch", T0 + 14 * D, None, "auto_upgrade"),
    ]
    assert _progress(store, "s")["configured"] == (T0 + 17 * D, T0 + D, "done_on_time")
    assert payload(store, "csm:digital", "s")["csm_id"] == "dana"
    current = store.con.execute(
        "SELECT outcome, source FROM current_assignments WHERE account_id = 's' "
        "AND segmentation = ?",
        [SEG],
    ).fetchall()
    assert current == [("SELF_SERVE", "auto_upgrade")]


def _cascade_book(store: Store, *, assigned_at_days: int = 0) -> None:
    add_account(store, "s", "SELF_SERVE", assigned_at_days=assigned_at_days)
    event(store, "s", "workspace_configured", T0 + D)
    add_account(store, "v", "SELF_SERVE", assigned_at_days=assigned_at_days)
    event(store, "v", "report_reviewed", T0 + 50 * D)  # late value: tech_touch missed it too


CASCADE = {
    "s": [
        ("SELF_SERVE", T0 + 14 * D, "tech_touch"),
        ("GUIDED", T0 + 44 * D, "guided"),
        ("HIGH_TOUCH", T0 + 74 * D, "high_touch"),
    ],
    "v": [("SELF_SERVE", T0 + 14 * D, "tech_touch"), ("GUIDED", T0 + 44 * D, "guided")],
}


def _moves(store: Store) -> dict[str, list[tuple[str, object, object]]]:
    return {a: [(o, t, w["track"]) for o, t, w in upgrade_rows(store, a)] for a in ("s", "v")}


def test_one_late_run_cascades_like_daily_runs(tmp_path: Path) -> None:
    project = make_project()
    with open_store(tmp_path / "daily") as daily:
        _cascade_book(daily)
        timeline = set()
        for day in range(0, 81):
            apply_transitions(daily.con, project, T0 + day * D, f"d{day}", T0 + day * D)
            timeline |= {k for k in keys(daily) if k[3] == "tier_change"}
        assert _moves(daily) == CASCADE
        daily_stints = {a: stints(daily, a) for a in ("s", "v")}
    with open_store(tmp_path / "once") as once:
        # the first run assigned the accounts only on day 80, after the transition times
        _cascade_book(once, assigned_at_days=80)
        plan = apply_transitions(once.con, project, T0 + 80 * D, "once", T0 + 80 * D)
        assert plan.written == 5
        assert [(u.account_id, u.round) for u in plan.upgrades] == [
            ("s", 1),
            ("v", 1),
            ("s", 2),
            ("v", 2),
            ("s", 3),
        ]
        assert _moves(once) == CASCADE
        assert {a: stints(once, a) for a in ("s", "v")} == daily_stints
        assert {k for k in keys(once) if k[3] == "tier_change"} == timeline
        assert apply_transitions(once.con, project, T0 + 80 * D, "again", T0 + 81 * D).written == 0
    assert daily_stints["s"][-1] == ("high_touch", T0 + 74 * D, None, "auto_upgrade")
    assert daily_stints["v"][-1] == ("guided", T0 + 44 * D, None, "auto_upgrade")
