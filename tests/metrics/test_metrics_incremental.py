"""Incremental (rollup) metrics equal a full scan on random books and random times."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import duckdb
from metrics_book import T0, add_event

from tierline.engine.metrics import compute_metrics
from tierline.engine.rollup import refresh_rollups, rollup_mark
from tierline.policy.metrics import load_metrics_text

METRICS = load_metrics_text(
    """
logins_7d:     {count: {event: login}, window: 7d}
usage_30d:     {count: {}, window: 30d}
usage_prev:    {count: {}, window: 30d, offset: 30d}
hours_36:      {count: {}, window: 36h, offset: 5h}
all_time:      {count: {event: [login, report_reviewed]}}
pro_30d:       {count: {where: "properties->>'plan' = 'pro'"}, window: 30d}
by_ts:         {count: {where: "hour(ts) < 12"}, window: 10d}
users_30d:     {distinct_users: {}, window: 30d}
users_all:     {distinct_users: {event: report_reviewed}}
steps:         {distinct: {event: step_completed, value: "properties->>'step'"}, window: 20d}
first_login:   {first: {event: login}}
last_any:      {last: {}, window: 15d}
latest_event:  {latest: {value: event}}
step_sum:      {sum: {value: "CAST(properties->>'step' AS INTEGER)"}, window: 30d}
change:        {expr: "(usage_30d - usage_prev) / usage_prev"}
per_user:      {expr: "change * users_30d"}
""",
    known_fields=["seat_limit"],
)
EVENTS = ("login", "report_reviewed", "step_completed", "feature_used")


def _random_events(con: duckdb.DuckDBPyConnection, rng: random.Random, start: int, n: int) -> None:
    for i in range(start, start + n):
        ts = T0 + timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
        received = ts + timedelta(minutes=rng.choice((0, 0, 5, 600, 3000)))
        props: dict[str, object] = {"plan": rng.choice(("pro", "free")), "step": rng.randrange(4)}
        add_event(
            con,
            f"m{i}",
            rng.choice(("a1", "a2", "a3", "ghost")),
            f"p{rng.randrange(5)}",
            rng.choice(EVENTS),
            ts,
            props,
            received,
        )


def _times(rng: random.Random, k: int) -> list[datetime]:
    return [T0 + timedelta(minutes=rng.randrange(0, 100 * 24 * 60)) for _ in range(k)]


def _check(con: duckdb.DuckDBPyConnection, rng: random.Random) -> int:
    mark = rollup_mark(con)
    checked = 0
    for as_of in _times(rng, 6) + ([mark] if mark else []):
        full = compute_metrics(con, METRICS, as_of, incremental=False)
        inc = compute_metrics(con, METRICS, as_of, incremental=True)
        assert inc == full, as_of
        checked += 1
    return checked


def test_incremental_equals_full_scan_on_random_books(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for seed in range(4):
        rng = random.Random(seed)
        con.execute("DELETE FROM events")
        con.execute("DROP TABLE IF EXISTS event_rollup")
        con.execute("DROP TABLE IF EXISTS rollup_mark")
        _random_events(con, rng, 0, 150)
        first = T0 + timedelta(days=rng.randrange(10, 60), hours=rng.randrange(24))
        refresh_rollups(con, first)
        assert _check(con, rng) >= 6
        # more events arrive, into days already rolled up too (received after the mark:
        # an event received at or before the watermark cannot arrive after it)
        _random_events(con, rng, 1000, 100)
        con.execute(
            "DELETE FROM events WHERE message_id LIKE 'm1___' AND received_at <= ?", [first]
        )
        refresh_rollups(con, first + timedelta(days=rng.randrange(1, 30)))
        assert _check(con, rng) >= 6
        refresh_rollups(con, T0 + timedelta(days=200))
        assert _check(con, rng) >= 6


def test_refresh_reads_only_new_events(con: duckdb.DuckDBPyConnection) -> None:
    add_event(con, "m1", "a1", "p1", "login", T0)
    add_event(con, "m2", "a1", "p1", "login", T0 + timedelta(hours=1))
    assert refresh_rollups(con, T0 + timedelta(hours=2)) == 1
    assert refresh_rollups(con, T0 + timedelta(hours=2)) == 0
    add_event(con, "m3", "a1", "p1", "login", T0 + timedelta(hours=3))
    assert refresh_rollups(con, T0 + timedelta(hours=4)) == 1
    rows = con.execute("SELECT sum(n), count(*) FROM event_rollup").fetchone()
    assert rows == (3, 2)
    assert rollup_mark(con) == T0 + timedelta(hours=4)
