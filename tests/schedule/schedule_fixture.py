"""What the touchpoint schedule tests share: a project of their tracks and a crafted book."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from tierline.policy.model import CORE_ACCOUNT_FIELDS, Project
from tierline.policy.track import Track


def schedule_project(tracks: Sequence[Track], timezone: str) -> Project:
    """A project of only ``tracks`` (no segmentations) in the default time zone ``timezone``."""
    return Project(
        root=Path("."),
        name="schedule",
        timezone=timezone,
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(),
        version="v1",
        tracks=tuple(tracks),
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


Stint = tuple[str, str, str, str | None, str | None]  # account, track, start, end, zone
Reach = tuple[str, str, str, str]  # account, track, milestone, reached_at


def book(stints: Sequence[Stint], reached: Sequence[Reach] = ()) -> duckdb.DuckDBPyConnection:
    """A connection with crafted ``track_enrollments``, ``milestone_progress``, no events."""
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE track_enrollments (account_id VARCHAR, track_id VARCHAR, "
        "level INTEGER, started_at TIMESTAMP, ended_at TIMESTAMP, source VARCHAR, "
        "timezone VARCHAR)"
    )
    con.execute(
        "CREATE TEMP TABLE milestone_progress (account_id VARCHAR, track_id VARCHAR, "
        "milestone_id VARCHAR, due_at TIMESTAMP, reached_at TIMESTAMP, status VARCHAR, "
        "is_ttfv BOOLEAN)"
    )
    con.execute(
        "CREATE TABLE events (account_id VARCHAR, event VARCHAR, person_id VARCHAR, "
        "ts TIMESTAMP, properties JSON)"
    )
    for account, track, start, end, zone in stints:
        con.execute(
            "INSERT INTO track_enrollments VALUES (?, ?, 1, ?, ?, 'assignment', ?)",
            [account, track, ts(start), ts(end) if end else None, zone],
        )
    for account, track, milestone, at in reached:
        con.execute(
            "INSERT INTO milestone_progress VALUES (?, ?, ?, NULL, ?, 'done_on_time', false)",
            [account, track, milestone, ts(at)],
        )
    return con
