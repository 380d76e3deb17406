"""Each metric kind on crafted events, with exact expected values (full scan and rollups)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from metrics_book import add_event

from tierline.compile.metric import compile_metrics
from tierline.engine.metrics import compute_metrics
from tierline.engine.rollup import refresh_rollups
from tierline.policy.metrics import load_metrics_text

T = datetime(2026, 3, 31, 12, 0)
D = timedelta(days=1)


@pytest.fixture
def book(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    # Window 30d as of T is [T - 30d, T): T - 30d is inside, T itself is outside.
    add_event(con, "e1", "a1", "p1", "login", T - 30 * D)  # exactly at the lower bound: in
    add_event(con, "e2", "a1", "p1", "login", T - 30 * D - timedelta(seconds=1))  # out
    add_event(con, "e3", "a1", "p2", "login", T - D, {"plan": "pro"})
    add_event(con, "e4", "a1", "p3", "report_reviewed", T - 2 * D, {"plan": "free"})
    add_event(con, "e5", "a1", "p1", "login", T)  # at T: not yet (next run)
    add_event(con, "e6", "a1", "p4", "login", T - D, received=T + timedelta(minutes=1))  # unknown
    add_event(con, "e7", "a2", "p9", "step_completed", T - 40 * D, {"step": 1})
    add_event(con, "e8", "a2", "p9", "step_completed", T - 35 * D, {"step": 2})
    add_event(con, "e9", "a2", "p8", "step_completed", T - 3 * D, {"step": 2})
    con.execute(
        "INSERT INTO nps (id, account_id, person_id, score, responded_at) VALUES "
        "('n1', 'a1', 'p1', 6, ?), ('n2', 'a1', 'p2', 9, ?), ('n3', 'a1', 'p2', 2, ?)",
        [T - 20 * D, T - 5 * D, T + D],
    )
    con.execute(
        "INSERT INTO tickets (id, account_id, person_id, opened_at, priority) VALUES "
        "('t1', 'a1', 'p1', ?, 'high'), ('t2', 'a1', 'p1', ?, 'low'), ('t3', 'a2', 'p9', ?, 'low')",
        [T - 13 * D, T - 15 * D, T - D],
    )
    con.execute(
        "INSERT INTO billing (id, account_id, kind, ts, amount) VALUES "
        "('b1', 'a2', 'payment_failed', ?, 10.5), ('b2', 'a2', 'upgrade', ?, 99.0)",
        [T - 9 * D, T - 4 * D],
    )
    return con


SPEC = """
logins_30d:   {count: {event: login}, window: 30d}
usage_30d:    {count: {}, window: 30d}
usage_prev:   {count: {}, window: 30d, offset: 30d}
pro_logins:   {count: {event: login, where: "properties->>'plan' = 'pro'"}, window: 30d}
users_30d:    {distinct_users: {}, window: 30d}
steps:        {distinct: {event: step_completed, value: "properties->>'step'"}}
first_login:  {first: {event: login}}
last_any:     {last: {}}
last_nps:     {latest: {source: nps, value: score}}
tickets_14d:  {count: {source: tickets}, window: 14d}
high_tickets: {count: {source: tickets, where: "priority = 'high'"}}
last_billing: {latest: {source: billing, value: kind}}
failed_sum:   {sum: {source: billing, event: payment_failed, value: amount}}
seat_use:     {expr: "users_30d / seat_limit"}
change:       {expr: "(usage_30d - usage_prev) / usage_prev"}
change_pct:   {expr: "change * 100"}
"""

EXPECTED: dict[str, dict[str, object]] = {
    "a1": {
        "logins_30d": 2,
        "usage_30d": 3,
        "usage_prev": 1,
        "pro_logins": 1,
        "users_30d": 3,
        "steps": 0,
        "first_login": T - 30 * D - timedelta(seconds=1),
        "last_any": T - D,
        "last_nps": 9,
        "tickets_14d": 1,
        "high_tickets": 1,
        "last_billing": None,
        "failed_sum": None,
        "seat_use": 0.3,
        "change": 2.0,
        "change_pct": 200.0,
    },
    "a2": {
        "logins_30d": 0,
        "usage_30d": 1,
        "usage_prev": 2,
        "pro_logins": 0,
        "users_30d": 1,
        "steps": 2,
        "first_login": None,
        "last_any": T - 3 * D,
        "last_nps": None,
        "tickets_14d": 1,
        "high_tickets": 0,
        "last_billing": "upgrade",
        "failed_sum": 10.5,
        "seat_use": None,  # seat_limit 0: division by zero is NULL
        "change": -0.5,
        "change_pct": -50.0,
    },
    "a3": {
        "logins_30d": 0,
        "usage_30d": 0,
        "usage_prev": 0,
        "pro_logins": 0,
        "users_30d": 0,
        "steps": 0,
        "first_login": None,
        "last_any": None,
        "last_nps": None,
        "tickets_14d": 0,
        "high_tickets": 0,
        "last_billing": None,
        "failed_sum": None,
        "seat_use": None,  # seat_limit NULL
        "change": None,  # 0 / 0
        "change_pct": None,
    },
}


def test_every_kind_full_scan(book: duckdb.DuckDBPyConnection) -> None:
    metrics = load_metrics_text(SPEC, known_fields=["seat_limit"])
    assert compute_metrics(book, metrics, T, incremental=False) == EXPECTED


@pytest.mark.parametrize("mark_days", [31, 10, 1, 0])
def test_every_kind_from_rollups(book: duckdb.DuckDBPyConnection, mark_days: int) -> None:
    metrics = load_metrics_text(SPEC, known_fields=["seat_limit"])
    refresh_rollups(book, T - mark_days * D)
    assert compute_metrics(book, metrics, T, incremental=True) == EXPECTED


def test_rollup_later_than_as_of_falls_back_to_full_scan(
    book: duckdb.DuckDBPyConnection,
) -> None:
    metrics = load_metrics_text(SPEC, known_fields=["seat_limit"])
    refresh_rollups(book, T + 5 * D)
    assert compute_metrics(book, metrics, T, incremental=True) == EXPECTED


def test_offset_period_and_as_of_in_fragments(book: duckdb.DuckDBPyConnection) -> None:
    metrics = load_metrics_text(
        """
week_ago:   {count: {}, window: 7d, offset: 7d}
recent:     {count: {where: "ts >= as_of - INTERVAL 36 HOUR"}}
days_since: {expr: "date_diff('day', last_seen, as_of)"}
last_seen:  {last: {}}
"""
    )
    got = compute_metrics(book, metrics, T, incremental=False)
    # [T - 14d, T - 7d): e9 at T - 3d is too recent, e4 at T - 2d too; nothing for a1
    assert got["a1"]["week_ago"] == 0
    assert got["a2"]["week_ago"] == 0
    assert got["a1"]["recent"] == 1  # e3 at T - 1d; e6 was received after T
    assert got["a1"]["days_since"] == 1
    assert got["a2"]["days_since"] == 3


def test_one_grouped_scan_per_source() -> None:
    metrics = load_metrics_text(SPEC, known_fields=["seat_limit"])
    sql = compile_metrics(metrics, ["seat_limit"])
    assert sql.count("FROM events") == 1
    assert sql.count("FROM tickets") == 1
    assert sql.count("FROM nps") == 1
    assert sql.count("FROM billing") == 1
    incremental = compile_metrics(metrics, ["seat_limit"], incremental=True)
    assert incremental.count("FROM events") == 1
    assert incremental.count("FROM event_rollup") == 1


def test_expressions_read_the_account_version_as_of_t(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, seat_limit, version, loaded_at, "
        "source) VALUES ('a1', 1000, '2026-01-01', 20, 2, '2026-02-01', 'test')"
    )
    metrics = load_metrics_text('half: {expr: "seat_limit / 2"}', known_fields=["seat_limit"])
    before = compute_metrics(con, metrics, datetime(2026, 1, 15), incremental=False)
    after = compute_metrics(con, metrics, datetime(2026, 3, 1), incremental=False)
    assert before["a1"] == {"half": 5.0}
    assert after["a1"] == {"half": 10.0}
    assert compute_metrics(con, metrics, datetime(2025, 12, 31), incremental=False) == {}
