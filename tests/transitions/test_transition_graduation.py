"""Graduation: one pending override request by tierline; a manager's approval moves the track."""

from __future__ import annotations

import pytest
from transition_fixture import (
    SEG,
    T0,
    D,
    add_account,
    event,
    keys,
    make_project,
    payload,
    stints,
)

from tierline.engine.override import approve_override, list_overrides, reject_override
from tierline.engine.transition import apply_transitions, plan_transitions
from tierline.errors import EngineError
from tierline.store import Store


def _done(store: Store, account_id: str, *, seats: int = 5) -> None:
    add_account(store, account_id, "HIGH_TOUCH", seats=seats, csm_id="carl")
    event(store, account_id, "workspace_configured", T0 + D)
    event(store, account_id, "report_reviewed", T0 + 3 * D)
    event(store, account_id, "integration_connected", T0 + 10 * D)


def test_graduation_is_requested_once_and_approval_moves_the_track(store: Store) -> None:
    project = make_project()
    _done(store, "h")
    _done(store, "small", seats=1)  # the condition is false: nothing
    assert plan_transitions(store.con, project, T0 + 10 * D).graduations[0].status == "new"
    assert list_overrides(store) == ()  # a plan files nothing

    plan = apply_transitions(store.con, project, T0 + 11 * D, "r1", T0 + 11 * D)
    assert plan.requested == 1
    (grad,) = plan.graduations
    assert (grad.account_id, grad.from_track, grad.to_track, grad.status) == (
        "h",
        "high_touch",
        "guided",
        "new",
    )
    (request,) = list_overrides(store, pending=True)
    assert grad.request_id == request.id
    assert (request.requested_by, request.from_outcome, request.to_outcome) == (
        "tierline",
        "HIGH_TOUCH",
        "GUIDED",
    )
    assert request.requested_at == T0 + 11 * D
    assert "all 3 milestones of High Touch are done (the last reached 2026-03-12)" in (
        request.reason
    )
    assert "seats = 5" in request.reason and "completion = 1" in request.reason
    assert keys(store) == {("graduate:high_touch", "h", "2026-03-02T09:00:00", "task", T0 + 11 * D)}
    task = payload(store, "graduate:high_touch", "h")
    assert (task["to"], task["manager_id"], task["csm_id"]) == ("manager", "mia", "carl")
    assert task["request_id"] == request.id and task["to_outcome"] == "GUIDED"

    again = apply_transitions(store.con, project, T0 + 12 * D, "r2", T0 + 12 * D)
    assert again.requested == 0 and [g.status for g in again.graduations] == ["pending"]
    assert len(list_overrides(store)) == 1
    # the same candidate key again (the outbox adds it once)
    assert keys(store) == {("graduate:high_touch", "h", "2026-03-02T09:00:00", "task", T0 + 11 * D)}

    approve_override(store, project, request.id, "mia", now=T0 + 13 * D)
    after = apply_transitions(store.con, project, T0 + 14 * D, "r3", T0 + 14 * D)
    assert after.requested == 0 and after.graduations == ()
    assert stints(store, "h") == [
        ("high_touch", T0, T0 + 13 * D, "assignment"),
        ("guided", T0 + 13 * D, None, "override"),
    ]


def test_a_rejected_recommendation_is_not_asked_again_on_the_same_stint(store: Store) -> None:
    project = make_project()
    _done(store, "r")
    apply_transitions(store.con, project, T0 + 11 * D, "r1", T0 + 11 * D)
    (request,) = list_overrides(store)
    reject_override(store, project, request.id, "mia", now=T0 + 12 * D)
    plan = apply_transitions(store.con, project, T0 + 13 * D, "r2", T0 + 13 * D)
    assert plan.requested == 0 and [g.status for g in plan.graduations] == ["decided"]
    assert keys(store) == set()


def test_someone_elses_pending_request_holds_the_recommendation(store: Store) -> None:
    project = make_project()
    _done(store, "x")
    store.con.execute(
        "INSERT INTO override_requests (account_id, segmentation, from_outcome, to_outcome, "
        "reason, requested_by, requested_at) VALUES ('x', ?, 'HIGH_TOUCH', 'SELF_SERVE', "
        "'customer asked for less contact', 'carl', ?)",
        [SEG, T0 + 5 * D],
    )
    plan = apply_transitions(store.con, project, T0 + 11 * D, "r1", T0 + 11 * D)
    assert plan.requested == 0 and [g.status for g in plan.graduations] == ["held"]


def test_conditions_read_a_metrics_relation(store: Store) -> None:
    project = make_project("active_users_30d >= 3")
    _done(store, "m")
    _done(store, "quiet")
    store.con.execute(
        "CREATE TEMP TABLE usage AS SELECT * FROM (VALUES ('m', 4), ('quiet', 1)) "
        "AS t(account_id, active_users_30d)"
    )
    plan = plan_transitions(store.con, project, T0 + 11 * D, metrics="usage")
    assert [(g.account_id, g.status) for g in plan.graduations] == [("m", "new")]
    assert "active_users_30d >= 3 holds (active_users_30d = 4)" in plan.graduations[0].reason
    with pytest.raises(EngineError, match="unknown name 'active_users_30d'"):
        store.con.execute("CREATE TEMP TABLE bare AS SELECT 'm' AS account_id")
        plan_transitions(store.con, project, T0 + 11 * D, metrics="bare")


def test_a_condition_naming_an_unknown_metric_is_an_engine_error(store: Store) -> None:
    # the project has no metrics.yaml: the name is neither a field nor a summary column
    project = make_project("usage_change_30d >= 0")
    with pytest.raises(EngineError, match="usage_change_30d"):
        plan_transitions(store.con, project, T0 + 11 * D)
