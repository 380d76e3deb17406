"""Stalls: one action per stall episode; a resolved stall that recurs is a new episode."""

from __future__ import annotations

from transition_fixture import T0, D, S, add_account, event, keys, make_project, payload

from tierline.engine.transition import apply_transitions, plan_transitions
from tierline.store import Store


def _timeline(store: Store) -> None:
    add_account(store, "g", "GUIDED", csm_id="carl")
    event(store, "g", "workspace_configured", T0 + 2 * D)
    event(store, "g", "report_reviewed", T0 + 5 * D)  # last progress: the stall clock starts
    event(store, "g", "workflow_completed", T0 + 20 * D, person="p1")
    event(store, "g", "workflow_completed", T0 + 22 * D, person="p2")
    event(store, "g", "workflow_completed", T0 + 25 * D, person="p3")  # team reached: resolves


def test_a_stall_starts_exactly_after_the_stall_window(store: Store) -> None:
    _timeline(store)
    project = make_project()
    plan = plan_transitions(store.con, project, T0 + 19 * D - S)
    assert plan.stalls == ()
    plan = plan_transitions(store.con, project, T0 + 19 * D)
    assert [(s.account_id, s.track_id, s.episode, s.due_at) for s in plan.stalls] == [
        ("g", "guided", "2026-03-07", T0 + 19 * D)
    ]
    assert keys(store) == {("stall:guided", "g", "2026-03-07", "task", T0 + 19 * D)}
    body = payload(store, "stall:guided", "g")
    assert body["to"] == "csm" and body["template"] == "stall_outreach"
    assert body["csm_id"] == "carl" and body["last_progress_at"] == "2026-03-07T09:00:00Z"
    assert body["stall_days"] == 14 and body["done"] == 2 and body["milestones"] == 4


def test_a_resolved_stall_that_recurs_is_a_second_episode(store: Store) -> None:
    _timeline(store)
    project = make_project()
    seen: set[tuple[object, ...]] = set()
    stalled_days: list[int] = []
    for day in range(0, 46):
        plan = apply_transitions(store.con, project, T0 + day * D, f"run-{day}", T0 + day * D)
        assert plan.written == 0 and plan.upgrades == ()
        if plan.stalls:
            stalled_days.append(day)
        seen |= keys(store)
    assert seen == {
        ("stall:guided", "g", "2026-03-07", "task", T0 + 19 * D),
        ("stall:guided", "g", "2026-03-27", "task", T0 + 39 * D),
    }
    # stalled from day 19 until the third person's workflow on day 25, again from day 39
    assert stalled_days == [19, 20, 21, 22, 23, 24, *range(39, 46)]


def test_no_stall_rule_no_stall_action_and_done_accounts_never_stall(store: Store) -> None:
    project = make_project()
    add_account(store, "s", "SELF_SERVE")  # self_serve has no stall rule
    event(store, "s", "report_reviewed", T0 + D)
    add_account(store, "h", "HIGH_TOUCH", seats=1)  # done: no stall, and no graduation (seats)
    for name in ("workspace_configured", "report_reviewed", "integration_connected"):
        event(store, "h", name, T0 + D)
    plan = plan_transitions(store.con, project, T0 + 40 * D)
    assert plan.stalls == () and plan.graduations == ()
    assert keys(store) == set()
