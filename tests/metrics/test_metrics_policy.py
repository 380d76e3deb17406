"""metrics.yaml loading: the definitions, their order, and file:line:col diagnostics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tierline.errors import PolicyError
from tierline.policy.metrics import Metric, load_metrics_text, parse_duration


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
