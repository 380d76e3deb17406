"""Daily event rollups, maintained as events arrive, behind a watermark on ``received_at``.

Tables (a rollup *day* ``d`` holds the events with ``d < ts <= d + 1 day``, UTC, matching
the metric windows ``(lo, hi]``; see :mod:`tierline.compile.metric`):

- ``rollup_state(mark, rolled, refreshed_at)``: one row; every event with
  ``received_at <= mark`` is rolled up, and ``rolled`` counts them;
- ``rollup_accounts(account_id, no)`` and ``rollup_people(person_id, no)``: a number for
  every account and person id the rollups hold (1, 2, … in order of first refresh). The
  rollups below are keyed by these numbers, not by the id text: a metric query groups and
  joins 10^6 rows of 4-byte integers instead of strings, which halves the cost of a sum and
  cuts a distinct-people count four-fold (bench/RESULTS.md). A reader maps the numbers back
  to ids after grouping (one row per account);
- ``event_rollup_daily(account_no, day, event, n, first_ts, last_ts)``: events per account,
  day and event name (``count``, ``first``, ``last`` without ``where``);
- ``event_person_daily(account_no, day, event, person_no)``: who did what on which day
  (windowed ``distinct_users``);
- ``event_person_first(account_no, event, person_no, first_ts)``: when each person first
  did each event (``distinct_users`` without a window). Keeping it means an anti-join with
  the whole table at every refresh, so it is kept only once a metric needs it: a refresh
  without a project, or with one that has such a metric, backfills it (once) and lists it
  in ``rollup_optional``; until then those metrics read raw events;
- ``metric_rollup_daily(spec, account_no, day, item, n, first_ts, last_ts)`` and
  ``rollup_specs(spec, filter_sql, item_sql)``: per-day rows of the filtered metrics of the
  projects refreshed so far (:class:`tierline.compile.metric.RollupSpec`).

Events without an account id are not rolled up (no account's metric reads them).

:func:`refresh_rollups` aggregates only the events received after the watermark (and at
or before ``through``), so its cost grows with new data. Rows are appended, never merged:
a late event (old ``ts``, new ``received_at``) adds a row for its old day, and readers sum,
min, max or count distinct over rows. A spec that a project adds is backfilled once.

The watermark assumes that an event is never stored with ``received_at`` at or before a
watermark already set. That is checked, cheaply: when the events received at or before the
mark are not exactly the ``rolled`` ones (a later import that carried old ``received_at``
stamps, or deleted events), :func:`usable_rollup` refuses the rollups (metrics then scan in
full) and the next :func:`refresh_rollups` rebuilds them from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from tierline.compile.metric import (
    ACCOUNT_NUMBERS,
    PERSON_FIRST_SPEC,
    PERSON_NUMBERS,
    bucket,
    metric_mode,
    rollup_spec,
)
from tierline.engine.connection import (
    first_row,
    joined_transaction,
    relation_columns,
    table_exists,
)
from tierline.engine.received import received_by
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.metrics import MetricSet
from tierline.policy.model import Project

__all__ = [
    "ACCOUNT_NUMBERS",
    "PERSON_FIRST",
    "PERSON_NUMBERS",
    "ROLLUP_TABLES",
    "RollupState",
    "ensure_rollups",
    "refresh_rollups",
    "renumber_rollups",
    "rollup_state",
    "usable_rollup",
]

ROLLUP_TABLES = (
    "event_rollup_daily",
    "event_person_daily",
    "event_person_first",
    "metric_rollup_daily",
    "rollup_specs",
    "rollup_optional",
    ACCOUNT_NUMBERS,
    PERSON_NUMBERS,
)
# What ``rollup_optional`` lists when ``event_person_first`` is kept (and in
# :attr:`RollupState.specs` then, where the metric compiler looks for it).
PERSON_FIRST = PERSON_FIRST_SPEC
_DDL = (
    "CREATE TABLE IF NOT EXISTS rollup_state ("
    "mark TIMESTAMP NOT NULL, rolled BIGINT NOT NULL, refreshed_at TIMESTAMP)",
    f"CREATE TABLE IF NOT EXISTS {ACCOUNT_NUMBERS} (account_id VARCHAR NOT NULL, "
    "no INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {PERSON_NUMBERS} (person_id VARCHAR NOT NULL, "
    "no INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_rollup_daily (account_no INTEGER, day DATE, "
    "event VARCHAR, n BIGINT, first_ts TIMESTAMP, last_ts TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS event_person_daily (account_no INTEGER, day DATE, "
    "event VARCHAR, person_no INTEGER)",
    "CREATE TABLE IF NOT EXISTS event_person_first (account_no INTEGER, event VARCHAR, "
    "person_no INTEGER, first_ts TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS metric_rollup_daily (spec VARCHAR, account_no INTEGER, "
    "day DATE, item VARCHAR, n BIGINT, first_ts TIMESTAMP, last_ts TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS rollup_specs (spec VARCHAR PRIMARY KEY, filter_sql VARCHAR, "
    "item_sql VARCHAR)",
    "CREATE TABLE IF NOT EXISTS rollup_optional (name VARCHAR PRIMARY KEY)",
)
_DAY = bucket("ts")
# Rollup rows carry the numbers of their account (and person), not the ids (``r``: the rows).
_ACCOUNT_NO = f"JOIN {ACCOUNT_NUMBERS} AS k ON k.account_id = r.account_id"
_PERSON_NO = f"JOIN {PERSON_NUMBERS} AS p ON p.person_id = r.person_id"
# The numbers of the ids in the batch being rolled up (:func:`_number`), a small temp table
# each: joining the batch's rows to them reads the whole dictionaries (10^6 people) once.
_BATCH_ACCOUNTS = "rollup_batch_accounts"
_BATCH_PEOPLE = "rollup_batch_people"
_BATCH_ACCOUNT_NO = f"JOIN {_BATCH_ACCOUNTS} AS k ON k.account_id = r.account_id"
_BATCH_PERSON_NO = f"JOIN {_BATCH_PEOPLE} AS p ON p.person_id = r.person_id"


@dataclass(frozen=True)
class RollupState:
    """Where the rollups stand: the watermark, how many events they hold, their specs.

    ``specs`` holds the :attr:`RollupSpec.key` s rolled up in ``metric_rollup_daily``, and
    :data:`PERSON_FIRST` when ``event_person_first`` is kept.
    """

    mark: datetime
    rolled: int
    specs: frozenset[str]


def ensure_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Create the rollup tables when missing."""
    for ddl in _DDL:
        con.execute(ddl)


def rollup_state(con: duckdb.DuckDBPyConnection) -> RollupState | None:
    """The rollups' state, or None before the first refresh."""
    if not table_exists(con, "rollup_state"):
        return None
    row = first_row(con, "SELECT mark, rolled FROM rollup_state")
    if row is None or not isinstance(row[0], datetime):
        return None
    specs = {str(r[0]) for r in con.execute("SELECT spec FROM rollup_specs").fetchall()}
    if _person_first_kept(con):
        specs.add(PERSON_FIRST)
    return RollupState(row[0], int(row[1]), frozenset(specs))


def _person_first_kept(con: duckdb.DuckDBPyConnection) -> bool:
    """True when ``event_person_first`` is kept (a store from before the flag: not yet)."""
    if not table_exists(con, "rollup_optional"):
        return False
    row = first_row(con, "SELECT count(*) FROM rollup_optional WHERE name = ?", [PERSON_FIRST])
    return bool(row and row[0])


def _wants_person_first(project: Project | MetricSet | None) -> bool:
    """Whether a refresh keeps ``event_person_first`` (no project: keep every rollup)."""
    if project is None:
        return True
    return any(metric_mode(m, (PERSON_FIRST,)) == "person_first" for m in project.metrics)


def usable_rollup(con: duckdb.DuckDBPyConnection, as_of: datetime) -> RollupState | None:
    """The rollup state when a metric run as of ``as_of`` can read the rollups, else None.

    They can when the watermark is at or before ``as_of`` (every rolled event was known at
    ``as_of``) and the rolled events are exactly those received at or before the watermark.
    """
    state = rollup_state(con)
    if state is None or state.mark > as_of:
        return None
    return state if received_by(con, state.mark).count == state.rolled else None


def _specs(con: duckdb.DuckDBPyConnection, project: Project | MetricSet | None) -> list[str]:
    """Register the project's filtered-metric specs; the keys not rolled up yet."""
    if project is None:
        return []
    known = {str(r[0]) for r in con.execute("SELECT spec FROM rollup_specs").fetchall()}
    added: list[str] = []
    for metric in project.metrics:
        spec = rollup_spec(metric)
        if spec is None or spec.key in known or spec.key in added:
            continue
        con.execute(
            "INSERT INTO rollup_specs VALUES (?, ?, ?)",
            [spec.key, spec.filter_sql(), spec.item_sql()],
        )
        added.append(spec.key)
    return added


def _roll_specs(
    con: duckdb.DuckDBPyConnection,
    keys: list[str] | None,
    rows: str,
    params: dict[str, object],
    *,
    batch: bool = False,
) -> None:
    """Append ``metric_rollup_daily`` rows for the events ``rows`` selects (SQL condition).

    ``batch``: the rows are the batch :func:`_number` numbered (else: events numbered before).
    """
    account_no = _BATCH_ACCOUNT_NO if batch else _ACCOUNT_NO
    where = "" if keys is None else f" WHERE spec IN ({', '.join(repr(k) for k in keys)})"
    specs = con.execute(f"SELECT spec, filter_sql, item_sql FROM rollup_specs{where}").fetchall()
    if not specs:
        return
    parts = [
        f"SELECT '{key}' AS spec, account_id, {_DAY} AS day, {item} AS item, count(*) AS n, "
        f"min(ts) AS first_ts, max(ts) AS last_ts FROM events "
        f"WHERE {rows} AND ts IS NOT NULL AND ({flt}) GROUP BY ALL"
        for key, flt, item in specs
    ]
    union = " UNION ALL ".join(parts)
    con.execute(
        "INSERT INTO metric_rollup_daily SELECT r.spec, k.no, r.day, r.item, r.n, r.first_ts, "
        f"r.last_ts FROM ({union}) AS r {account_no} ORDER BY r.day",
        params,
    )


def _roll_person_first(
    con: duckdb.DuckDBPyConnection,
    rows: str,
    params: dict[str, object],
    *,
    fresh: bool,
    batch: bool = False,
) -> None:
    """Add the people's first times for the events ``rows`` selects (``fresh``: table empty;
    ``batch``: as :func:`_roll_specs`)."""
    people = f"{rows} AND ts IS NOT NULL AND person_id IS NOT NULL"
    numbers = f"{_BATCH_ACCOUNT_NO} {_BATCH_PERSON_NO}" if batch else f"{_ACCOUNT_NO} {_PERSON_NO}"
    new = (
        "SELECT k.no AS account_no, r.event, p.no AS person_no, r.first_ts FROM ("
        "SELECT account_id, event, person_id, min(ts) AS first_ts FROM events "
        f"WHERE {people} GROUP BY ALL) AS r {numbers}"
    )
    if fresh:
        con.execute(f"INSERT INTO event_person_first {new}", params)
        return
    con.execute(
        f"INSERT INTO event_person_first SELECT n.* FROM ({new}) AS n "
        "WHERE NOT EXISTS (SELECT 1 FROM event_person_first AS o WHERE "
        "o.account_no = n.account_no AND o.event IS NOT DISTINCT FROM n.event "
        "AND o.person_no = n.person_no AND o.first_ts <= n.first_ts)",
        params,
    )


def _number(con: duckdb.DuckDBPyConnection, rows: str, params: dict[str, object]) -> None:
    """Number the account and person ids of the events ``rows`` selects that have none yet.

    Leaves the numbers of every id of those rows in the temp tables ``rollup_batch_accounts``
    and ``rollup_batch_people`` (``id, no``), for the rollups of the same rows: the
    dictionaries are read once per refresh, however many rollups join them. New ids get
    the numbers after the largest one, in id order.
    """
    for table, batch, column in (
        (ACCOUNT_NUMBERS, _BATCH_ACCOUNTS, "account_id"),
        (PERSON_NUMBERS, _BATCH_PEOPLE, "person_id"),
    ):
        # a semi-join probed by the dictionary, built on the batch's ids (the small side)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {batch} AS
WITH ids AS MATERIALIZED (
  SELECT DISTINCT {column} FROM events WHERE {rows} AND {column} IS NOT NULL
),
known AS MATERIALIZED (
  SELECT o.{column}, o.no FROM {table} AS o WHERE o.{column} IN (SELECT {column} FROM ids)
)
SELECT {column}, no, FALSE AS new FROM known
UNION ALL
SELECT n.{column}, CAST((SELECT coalesce(max(no), 0) FROM {table})
  + row_number() OVER (ORDER BY n.{column}) AS INTEGER), TRUE
FROM ids AS n WHERE n.{column} NOT IN (SELECT {column} FROM known)""",
            params,
        )
        con.execute(f"INSERT INTO {table} SELECT {column}, no FROM {batch} WHERE new ORDER BY no")


def _drop_batch(con: duckdb.DuckDBPyConnection) -> None:
    for batch in (_BATCH_ACCOUNTS, _BATCH_PEOPLE):
        con.execute(f"DROP TABLE IF EXISTS {batch}")


def _roll_events(con: duckdb.DuckDBPyConnection, rows: str, params: dict[str, object]) -> None:
    """Append rows of the daily rollups every project reads for the events ``rows`` selects
    (the batch :func:`_number` numbered)."""
    rows = f"{rows} AND ts IS NOT NULL"
    con.execute(
        "INSERT INTO event_rollup_daily SELECT k.no, r.day, r.event, r.n, r.first_ts, r.last_ts "
        f"FROM (SELECT account_id, {_DAY} AS day, event, count(*) AS n, min(ts) AS first_ts, "
        f"max(ts) AS last_ts FROM events WHERE {rows} GROUP BY ALL) AS r {_BATCH_ACCOUNT_NO} "
        "ORDER BY r.day",
        params,
    )
    people = f"{rows} AND person_id IS NOT NULL"
    con.execute(
        "INSERT INTO event_person_daily SELECT k.no, r.day, r.event, p.no FROM ("
        f"SELECT DISTINCT account_id, {_DAY} AS day, event, person_id FROM events "
        f"WHERE {people}) AS r {_BATCH_ACCOUNT_NO} {_BATCH_PERSON_NO} ORDER BY r.day",
        params,
    )


def renumber_rollups(con: duckdb.DuckDBPyConnection) -> bool:
    """Drop rollups keyed by id text (stores before numbers); whether there were any.

    Rollups are derived from ``events``: the next refresh rebuilds them, keyed by numbers.
    The caller owns the transaction.
    """
    if not table_exists(con, "event_rollup_daily"):
        return False
    if "account_id" not in (relation_columns(con, "event_rollup_daily") or set()):
        return False
    for table in (*ROLLUP_TABLES, "rollup_state"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return True


def _clear(con: duckdb.DuckDBPyConnection) -> None:
    for table in (*ROLLUP_TABLES, "rollup_state"):
        con.execute(f"DELETE FROM {table}")


def _count(con: duckdb.DuckDBPyConnection, rows: str, params: dict[str, object]) -> int:
    row = first_row(con, f"SELECT count(*) FROM events WHERE {rows}", params)
    return int(row[0]) if row else 0


def _latest(con: duckdb.DuckDBPyConnection) -> datetime | None:
    row = first_row(con, "SELECT max(received_at) FROM events")
    return row[0] if row and isinstance(row[0], datetime) else None


def _refresh(
    con: duckdb.DuckDBPyConnection,
    project: Project | MetricSet | None,
    through: datetime | None,
) -> int:
    """The body of :func:`refresh_rollups`, inside a transaction."""
    state = rollup_state(con)
    if state is not None and received_by(con, state.mark).count != state.rolled:
        _clear(con)
        state = None
    top = utc_naive(through) if through is not None else _latest(con)
    added_specs = _specs(con, project)
    added = 0
    kept = state is not None and _person_first_kept(con)
    person_first = kept or _wants_person_first(project)
    old = "received_at <= CAST($mark AS TIMESTAMP)"
    if state is not None and added_specs:
        _roll_specs(con, added_specs, old, {"mark": state.mark})
    if person_first and not kept:
        con.execute("DELETE FROM event_person_first")
        if state is not None:
            _roll_person_first(con, old, {"mark": state.mark}, fresh=True)
        con.execute("INSERT INTO rollup_optional VALUES (?)", [PERSON_FIRST])
    if top is not None and (state is None or top > state.mark):
        rows = "received_at <= CAST($top AS TIMESTAMP)"
        params: dict[str, object] = {"top": top}
        if state is not None:
            rows += " AND received_at > CAST($mark AS TIMESTAMP)"
            params["mark"] = state.mark
        added = _count(con, rows, params)
        _number(con, rows, params)
        try:
            _roll_events(con, rows, params)
            if person_first:
                _roll_person_first(con, rows, params, fresh=state is None, batch=True)
            _roll_specs(con, None, rows, params, batch=True)
        finally:
            _drop_batch(con)
        rolled = (state.rolled if state is not None else 0) + added
        con.execute("DELETE FROM rollup_state")
        con.execute("INSERT INTO rollup_state VALUES (?, ?, ?)", [top, rolled, utc_naive(None)])
    return added


def refresh_rollups(
    con: duckdb.DuckDBPyConnection,
    project: Project | MetricSet | None = None,
    through: datetime | None = None,
) -> int:
    """Roll up the events received after the watermark, up to ``through``; events added.

    ``through`` defaults to the latest ``received_at`` in the store; the watermark never
    moves back. With a ``project``, its filtered metrics get their own daily rows
    (backfilled from the rolled events the first time); specs registered earlier are kept
    up to date by every refresh, and so is ``event_person_first`` once kept (backfilled the
    first time a refresh wants it). A watermark that no longer holds (see the module doc)
    rebuilds everything. Runs in the caller's transaction when it holds one (a run's: its
    commit writes the rollups with everything else), else in one of its own.
    """
    ensure_rollups(con)
    try:
        with joined_transaction(con):
            added = _refresh(con, project, through)
    except duckdb.Error as exc:
        raise EngineError(f"refreshing the event rollups: {exc}") from exc
    return added
