"""metrics.yaml loading: the definitions, their order, and file:line:col diagnostics."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tierline.engine.metrics import compute_metrics
from tierline.engine.rollup import refresh_rollups
from tierline.errors import PolicyError
from tierline.policy.load import load_project
from tierline.policy.metrics import Metric, load_metrics_text, parse_duration
from tierline.policy.scaffold import init_project
from tierline.store import Store


def test_definitions_load_in_dependency_order() -> None:
    found = load_metrics_text(
        """
ratio:    {expr: "usage / NULLIF(seat_limit, 0)"}
usage:    {count: {event: [login, report_reviewed]}, window: 2w, offset: 12h}
last_nps: {latest: {source: nps, value: score}}
""",
        known_fields=["seat_limit"],
    )
    assert found.names == ("usage", "ratio", "last_nps")
    usage = found.get("usage")
    assert usage == Metric(
        "usage",
        "count",
        events=("login", "report_reviewed"),
        window=timedelta(days=14),
        offset=timedelta(hours=12),
    )
    ratio = found.get("ratio")
    assert ratio is not None and ratio.refs == ("usage", "seat_limit")
    assert [m.name for m in found.expressions] == ["ratio"]


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("30x") is None


def test_every_problem_reported_at_once_with_positions() -> None:
    text = """a: {cuont: {event: login}, window: 30d}
b: {count: {}, window: 30x}
c: {expr: "d + nosuch"}
d: {expr: "c * 2"}
e: {count: {evnt: x, source: tikets}}
f: {count: {where: "propertis->>'x' = 1"}}
"""
    with pytest.raises(PolicyError) as info:
        load_metrics_text(text, "m.yaml", ["seat_limit"])
    got = {(d.line, d.col, d.message, d.hint) for d in info.value.diagnostics}
    assert got == {
        (1, 5, "unknown key 'cuont' in metric 'a'", "did you mean 'count'?"),
        (2, 24, "window '30x' is not a duration", "write a count and a unit: 30d, 12h, 2w"),
        (3, 16, "unknown name 'nosuch'", None),
        (
            3,
            1,
            "metric dependency cycle: c -> d -> c",
            "an expr cannot read, directly or not, its own value",
        ),
        (5, 13, "unknown key 'evnt' in count", "did you mean 'event'?"),
        (5, 30, "unknown source 'tikets' for count", "did you mean 'tickets'?"),
        (6, 21, "unknown events column 'propertis'", "did you mean 'properties'?"),
    }
    rendered = str(info.value)
    assert "m.yaml:2:24: error: window '30x' is not a duration" in rendered
    assert "^^^" in rendered


def test_seed_pack_metrics_on_the_project(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    project = load_project(root)
    assert [m.name for m in project.metrics] == [
        "usage_30d",
        "usage_prev_30d",
        "usage_change_30d",
        "active_users_30d",
    ]
    store = Store.open(tmp_path / "book.duckdb", project.fields)
    con = store.con
    t = datetime(2026, 3, 31)
    con.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at, source) "
        "VALUES ('a1', 1, '2026-01-01', 1, '2026-01-01', 't'), "
        "('a2', 1, '2026-01-01', 1, '2026-01-01', 't')"
    )
    for i, days in enumerate((1, 2, 3, 40, 45)):
        ts = t - timedelta(days=days)
        con.execute(
            "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
            "received_at) VALUES (?, 'a1', ?, 'login', ?, '{}', ?)",
            [f"m{i}", f"p{i % 2}", ts, ts],
        )
    refresh_rollups(con, project, through=t - timedelta(days=2))
    assert compute_metrics(con, project, t) == "account_metrics"
    rows = con.execute("SELECT * FROM account_metrics ORDER BY account_id").fetchall()
    assert rows == [("a1", 3, 2, 0.5, 2), ("a2", 0, 0, None, 0)]
    store.close()
