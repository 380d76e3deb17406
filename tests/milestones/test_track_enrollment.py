"""track_enrollments: stints from the assignment history of the driving segmentation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from milestone_fixture import SEG, T0, add_account, assign, make_project, open_store

from tierline.engine.enrollment import (
    ENROLLMENT_TABLE,
    driving_segmentation,
    materialise_enrollments,
)
from tierline.engine.milestone import milestone_progress
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.store import Store

D = timedelta(days=1)
H = timedelta(hours=1)

Stint = tuple[str, int, datetime, datetime | None, str, str]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


def stints(store: Store, as_of: datetime, project: Project | None = None) -> dict[str, list[Stint]]:
    materialise_enrollments(store.con, project or make_project(), as_of)
    rows = store.con.execute(
        f"SELECT account_id, track_id, level, started_at, ended_at, source, timezone "
        f"FROM {ENROLLMENT_TABLE} ORDER BY account_id, started_at"
    ).fetchall()
    out: dict[str, list[Stint]] = {}
    for account, *rest in rows:
        out.setdefault(str(account), []).append(tuple(rest))
    return out


def test_the_first_segmentation_with_tracks_drives(store: Store) -> None:
    project = make_project()
    seg = driving_segmentation(project)
    assert seg is not None and seg.id == SEG
    add_account(store, "a")
    assign(store, "a", "TIER_A", T0, segmentation="onboarding_tier")  # ignored: not the driver
    assign(store, "a", "SELF_SERVE", T0 + 3 * H)
    ny = "America/New_York"
    assert stints(store, T0 + D) == {"a": [("self_serve", 1, T0, None, "assignment", ny)]}


def test_first_stint_starts_at_closed_won_and_uses_the_account_time_zone(store: Store) -> None:
    add_account(store, "a", closed_won_at=T0 - 2 * D, timezone="Asia/Tokyo")
    assign(store, "a", "HIGH_TOUCH", T0 + 5 * D)
    assert stints(store, T0 + 5 * D) == {
        "a": [("high_touch", 3, T0 - 2 * D, None, "assignment", "Asia/Tokyo")]
    }
    # before the engine assigned it, the account is on no track
    assert stints(store, T0 + 5 * D - H) == {}


def test_transitions_end_the_previous_stint(store: Store) -> None:
    add_account(store, "a", timezone="Europe/Paris")
    assign(store, "a", "SELF_SERVE", T0 + H)
    assign(store, "a", "SELF_SERVE", T0 + 2 * D, source="reassign")  # same track: nothing
    assign(store, "a", "TECH_TOUCH", T0 + 30 * D, source="auto_upgrade")
    assign(store, "a", "HIGH_TOUCH", T0 + 40 * D, source="override")
    assign(store, "a", "TECH_TOUCH", T0 + 50 * D, source="reassign")
    tz = "Europe/Paris"
    assert stints(store, T0 + 60 * D) == {
        "a": [
            ("self_serve", 1, T0, T0 + 30 * D, "assignment", tz),
            ("tech_touch", 2, T0 + 30 * D, T0 + 40 * D, "auto_upgrade", tz),
            ("high_touch", 3, T0 + 40 * D, T0 + 50 * D, "override", tz),
            ("tech_touch", 2, T0 + 50 * D, None, "assignment", tz),
        ]
    }
    # as of a time between transitions, later rows do not exist yet
    assert stints(store, T0 + 35 * D)["a"] == [
        ("self_serve", 1, T0, T0 + 30 * D, "assignment", tz),
        ("tech_touch", 2, T0 + 30 * D, None, "auto_upgrade", tz),
    ]


def test_an_outcome_without_a_track_ends_the_stint(store: Store) -> None:
    add_account(store, "a")
    add_account(store, "b")
    assign(store, "a", "SELF_SERVE", T0)
    assign(store, "a", "PAUSED", T0 + 10 * D, source="override")
    assign(store, "b", "PAUSED", T0)  # the first assignment has no track
    assign(store, "b", "TECH_TOUCH", T0 + 4 * D, source="override")
    ny = "America/New_York"
    assert stints(store, T0 + 20 * D) == {
        "a": [("self_serve", 1, T0, T0 + 10 * D, "assignment", ny)],
        "b": [("tech_touch", 2, T0 + 4 * D, None, "override", ny)],
    }
    run = milestone_progress(store.con, make_project(), T0 + 20 * D)
    assert (run.enrollments, run.accounts, run.milestones) == (2, 1, 3)


def test_the_book_as_of_the_time_gives_the_account_row(store: Store) -> None:
    add_account(store, "a", timezone="Asia/Tokyo")
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, timezone, version, "
        "loaded_at, source) VALUES ('a', 'A', 1, ?, 'Europe/Oslo', 2, ?, 'test')",
        [T0 - D, T0 + 10 * D],
    )
    assign(store, "a", "SELF_SERVE", T0 + H)
    assert stints(store, T0 + D)["a"][0][2:] == (T0, None, "assignment", "Asia/Tokyo")
    assert stints(store, T0 + 11 * D)["a"][0][2:] == (T0 - D, None, "assignment", "Europe/Oslo")


def test_a_project_without_tracked_segmentations(store: Store) -> None:
    project = make_project()
    plain = dataclasses.replace(
        project,
        segmentations=tuple(dataclasses.replace(s, tracks=()) for s in project.segmentations),
    )
    add_account(store, "a")
    assign(store, "a", "SELF_SERVE", T0)
    assert driving_segmentation(plain) is None
    assert stints(store, T0 + D, plain) == {}
    run = milestone_progress(store.con, plain, T0 + D)
    assert (run.enrollments, run.accounts, run.milestones) == (0, 0, 0)


def test_a_mapping_to_an_unknown_track_is_an_error(store: Store) -> None:
    project = make_project()
    broken = dataclasses.replace(project, tracks=project.tracks[:1])
    with pytest.raises(EngineError, match="'high_touch', 'tech_touch'"):
        materialise_enrollments(store.con, broken, T0)
