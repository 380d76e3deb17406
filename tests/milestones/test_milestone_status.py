"""Statuses, stalls, TTFV and upgrade stints as of different times, with exact dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from milestone_fixture import (
    T0,
    add_account,
    assign,
    event,
    make_project,
    open_store,
    progress,
    summary,
)

from tierline.engine.milestone import ProgressRun, milestone_progress
from tierline.store import Store

D = timedelta(days=1)
H = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        add_account(s, "acme")
        assign(s, "acme", "SELF_SERVE", T0 + H)  # the engine ran an hour after signing
        event(s, "acme", "workspace_configured", T0 + 2 * D)
        event(s, "acme", "report_reviewed", T0 + 16 * D + 6 * H)
        for hour in (1, 2, 3):
            event(s, "acme", "report_generated", T0 + 31 * D + hour * H)
        for day, person in ((40, "alice"), (41, "alice"), (42, "bob"), (46, "carol")):
            event(s, "acme", "workflow_completed", T0 + day * D, person=person)
        yield s


def statuses(store: Store, days: float) -> dict[str, str]:
    milestone_progress(store.con, make_project(), T0 + timedelta(days=days))
    return {m: str(v[2]) for m, v in progress(store, "acme").items()}


def test_due_dates_are_calendar_days_after_the_signing(store: Store) -> None:
    milestone_progress(store.con, make_project(), T0 + D)
    due = {m: v[0] for m, v in progress(store, "acme").items()}
    assert due == {
        "configured": T0 + 3 * D,
        "three_reports": T0 + 10 * D,
        "workflow_by_3_users": T0 + 21 * D,
        "first_value": T0 + 14 * D,
    }


def test_statuses_through_the_timeline(store: Store) -> None:
    on, ok, late = "on_track", "done_on_time", "done_late"
    keys = ("configured", "three_reports", "workflow_by_3_users", "first_value")

    def at(days: float) -> tuple[str, ...]:
        got = statuses(store, days)
        return tuple(got[k] for k in keys)

    assert at(1) == (on, on, on, on)
    assert at(2) == (ok, on, on, on)
    assert at(10) == (ok, "behind", on, on)  # three reports were due at day 10
    assert at(14) == (ok, "behind", on, "behind")
    assert at(16.25) == (ok, "behind", on, late)  # first value at its very moment
    assert at(21) == (ok, "behind", "behind", late)
    # last progress at day 16.25: stalled 14 days later, at day 30.25
    assert at(30.2) == (ok, "behind", "behind", late)
    assert at(30.25) == (ok, "stuck", "stuck", late)
    # the third report at day 31 + 3h is progress: no longer stuck, still behind
    assert at(31 + 3 / 24) == (ok, late, "behind", late)
    # a partial workflow (two people) is no milestone progress: stalled again at day 45.125
    assert at(45.1) == (ok, late, "behind", late)
    assert at(45.125) == (ok, late, "stuck", late)
    assert at(46) == (ok, late, late, late)


def test_account_summary(store: Store) -> None:
    run = milestone_progress(store.con, make_project(), T0 + 30.5 * D)
    assert run == ProgressRun(T0 + 30.5 * D, enrollments=1, accounts=1, milestones=4)
    s = summary(store, "acme")
    assert (s["track_id"], s["level"], s["source"], s["started_at"]) == (
        "self_serve",
        1,
        "assignment",
        T0,
    )
    assert s["timezone"] == "America/New_York"  # no account time zone: the project's
    assert (s["milestones"], s["done"], s["done_on_time"], s["done_late"]) == (4, 2, 1, 1)
    assert (s["on_track"], s["behind"], s["stuck"]) == (0, 0, 2)
    assert s["completion"] == 0.5
    assert s["all_done"] is False
    assert s["ttfv_at"] == T0 + 16 * D + 6 * H
    assert s["ttfv_days"] == 16.25
    assert s["onboarding_ttfv_days"] == 16.25
    assert s["last_progress_at"] == T0 + 16 * D + 6 * H
    assert s["stall_days"] == 14
    assert s["stalled_since"] == T0 + 30 * D + 6 * H
    assert s["state"] == "stuck"

    milestone_progress(store.con, make_project(), T0 + 32 * D)
    s = summary(store, "acme")
    assert (s["state"], s["stalled_since"], s["behind"]) == ("behind", None, 1)
    assert s["last_progress_at"] == T0 + 31 * D + 3 * H

    milestone_progress(store.con, make_project(), T0 + 60 * D)
    s = summary(store, "acme")
    assert (s["state"], s["all_done"], s["completion"], s["done"]) == ("complete", True, 1.0, 4)
    assert s["stalled_since"] is None
    assert s["last_progress_at"] == T0 + 46 * D


def test_summary_before_any_progress(store: Store) -> None:
    milestone_progress(store.con, make_project(), T0 + D)
    s = summary(store, "acme")
    assert s["ttfv_at"] is None and s["ttfv_days"] is None
    assert (s["last_progress_at"], s["state"], s["on_track"]) == (T0, "on_track", 4)
    # no progress at all for 14 days after the start: stuck from day 14 on
    milestone_progress(store.con, make_project(stall_days=1), T0 + D)
    s = summary(store, "acme")
    assert (s["state"], s["stalled_since"], s["stall_days"]) == ("stuck", T0 + D, 1)


def test_stall_window_comes_from_the_track(store: Store) -> None:
    assert statuses(store, 1)["three_reports"] == "on_track"
    milestone_progress(store.con, make_project(stall_days=3), T0 + 5 * D)
    # configured at day 2 is the last progress; 3 days later the account is stuck
    assert {str(v[2]) for m, v in progress(store, "acme").items() if m != "configured"} == {"stuck"}


def test_upgrade_stint_carries_reached_milestones(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        add_account(s, "up", timezone="Europe/Berlin")
        assign(s, "up", "SELF_SERVE", T0 + H)
        event(s, "up", "workspace_configured", T0 + 2 * D)
        assign(s, "up", "TECH_TOUCH", T0 + 30 * D, source="auto_upgrade")
        event(s, "up", "report_reviewed", T0 + 35 * D)

        milestone_progress(s.con, make_project(), T0 + 29 * D)
        assert summary(s, "up")["track_id"] == "self_serve"

        run = milestone_progress(s.con, make_project(), T0 + 31 * D)
        assert (run.enrollments, run.accounts, run.milestones) == (2, 1, 3)
        assert progress(s, "up") == {
            # reached before the upgrade: it stays done
            "configured": (T0 + 33 * D, T0 + 2 * D, "done_on_time"),
            # due dates count from the new start
            "first_value": (T0 + 37 * D, None, "on_track"),
            "step_3_done": (T0 + 40 * D, None, "on_track"),
        }
        sm = summary(s, "up")
        assert (sm["track_id"], sm["level"], sm["source"], sm["timezone"]) == (
            "tech_touch",
            2,
            "auto_upgrade",
            "Europe/Berlin",
        )
        assert (sm["started_at"], sm["onboarding_started_at"]) == (T0 + 30 * D, T0)
        # the carried milestone is older than the stint: progress counts from the new start
        assert sm["last_progress_at"] == T0 + 30 * D

        milestone_progress(s.con, make_project(), T0 + 36 * D)
        sm = summary(s, "up")
        assert (sm["ttfv_days"], sm["onboarding_ttfv_days"]) == (5.0, 35.0)

        # tech-touch stalls after 7 days: from day 35 (first value) to day 42
        milestone_progress(s.con, make_project(), T0 + 42 * D)
        assert progress(s, "up")["step_3_done"][2] == "stuck"
        assert summary(s, "up")["stalled_since"] == T0 + 42 * D


def test_accounts_without_a_track_have_no_progress(store: Store) -> None:
    add_account(store, "untracked")
    assign(store, "untracked", "TIER_A", T0, segmentation="onboarding_tier")
    run = milestone_progress(store.con, make_project(), T0 + D)
    assert (run.enrollments, run.accounts) == (1, 1)
    count = store.con.execute(
        "SELECT count(*) FROM milestone_progress WHERE account_id = 'untracked'"
    ).fetchone()
    assert count == (0,)
