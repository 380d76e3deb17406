"""The events received by a mark, read as the whole table less its tail, equal the filtered
query the kept state's fingerprint is defined by."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from tierline.engine.received import received_by

BASE = datetime(2026, 3, 1)
hours = st.integers(min_value=0, max_value=200)
rows = st.lists(st.tuples(st.one_of(st.none(), hours), st.one_of(st.none(), hours)), max_size=40)


def _events(data: list[tuple[int | None, int | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (ts TIMESTAMP, received_at TIMESTAMP)")
    values = [
        [
            None if t is None else BASE + timedelta(hours=t),
            None if r is None else BASE + timedelta(hours=r),
        ]
        for t, r in data
    ]
    if values:
        con.executemany("INSERT INTO events VALUES (?, ?)", values)
    return con


def _filtered(con: duckdb.DuckDBPyConnection, mark: datetime | None) -> tuple[object, ...]:
    row = con.execute(
        "SELECT count(*) FILTER (WHERE received_at <= CAST($mark AS TIMESTAMP)), "
        "sum(epoch_us(ts)) FILTER (WHERE received_at <= CAST($mark AS TIMESTAMP)), "
        "count(*) FILTER (WHERE received_at IS NULL), max(received_at) FROM events",
        {"mark": mark},
    ).fetchone()
    assert row is not None
    return (int(row[0]), None if row[1] is None else int(row[1]), int(row[2]), row[3])


@settings(max_examples=150, deadline=None)
@given(rows, st.one_of(st.none(), hours))
def test_received_by_equals_the_filtered_scan(
    data: list[tuple[int | None, int | None]], mark_hours: int | None
) -> None:
    con = _events(data)
    mark = None if mark_hours is None else BASE + timedelta(hours=mark_hours)
    got = received_by(con, mark, sums=True)
    assert (got.count, got.ts_sum, got.unplaced, got.latest) == _filtered(con, mark)
    assert received_by(con, mark).count == got.count
    assert received_by(con, mark).ts_sum is None


def test_a_big_table_with_rows_deleted_and_added_late() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT TIMESTAMP '2026-03-01' + to_seconds(i) AS ts, "
        "TIMESTAMP '2026-03-01' + to_seconds(i + 60) AS received_at FROM range(300000) t(i)"
    )
    mark = datetime(2026, 3, 3)
    before = received_by(con, mark, sums=True)
    assert (before.count, before.ts_sum, before.unplaced) == _filtered(con, mark)[:3]
    con.execute("DELETE FROM events WHERE epoch(ts) % 1000 = 7")  # gone from the history
    con.execute("INSERT INTO events VALUES (TIMESTAMP '2026-03-02', TIMESTAMP '2026-03-02 1:00')")
    after = received_by(con, mark, sums=True)
    assert (after.count, after.ts_sum, after.unplaced) == _filtered(con, mark)[:3]
    assert after.count != before.count
