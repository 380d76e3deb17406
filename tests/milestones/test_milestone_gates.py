"""reached_at for each gate kind, over crafted timelines with exact expected timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from milestone_fixture import T0, add_account, assign, event, make_project, open_store, progress

from tierline.engine.milestone import milestone_progress
from tierline.store import Store

D = timedelta(days=1)
H = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        add_account(s, "acme")
        assign(s, "acme", "SELF_SERVE", T0 + H)
        yield s


def reached(store: Store, as_of: datetime, milestone: str, account: str = "acme") -> object:
    milestone_progress(store.con, make_project(), as_of)
    return progress(store, account)[milestone][1]


def test_first_event_is_the_earliest_matching_one(store: Store) -> None:
    event(store, "acme", "workspace_configured", T0 + 2 * D)
    event(store, "acme", "workspace_configured", T0 + D + 3 * H)  # inserted later, earlier ts
    event(store, "acme", "login", T0 + 5 * H)  # another event name
    event(store, "other", "workspace_configured", T0 + H)  # another account
    assert reached(store, T0 + 10 * D, "configured") == T0 + D + 3 * H


def test_count_gate_is_the_third_event(store: Store) -> None:
    for day in (5, 1, 3, 8, 2):
        event(store, "acme", "report_generated", T0 + day * D, person=f"p{day % 2}")
    # sorted: day 1, 2, 3, 5, 8 → the third is day 3 (people do not matter for a count)
    assert reached(store, T0 + 10 * D, "three_reports") == T0 + 3 * D
    # as of day 2 only two reports exist
    assert reached(store, T0 + 2 * D + H, "three_reports") is None


def test_count_gate_counts_events_at_the_same_moment(store: Store) -> None:
    for _ in range(3):
        event(store, "acme", "report_generated", T0 + 4 * D)
    assert reached(store, T0 + 10 * D, "three_reports") == T0 + 4 * D


def test_distinct_users_is_when_the_third_person_first_did_it(store: Store) -> None:
    timeline = [
        ("alice", 1),
        ("alice", 2),  # alice again: not a new person
        ("bob", 3),
        (None, 4),  # no person: does not count
        ("bob", 5),
        ("alice", 6),
        ("carol", 9),  # the third distinct person, first time → reached
        ("carol", 10),
        ("dave", 11),
    ]
    for person, day in timeline:
        event(store, "acme", "workflow_completed", T0 + day * D, person=person)
    assert reached(store, T0 + 20 * D, "workflow_by_3_users") == T0 + 9 * D
    assert reached(store, T0 + 8 * D, "workflow_by_3_users") is None


def test_distinct_users_uses_each_persons_first_time(store: Store) -> None:
    # carol's first workflow is early; alice and bob follow: the third person is bob
    event(store, "acme", "workflow_completed", T0 + 2 * D, person="carol")
    event(store, "acme", "workflow_completed", T0 + 7 * D, person="bob")
    event(store, "acme", "workflow_completed", T0 + 4 * D, person="alice")
    event(store, "acme", "workflow_completed", T0 + 3 * D, person="carol")
    assert reached(store, T0 + 20 * D, "workflow_by_3_users") == T0 + 7 * D


def test_events_after_as_of_are_ignored(store: Store) -> None:
    event(store, "acme", "report_reviewed", T0 + 6 * D)
    assert reached(store, T0 + 6 * D - timedelta(seconds=1), "first_value") is None
    assert reached(store, T0 + 6 * D, "first_value") == T0 + 6 * D  # ts <= as_of counts


def test_property_filters(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        add_account(s, "tt")
        assign(s, "tt", "TECH_TOUCH", T0)
        event(s, "tt", "step_completed", T0 + 1 * D, properties={"step": 2})
        event(s, "tt", "step_completed", T0 + 2 * D, properties={"step": 3})  # 1st
        event(s, "tt", "step_completed", T0 + 3 * D, properties=None)
        event(s, "tt", "step_completed", T0 + 4 * D, properties={"stage": 3})
        event(s, "tt", "feature_used", T0 + 5 * D, properties={"step": 3})
        event(s, "tt", "step_completed", T0 + 6 * D, properties={"step": "3"})  # 2nd
        event(s, "tt", "step_completed", T0 + 7 * D, properties={"step": 3.0})  # 3rd
        milestone_progress(s.con, make_project(), T0 + 30 * D)
        assert progress(s, "tt")["step_3_done"][1] == T0 + 6 * D

        add_account(s, "ht")
        assign(s, "ht", "HIGH_TOUCH", T0)
        plan = {"step": "plan", "role": "admin"}
        event(s, "ht", "step_completed", T0 + 1 * D, properties={"step": "plan"})
        event(s, "ht", "step_completed", T0 + 2 * D, properties={"role": "admin"})
        event(s, "ht", "step_completed", T0 + 3 * D, properties={"step": "plan", "role": "user"})
        event(s, "ht", "step_completed", T0 + 4 * D, properties={**plan, "extra": [1, 2]})
        event(s, "ht", "step_completed", T0 + 5 * D, properties=plan)
        milestone_progress(s.con, make_project(), T0 + 30 * D)
        assert progress(s, "ht")["admin_and_plan"][1] == T0 + 4 * D


def test_gates_count_events_before_the_track_started(store: Store) -> None:
    event(store, "acme", "workspace_configured", T0 - 5 * D)  # during a trial
    milestone_progress(store.con, make_project(), T0 + D)
    due, at, status = progress(store, "acme")["configured"]
    assert (due, at, status) == (T0 + 3 * D, T0 - 5 * D, "done_on_time")
