"""Business days and local-time offsets in DuckDB SQL (engine/calendar.py), exact instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest
from sqlglot import exp

from tierline.engine.calendar import (
    OFFSET_UNITS,
    add_business_days,
    business_day_delta,
    shift,
    shift_offset,
    step_days,
    to_local,
    to_utc,
    unknown_zones,
)
from tierline.errors import EngineError
from tierline.policy.track import Offset, OffsetUnit

NY = "America/New_York"
BERLIN = "Europe/Berlin"
TOKYO = "Asia/Tokyo"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def one(con: duckdb.DuckDBPyConnection, expr: exp.Expression, at: datetime, zone: str) -> object:
    sql = f"SELECT {expr.sql(dialect='duckdb')} FROM (SELECT $at AS at, $zone AS zone)"
    row = con.execute(sql, {"at": at, "zone": zone}).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def bd(con: duckdb.DuckDBPyConnection, at: str, n: int, zone: str) -> object:
    return one(con, add_business_days("at", n, "zone"), ts(at), zone)


def test_five_business_days_after_a_thursday_cross_the_weekend(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Thu 2026-02-05 10:00 EST → Thu 2026-02-12 10:00 EST (Fri, Mon, Tue, Wed, Thu).
    assert bd(con, "2026-02-05 15:00:00", 5, NY) == ts("2026-02-12 15:00:00")
    # Thu + 2 → Mon; Fri + 1 → Mon; Fri + 5 → next Fri.
    assert bd(con, "2026-02-05 15:00:00", 2, NY) == ts("2026-02-09 15:00:00")
    assert bd(con, "2026-02-06 15:00:00", 1, NY) == ts("2026-02-09 15:00:00")
    assert bd(con, "2026-02-06 15:00:00", 5, NY) == ts("2026-02-13 15:00:00")
    assert bd(con, "2026-02-05 15:00:00", 10, NY) == ts("2026-02-19 15:00:00")
    assert bd(con, "2026-02-05 15:00:00", 0, NY) == ts("2026-02-05 15:00:00")


def test_weekend_days_count_from_the_friday_before(con: duckdb.DuckDBPyConnection) -> None:
    # Sat 2026-02-07 10:00 EST + 1 → Mon; Sun + 5 → the Friday after.
    assert bd(con, "2026-02-07 15:00:00", 1, NY) == ts("2026-02-09 15:00:00")
    assert bd(con, "2026-02-08 15:00:00", 5, NY) == ts("2026-02-13 15:00:00")
    assert bd(con, "2026-02-08 15:00:00", 6, NY) == ts("2026-02-16 15:00:00")


def test_business_days_keep_local_time_across_the_us_dst_change(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Thu 2026-03-05 10:00 EST (15:00 UTC); clocks spring forward Sun 2026-03-08.
    # Thu 2026-03-12 10:00 EDT = 14:00 UTC: the local hour stays, the UTC hour moves.
    assert bd(con, "2026-03-05 15:00:00", 5, NY) == ts("2026-03-12 14:00:00")
    # and back in autumn (2026-11-01): Thu 2026-10-29 10:00 EDT → Thu 2026-11-05 10:00 EST.
    assert bd(con, "2026-10-29 14:00:00", 5, NY) == ts("2026-11-05 15:00:00")


def test_business_days_in_berlin_across_the_eu_dst_change(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Thu 2026-03-26 09:00 CET (08:00 UTC); EU summer time starts Sun 2026-03-29.
    # Thu 2026-04-02 09:00 CEST = 07:00 UTC.
    assert bd(con, "2026-03-26 08:00:00", 5, BERLIN) == ts("2026-04-02 07:00:00")
    # Fri 2026-03-27 17:30 CET + 1 → Mon 2026-03-30 17:30 CEST.
    assert bd(con, "2026-03-27 16:30:00", 1, BERLIN) == ts("2026-03-30 15:30:00")


def test_the_local_date_not_the_utc_date_decides_the_weekday(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Fri 2026-02-06 23:30 EST is Sat 04:30 UTC: + 1 business day is Mon 23:30 EST.
    assert bd(con, "2026-02-07 04:30:00", 1, NY) == ts("2026-02-10 04:30:00")
    # Mon 2026-02-09 08:00 JST is Sun 23:00 UTC: + 1 business day is Tue 08:00 JST.
    assert bd(con, "2026-02-08 23:00:00", 1, TOKYO) == ts("2026-02-09 23:00:00")


def test_days_and_weeks_keep_local_time_hours_do_not(con: duckdb.DuckDBPyConnection) -> None:
    at = ts("2026-03-07 15:00:00")  # Sat 10:00 EST, the day before the change
    assert one(con, shift("at", 1, "days", "zone"), at, NY) == ts("2026-03-08 14:00:00")
    assert one(con, shift("at", 24, "hours", "zone"), at, NY) == ts("2026-03-08 15:00:00")
    assert one(con, shift("at", 2, "weeks", "zone"), at, NY) == ts("2026-03-21 14:00:00")
    # Mon 2026-03-23 09:00 CET + 1 week → Mon 2026-03-30 09:00 CEST.
    monday = ts("2026-03-23 08:00:00")
    assert one(con, shift("at", 1, "weeks", "zone"), monday, BERLIN) == ts("2026-03-30 07:00:00")
    assert one(con, shift_offset("at", Offset(7, "days"), "zone"), monday, BERLIN) == ts(
        "2026-03-30 07:00:00"
    )


def test_skipped_and_repeated_local_times_follow_duckdb_icu(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # 02:30 on 2026-03-08 does not exist in New York: it resolves to 07:30 UTC (03:30 EDT).
    assert one(con, shift("at", 1, "days", "zone"), ts("2026-03-07 07:30:00"), NY) == ts(
        "2026-03-08 07:30:00"
    )
    # 01:30 on 2026-11-01 happens twice: the second, standard-time instant (06:30 UTC).
    assert one(con, shift("at", 1, "days", "zone"), ts("2026-10-31 05:30:00"), NY) == ts(
        "2026-11-01 06:30:00"
    )


def test_local_round_trip(con: duckdb.DuckDBPyConnection) -> None:
    at = ts("2026-07-01 12:00:00")
    assert one(con, to_local("at", "zone"), at, BERLIN) == ts("2026-07-01 14:00:00")
    assert one(con, to_utc(to_local("at", "zone"), "zone"), at, BERLIN) == at


def test_unit_from_a_column_matches_the_static_unit(con: duckdb.DuckDBPyConnection) -> None:
    per_unit = {
        unit: one(con, shift("at", 3, unit, "zone"), ts("2026-03-05 15:00:00"), NY)
        for unit in OFFSET_UNITS
    }
    assert per_unit == {
        "hours": ts("2026-03-05 18:00:00"),
        "days": ts("2026-03-08 14:00:00"),
        "business_days": ts("2026-03-10 14:00:00"),
        "weeks": ts("2026-03-26 14:00:00"),
    }
    sql = shift("at", "n", exp.column("u"), "zone").sql(dialect="duckdb")
    rows = con.execute(
        f"SELECT u, {sql} FROM (SELECT $at AS at, $zone AS zone, 3 AS n), "
        "(VALUES ('hours'), ('days'), ('business_days'), ('weeks'), ('fortnights')) AS t(u)",
        {"at": ts("2026-03-05 15:00:00"), "zone": NY},
    ).fetchall()
    expected: dict[str, object] = {str(unit): at for unit, at in per_unit.items()}
    expected["fortnights"] = None
    assert dict(rows) == expected


def test_step_days_is_a_lower_bound_of_the_span(con: duckdb.DuckDBPyConnection) -> None:
    got = {
        u: con.execute(f"SELECT {step_days(6, u).sql('duckdb')}").fetchone() for u in OFFSET_UNITS
    }
    assert got == {"hours": (0.25,), "days": (6.0,), "business_days": (6.0,), "weeks": (42.0,)}


def test_bad_units_and_zones_are_errors(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(EngineError, match="unknown offset unit"):
        shift("at", 1, "fortnights", "zone")  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="negative"):
        shift_offset("at", Offset(-1, "days"), "zone")
    zones = "SELECT * FROM (VALUES ('America/New_York'), ('europe/berlin'), ('Mars/Olympus'), "
    assert unknown_zones(con, zones + "('UTC'), (NULL)) AS t(z)") == ["Mars/Olympus"]


# --- the same arithmetic in Python, over a grid of instants, zones and counts --------------


def _oracle_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time → UTC, with DuckDB's rules for skipped and repeated times."""
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip == local:  # repeated: the later (standard time) instant
            return second.astimezone(UTC).replace(tzinfo=None)
    return first.astimezone(UTC).replace(tzinfo=None)


def _oracle(at: datetime, n: int, unit: OffsetUnit, zone_name: str) -> datetime:
    zone = ZoneInfo(zone_name)
    if unit == "hours":
        return at + timedelta(hours=n)
    local = at.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    if unit == "days":
        return _oracle_utc(local + timedelta(days=n), zone)
    if unit == "weeks":
        return _oracle_utc(local + timedelta(weeks=n), zone)
    day: date = local.date()
    left = n
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return _oracle_utc(datetime.combine(day, local.time()), zone)


@pytest.mark.parametrize("unit", OFFSET_UNITS)
def test_sql_matches_a_python_oracle_over_a_grid(
    con: duckdb.DuckDBPyConnection, unit: OffsetUnit
) -> None:
    zones = [NY, BERLIN, TOKYO, "Australia/Sydney", "America/Los_Angeles", "UTC"]
    # every 7 h 13 min over two windows around the 2026 DST changes, counts 0..11
    sql = shift("t0", "n", unit, "zone").sql(dialect="duckdb")
    rows = con.execute(
        f"""
        SELECT t0, n, zone, {sql} AS due
        FROM (
          SELECT TIMESTAMP '2026-02-25 00:00:00' + to_minutes(433 * k) AS t0 FROM range(0, 80) t(k)
          UNION ALL
          SELECT TIMESTAMP '2026-10-20 00:00:00' + to_minutes(433 * k) FROM range(0, 60) t(k)
        ), (SELECT unnest($zones) AS zone), range(0, 12) AS c(n)
        """,
        {"zones": zones},
    ).fetchall()
    assert len(rows) == 140 * len(zones) * 12
    wrong = [(a, n, z, due) for a, n, z, due in rows if due != _oracle(a, n, unit, z)]
    assert wrong == []


def test_business_day_delta_is_plain_integer_sql(con: duckdb.DuckDBPyConnection) -> None:
    # Monday 2026-02-02 … Sunday 2026-02-08, + 1 and + 5 business days
    sql = f"SELECT d, {business_day_delta('d', 1).sql('duckdb')}, "
    sql += f"{business_day_delta('d', 5).sql('duckdb')} "
    sql += (
        "FROM (SELECT DATE '2026-02-02' + CAST(k AS INTEGER) AS d FROM range(0, 7) t(k)) ORDER BY d"
    )
    got = [(r[1], r[2]) for r in con.execute(sql).fetchall()]
    assert got == [(1, 7), (1, 7), (1, 7), (1, 7), (3, 7), (2, 6), (1, 5)]
