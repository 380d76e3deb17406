"""Each metric kind on crafted events, with exact expected values (full scan and rollups).

Windows are ``(T - W - O, T - O]``: an event at exactly ``T`` is in, one at ``T - 30d`` out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from metrics_book import add_event

from tierline.compile.metric import PERSON_FIRST_SPEC, compile_metrics
from tierline.engine.metrics import METRICS_TABLE, compute_metrics, metric_values, metrics_query
from tierline.engine.rollup import refresh_rollups
from tierline.policy.metrics import load_metrics_text

T = datetime(2026, 3, 31, 12, 0)
D = timedelta(days=1)
S = timedelta(seconds=1)


@pytest.fixture
def book(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    add_event(con, "e1", "a1", "p1", "login", T - 30 * D)  # exactly at the lower bound: out
    add_event(con, "e2", "a1", "p1", "login", T - 30 * D - S)  # out (in the previous period)
    add_event(con, "e10", "a1", "p1", "login", T - 30 * D + S)  # just inside
    add_event(con, "e3", "a1", "p2", "login", T - D, {"plan": "pro"})
    add_event(con, "e4", "a1", "p3", "report_reviewed", T - 2 * D, {"plan": "free"})
    add_event(con, "e5", "a1", "p1", "login", T)  # exactly at T: in
    add_event(con, "e6", "a1", "p4", "login", T - D, received=T + S)  # not known at T
    add_event(con, "e11", "a1", "p5", "login", T + S)  # after T
    add_event(con, "e7", "a2", "p9", "step_completed", T - 40 * D, {"step": 1})
    add_event(con, "e8", "a2", "p9", "step_completed", T - 35 * D, {"step": 2})
    add_event(con, "e9", "a2", "p8", "step_completed", T - 3 * D, {"step": 2})
    add_event(con, "g1", "ghost", "p1", "login", T - D)  # no such account: no row
    con.execute(
        "INSERT INTO nps (id, account_id, person_id, score, responded_at) VALUES "
        "('n1', 'a1', 'p1', 6, ?), ('n2', 'a1', 'p2', 9, ?), ('n3', 'a1', 'p2', 2, ?), "
        "('n4', 'a1', 'p3', 7, ?)",
        [T - 20 * D, T - 5 * D, T + D, T],
    )
    con.execute(
        "INSERT INTO tickets (id, account_id, person_id, opened_at, priority) VALUES "
        "('t1', 'a1', 'p1', ?, 'high'), ('t2', 'a1', 'p1', ?, 'low'), "
        "('t3', 'a2', 'p9', ?, 'low'), ('t4', 'a1', 'p1', ?, 'low')",
        [T - 13 * D, T - 15 * D, T - D, T - 14 * D],
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
users_ever:   {distinct_users: {event: login}}
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
        "logins_30d": 3,  # e10, e3, e5
        "usage_30d": 4,  # + e4
        "usage_prev": 2,  # (T - 60d, T - 30d]: e1 (upper bound inclusive), e2
        "pro_logins": 1,
        "users_30d": 3,
        "users_ever": 2,  # p1, p2; e6 (p4) was received after T, e11 (p5) is after T
        "steps": 0,
        "first_login": T - 30 * D - S,
        "last_any": T,
        "last_nps": 7,  # n4 at exactly T; n3 is after T
        "tickets_14d": 1,  # t1; t4 at exactly T - 14d is out
        "high_tickets": 1,
        "last_billing": None,
        "failed_sum": None,
        "seat_use": 0.3,
        "change": 1.0,
        "change_pct": 100.0,
    },
    "a2": {
        "logins_30d": 0,
        "usage_30d": 1,
        "usage_prev": 2,
        "pro_logins": 0,
        "users_30d": 1,
        "users_ever": 0,
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
    "a3": {  # no events at all
        "logins_30d": 0,
        "usage_30d": 0,
        "usage_prev": 0,
        "pro_logins": 0,
        "users_30d": 0,
        "users_ever": 0,
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
METRICS = load_metrics_text(SPEC, known_fields=["seat_limit"])


def test_every_kind_full_scan(book: duckdb.DuckDBPyConnection) -> None:
    assert metric_values(book, METRICS, T, incremental=False) == EXPECTED


def test_compute_metrics_writes_the_account_metrics_table(
    book: duckdb.DuckDBPyConnection,
) -> None:
    assert compute_metrics(book, METRICS, T) == METRICS_TABLE
    cur = book.execute(f"SELECT * FROM {METRICS_TABLE} ORDER BY account_id")
    assert [d[0] for d in cur.description] == ["account_id", *METRICS.names]
    assert [r[0] for r in cur.fetchall()] == ["a1", "a2", "a3"]


@pytest.mark.parametrize(
    "mark",
    [T - 31 * D, T - 10 * D, T - D, T - D + timedelta(hours=12), T],
    ids=["31d", "10d", "1d", "midnight", "at-T"],
)
@pytest.mark.parametrize("with_project", [True, False], ids=["specs", "no-specs"])
def test_every_kind_from_rollups(
    book: duckdb.DuckDBPyConnection, mark: datetime, with_project: bool
) -> None:
    refresh_rollups(book, METRICS if with_project else None, through=mark)
    sql, params = metrics_query(book, METRICS, T)
    assert params["mark"] == mark
    assert "event_rollup_daily" in sql and "event_person_daily" in sql
    assert "event_person_first" in sql
    assert ("metric_rollup_daily" in sql) is with_project
    assert metric_values(book, METRICS, T) == EXPECTED


def test_rollup_later_than_as_of_falls_back_to_full_scan(
    book: duckdb.DuckDBPyConnection,
) -> None:
    refresh_rollups(book, METRICS, through=T + 5 * D)
    sql, params = metrics_query(book, METRICS, T)
    assert "mark" not in params and "event_rollup_daily" not in sql
    assert metric_values(book, METRICS, T) == EXPECTED


def test_offset_period_and_as_of_in_fragments(book: duckdb.DuckDBPyConnection) -> None:
    metrics = load_metrics_text(
        """
week_ago:   {count: {}, window: 7d, offset: 2d}
recent:     {count: {where: "ts > as_of - INTERVAL 36 HOUR"}}
days_since: {expr: "date_diff('day', last_seen, as_of)"}
last_seen:  {last: {}, offset: 1h}
"""
    )
    for incremental in (False, True):
        if incremental:
            refresh_rollups(book, metrics, through=T - 2 * D)
        got = metric_values(book, metrics, T, incremental=incremental)
        # (T - 9d, T - 2d]: e4 at exactly T - 2d is in, e9 at T - 3d too, e3 at T - 1d not
        assert (got["a1"]["week_ago"], got["a2"]["week_ago"]) == (1, 1)
        assert got["a1"]["recent"] == 2  # e3 at T - 1d and e5 at T; e6 was received after T
        assert got["a1"]["days_since"] == 1  # last at or before T - 1h: e3 at T - 1d
        assert got["a2"]["days_since"] == 3


def test_one_grouped_scan_per_source() -> None:
    sql = compile_metrics(METRICS)
    for table in ("events", "tickets", "nps", "billing"):
        assert sql.count(f"FROM {table}") == 1
    assert sql.count("GROUP BY") == 4
    kept = ("nosuch", PERSON_FIRST_SPEC)  # no filtered spec rolled up; first times kept
    incremental = compile_metrics(METRICS, incremental=True, specs=kept)
    # raw events: one range scan of the new rows, one of the old rows at window edges
    assert incremental.count("FROM events") == 2
    assert incremental.count("FROM event_rollup_daily") == 1  # logins, usage, first, last
    assert incremental.count("FROM event_person_daily") == 1  # users_30d
    assert incremental.count("FROM event_person_first") == 1  # users_ever
    assert "metric_rollup_daily" not in incremental  # no spec rolled up: raw rows
    # first times not kept: users_ever reads raw events
    assert "event_person_first" not in compile_metrics(METRICS, incremental=True, specs=())
    for table in ("tickets", "nps", "billing"):
        assert incremental.count(f"FROM {table}") == 1


def test_expressions_read_the_account_version_as_of_t(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, seat_limit, version, loaded_at, "
        "source) VALUES ('a1', 1000, '2026-01-01', 20, 2, '2026-02-01', 'test')"
    )
    metrics = load_metrics_text('half: {expr: "seat_limit / 2"}', known_fields=["seat_limit"])
    before = metric_values(con, metrics, datetime(2026, 1, 15), incremental=False)
    after = metric_values(con, metrics, datetime(2026, 3, 1), incremental=False)
    assert before["a1"] == {"half": 5.0}
    assert after["a1"] == {"half": 10.0}
    assert metric_values(con, metrics, datetime(2025, 12, 31), incremental=False) == {}
