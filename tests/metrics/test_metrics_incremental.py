"""Incremental (rollup) metrics equal a full scan: random books, times, windows, offsets.

Each example: a first batch of events, a refresh up to a random watermark, a second batch
received after it (with late events: old ``ts``), checks before and after refreshing again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_book import add_event

from tierline.engine.metrics import metric_values, metrics_query
from tierline.engine.rollup import (
    PERSON_FIRST,
    ROLLUP_TABLES,
    refresh_rollups,
    renumber_rollups,
    rollup_state,
    usable_rollup,
)
from tierline.policy.metrics import MetricSet, load_metrics_text
from tierline.store import MIGRATIONS, SCHEMA_VERSION, Store, apply_migrations

T0 = datetime(2026, 3, 1)
EVENTS = ("login", "report_reviewed", "step_completed")
ACCOUNTS = ("a1", "a2", "a3", "ghost")

# Every kind and incremental mode; {w} / {o} are drawn per example.
TEMPLATE = """
logins:      {{count: {{event: login}}{w0}{o0}}}
usage:       {{count: {{}}{w1}{o1}}}
first_login: {{first: {{event: login}}{w2}}}
last_any:    {{last: {{}}{w3}{o3}}}
users:       {{distinct_users: {{}}{w4}{o4}}}
users_all:   {{distinct_users: {{event: [report_reviewed, login]}}{o5}}}
pro:         {{count: {{where: "properties->>'plan' = 'pro'"}}{w6}{o6}}}
pro_users:   {{distinct_users: {{where: "properties->>'plan' = 'pro'"}}{w7}}}
pro_first:   {{first: {{event: login, where: "properties->>'plan' = 'pro'"}}{w8}}}
steps:       {{distinct: {{event: step_completed, value: "properties->>'step'"}}{w9}{o9}}}
mornings:    {{count: {{where: "hour(ts) < 12"}}{w10}}}
latest:      {{latest: {{value: event}}{w11}}}
step_sum:    {{sum: {{value: "CAST(properties->>'step' AS INTEGER)"}}{w12}}}
change:      {{expr: "(usage - logins) / logins"}}
"""
DURATIONS = st.sampled_from(["", "1d", "36h", "7d", "2w", "30d", "12h", "3h"])
OFFSETS = st.sampled_from(["", "", "1d", "5h", "30d"])


@st.composite
def metric_sets(draw: st.DrawFn) -> MetricSet:
    """The template with a random window and offset for each metric."""
    fill: dict[str, str] = {}
    for i in range(13):
        w, o = draw(DURATIONS), draw(OFFSETS)
        fill[f"w{i}"] = f", window: {w}" if w else ""
        fill[f"o{i}"] = f", offset: {o}" if o else ""
    return load_metrics_text(TEMPLATE.format(**fill))


MINUTE = st.integers(0, 60 * 24 * 60)
PERSON = st.sampled_from(["p0", "p1", "p2", "p3", None])
PROPS = st.fixed_dictionaries({"plan": st.sampled_from(["pro", "free"]), "step": st.integers(0, 3)})
EVENT = st.tuples(st.sampled_from(ACCOUNTS), PERSON, st.sampled_from(EVENTS), MINUTE, PROPS)
LAG = st.sampled_from([0, 0, 1, 60, 3 * 24 * 60])  # minutes between ts and received_at
# as_of: minutes after T0, on midnights and off them
AS_OF = st.one_of(st.integers(0, 75 * 24 * 60), st.integers(0, 75).map(lambda d: d * 24 * 60))

SOME = "(SELECT 'a1' AS account_id UNION ALL SELECT 'a3' UNION ALL SELECT 'nobody')"

Event = tuple[str, str | None, str, int, dict[str, object]]


@pytest.fixture(scope="module")
def store_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    store = Store.open(Path(tmp_path_factory.mktemp("inc")) / "book.duckdb")
    store.con.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at, source) "
        "VALUES ('a1', 1, '2026-01-01', 1, '2026-01-01', 't'), "
        "('a2', 1, '2026-01-01', 1, '2026-01-01', 't'), "
        "('a3', 1, '2026-01-01', 1, '2026-01-01', 't')"
    )
    yield store.con
    store.close()


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM events")
    for table in (*ROLLUP_TABLES, "rollup_state"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _add(
    con: duckdb.DuckDBPyConnection, events: list[tuple[Event, int]], tag: str, floor: datetime
) -> None:
    """Insert events; received_at = max(ts + lag, floor + 1 minute + lag)."""
    for i, ((account, person, name, minute, props), lag) in enumerate(events):
        ts = T0 + timedelta(minutes=minute)
        received = max(ts, floor + timedelta(minutes=1)) + timedelta(minutes=lag)
        add_event(con, f"{tag}{i}", account, person or "", name, ts, props, received)
    con.execute("UPDATE events SET person_id = NULL WHERE person_id = ''")


def _check(con: duckdb.DuckDBPyConnection, metrics: MetricSet, times: list[int]) -> None:
    state = rollup_state(con)
    moments = [T0 + timedelta(minutes=m) for m in times]
    if state is not None:
        moments.append(state.mark)
    for as_of in moments:
        full = metric_values(con, metrics, as_of, incremental=False)
        inc = metric_values(con, metrics, as_of, incremental=True)
        assert inc == full, as_of
        # scoped to some accounts (one unknown): each scan keeps only their rows
        some = {"a1", "a3"}
        for incremental in (True, False):
            scoped = metric_values(con, metrics, as_of, incremental=incremental, accounts=SOME)
            assert scoped == {k: v for k, v in full.items() if k in some}, as_of
        if state is not None and state.mark <= as_of:
            assert "mark" in metrics_query(con, metrics, as_of)[1]  # rollups were read


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    metrics=metric_sets(),
    first=st.lists(st.tuples(EVENT, LAG), max_size=40),
    second=st.lists(st.tuples(EVENT, LAG), max_size=25),
    mark1=st.integers(0, 60 * 24 * 60),
    step=st.integers(0, 20 * 24 * 60),
    times=st.lists(AS_OF, min_size=1, max_size=2),
    with_project=st.booleans(),
)
def test_incremental_equals_full_scan(
    store_con: duckdb.DuckDBPyConnection,
    metrics: MetricSet,
    first: list[tuple[Event, int]],
    second: list[tuple[Event, int]],
    mark1: int,
    step: int,
    times: list[int],
    with_project: bool,
) -> None:
    con = store_con
    _reset(con)
    project = metrics if with_project else None
    _add(con, first, "a", T0 - timedelta(days=1))
    mark = T0 + timedelta(minutes=mark1)
    refresh_rollups(con, project, through=mark)
    _check(con, metrics, times)
    # more events arrive after the watermark, many of them late (ts long before arrival)
    _add(con, second, "b", mark)
    _check(con, metrics, times)
    refresh_rollups(con, project, through=mark + timedelta(minutes=step))
    _check(con, metrics, times)
    refresh_rollups(con, project)
    _check(con, metrics, times)


def test_refresh_reads_only_new_events(con: duckdb.DuckDBPyConnection) -> None:
    t = datetime(2026, 3, 1)
    add_event(con, "m1", "a1", "p1", "login", t)
    add_event(con, "m2", "a1", "p1", "login", t + timedelta(hours=1))
    assert refresh_rollups(con, through=t + timedelta(hours=2)) == 2
    assert refresh_rollups(con, through=t + timedelta(hours=2)) == 0
    add_event(con, "m3", "a1", "p1", "login", t + timedelta(hours=3))
    add_event(
        con, "m4", "a1", "p2", "login", t - timedelta(days=3), received=t + timedelta(hours=3)
    )
    assert refresh_rollups(con) == 2  # through the latest received_at
    state = rollup_state(con)
    assert state is not None and state.mark == t + timedelta(hours=3) and state.rolled == 4
    daily = con.execute(
        "SELECT day, sum(n), count(*) FROM event_rollup_daily GROUP BY day ORDER BY day"
    ).fetchall()
    # rollup day d holds d < ts <= d + 1 day: m1 at midnight belongs to the day before
    assert [(str(d), n, rows) for d, n, rows in daily] == [
        ("2026-02-25", 1, 1),
        ("2026-02-28", 1, 1),
        ("2026-03-01", 2, 2),  # m2 (first refresh) and m3 (second): appended, not merged
    ]
    first = con.execute(
        "SELECT p.person_id, min(f.first_ts) FROM event_person_first AS f "
        "JOIN rollup_people AS p ON p.no = f.person_no GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert first == [("p1", t), ("p2", t - timedelta(days=3))]


def test_an_event_stored_below_the_watermark_rebuilds(con: duckdb.DuckDBPyConnection) -> None:
    metrics = load_metrics_text("logins: {count: {event: login}}\n")
    t = datetime(2026, 3, 1)
    add_event(con, "m1", "a1", "p1", "login", t)
    refresh_rollups(con, metrics, through=t + timedelta(days=1))
    as_of = t + timedelta(days=2)
    assert usable_rollup(con, as_of) is not None
    # an import that carries an old received_at: the watermark no longer holds
    add_event(con, "m2", "a1", "p1", "login", t, received=t + timedelta(hours=1))
    assert usable_rollup(con, as_of) is None
    assert metric_values(con, metrics, as_of)["a1"] == {"logins": 2}  # full scan
    assert refresh_rollups(con, metrics, through=t + timedelta(days=1)) == 2  # rebuilt
    assert usable_rollup(con, as_of) is not None
    assert metric_values(con, metrics, as_of)["a1"] == {"logins": 2}


def test_person_first_rollup_is_kept_once_a_metric_needs_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    windowed = load_metrics_text("users_30d: {distinct_users: {}, window: 30d}\n")
    ever = load_metrics_text("users_ever: {distinct_users: {event: login}}\n")
    t = datetime(2026, 3, 1)
    add_event(con, "m1", "a1", "p1", "login", t)
    add_event(con, "m2", "a1", "p2", "login", t + timedelta(hours=1))
    refresh_rollups(con, windowed, through=t + timedelta(hours=2))
    state = rollup_state(con)
    assert state is not None and PERSON_FIRST not in state.specs
    assert con.execute("SELECT count(*) FROM event_person_first").fetchone() == (0,)
    as_of = t + timedelta(days=1)
    sql, _ = metrics_query(con, ever, as_of)
    assert "event_person_first" not in sql  # not kept: raw events, same values
    assert metric_values(con, ever, as_of) == metric_values(con, ever, as_of, incremental=False)
    # p3 arrives, then a project that needs first times: backfilled up to the old mark
    add_event(
        con, "m3", "a1", "p3", "login", t - timedelta(days=2), received=t + timedelta(hours=3)
    )
    add_event(con, "m4", "a1", "p1", "login", t + timedelta(hours=3))
    refresh_rollups(con, ever)
    state = rollup_state(con)
    assert state is not None and PERSON_FIRST in state.specs
    first = con.execute(
        "SELECT p.person_id, min(f.first_ts), count(*) FROM event_person_first AS f "
        "JOIN rollup_people AS p ON p.no = f.person_no GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert first == [
        ("p1", t, 1),
        ("p2", t + timedelta(hours=1), 1),
        ("p3", t - timedelta(days=2), 1),
    ]
    sql, _ = metrics_query(con, ever, as_of)
    assert "event_person_first" in sql
    assert metric_values(con, ever, as_of)["a1"] == {"users_ever": 3}
    # kept from now on, also by refreshes for projects that do not need it
    add_event(con, "m5", "a1", "p4", "login", t + timedelta(hours=4))
    refresh_rollups(con, windowed)
    assert metric_values(con, ever, as_of)["a1"] == {"users_ever": 4}
    assert metric_values(con, ever, as_of) == metric_values(con, ever, as_of, incremental=False)


def test_people_count_once_across_numbered_rollups_and_new_events(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Rollups count people by number; events after the mark may bring ids with no number."""
    metrics = load_metrics_text(
        "users: {distinct_users: {}, window: 30d}\n"
        "users_ever: {distinct_users: {event: login}}\n"
        "logins: {count: {event: login}, window: 30d}\n"
    )
    t = datetime(2026, 3, 1)
    add_event(con, "m1", "a1", "p1", "login", t)
    add_event(con, "m2", "a1", "p2", "login", t + timedelta(hours=1))
    refresh_rollups(con, None, through=t + timedelta(days=1))
    numbered = con.execute("SELECT count(*) FROM rollup_people").fetchone()
    assert numbered == (2,)
    # after the mark: p1 again (numbered), p3 (new id), and a2 (an account with no number)
    later = t + timedelta(days=1, hours=2)
    add_event(con, "m3", "a1", "p1", "login", later)
    add_event(con, "m4", "a1", "p3", "login", later)
    add_event(con, "m5", "a2", "p1", "login", later)
    as_of = t + timedelta(days=2)
    sql, params = metrics_query(con, metrics, as_of)
    assert "mark" in params and "ev_keys_no" in sql
    want = {
        "a1": {"users": 3, "users_ever": 3, "logins": 4},
        "a2": {"users": 1, "users_ever": 1, "logins": 1},
        "a3": {"users": 0, "users_ever": 0, "logins": 0},
    }
    assert metric_values(con, metrics, as_of) == want
    assert metric_values(con, metrics, as_of, incremental=False) == want
    refresh_rollups(con)  # now everybody has a number: the same counts from the rollups
    assert con.execute("SELECT count(*) FROM rollup_people").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM rollup_accounts").fetchone() == (2,)
    assert metric_values(con, metrics, as_of) == want


def test_rollups_keyed_by_id_text_are_rebuilt_by_numbers(tmp_path: Path) -> None:
    """Schema 6: a store whose rollups hold id text drops them; the next refresh rebuilds."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    assert apply_migrations(old, str(path), MIGRATIONS[:5]) == [1, 2, 3, 4, 5]
    old.execute(
        "CREATE TABLE rollup_state (mark TIMESTAMP NOT NULL, rolled BIGINT NOT NULL, "
        "refreshed_at TIMESTAMP)"
    )
    old.execute(
        "CREATE TABLE event_rollup_daily (account_id VARCHAR, day DATE, event VARCHAR, "
        "n BIGINT, first_ts TIMESTAMP, last_ts TIMESTAMP)"
    )
    old.execute("CREATE TABLE rollup_optional (name VARCHAR PRIMARY KEY)")
    old.execute("INSERT INTO rollup_optional VALUES ('event_person_first')")
    t = datetime(2026, 3, 1)
    add_event(old, "m1", "a1", "p1", "login", t)
    old.execute("INSERT INTO rollup_state VALUES (?, 1, ?)", [t, t])
    old.execute(
        "INSERT INTO event_rollup_daily VALUES ('a1', '2026-02-28', 'login', 1, ?, ?)", [t, t]
    )
    old.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at, source) "
        "VALUES ('a1', 1, '2026-01-01', 1, '2026-01-01', 't')"
    )
    old.close()
    metrics = load_metrics_text("logins: {count: {event: login}, window: 30d}\n")
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        kept = store.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name IN "
            "('rollup_state', 'event_rollup_daily', 'rollup_optional')"
        ).fetchone()
        assert kept == (0,)
        assert rollup_state(store.con) is None  # metrics scan events until a refresh
        assert metric_values(store.con, metrics, t + timedelta(days=1)) == {"a1": {"logins": 1}}
        assert refresh_rollups(store.con, metrics) == 1
        assert "mark" in metrics_query(store.con, metrics, t + timedelta(days=1))[1]
        assert metric_values(store.con, metrics, t + timedelta(days=1)) == {"a1": {"logins": 1}}
        assert not renumber_rollups(store.con)  # nothing left to do
