"""Incremental milestone gates: when each gate was reached, kept up to date as events arrive.

A gate's ``reached_at`` over *all* of an account's events never moves later as events
arrive, and the gate as of any time ``T`` is reached exactly when that ``reached_at`` is at
or before ``T`` (the N-th smallest timestamp is at or before ``T`` only if N events are).
So the state is independent of ``as_of``, and a run reads it with one filter.

What is kept, per gate *definition* (``kind``, ``event``, threshold N, ``properties``;
identical gates of several tracks share one key) and account, in persistent tables:

- ``milestone_units(gate_key, account_id, person_id, ts)``: at most N *units*, the N
  earliest ones: for ``first`` and ``count`` the N earliest matching events' ts; for
  ``distinct_users`` the N people who first did it earliest, with that first time;
- ``milestone_reached(gate_key, account_id, reached_at)``: the N-th unit's ts, for the
  pairs that have N units;
- ``milestone_gates(gate_key, event, kind, at_least)``: the gates kept so far;
- ``milestone_state(mark, applied, ts_sum, refreshed_at)``: one row; every event with
  ``received_at <= mark`` is applied; ``applied`` counts them and ``ts_sum`` sums their ts
  (microseconds), a cheap fingerprint of what was applied.

Why N units suffice, even for late events (old ``ts``, new ``received_at``): the N smallest
units of (old ∪ new) are among (the N smallest old units) ∪ (the new units). For
``distinct_users`` a person already seen but not kept has a first time at or after the
N-th kept one, so meeting them again as "new" cannot change the N smallest either.

:func:`refresh_milestone_state` applies only the events received after the mark: their
units are merged with the kept units of the (gate, account) pairs they touch (pairs whose
gate was reached before every new unit are skipped), all in a few set-based statements.
A gate new to the state is backfilled from the applied events once; gates no longer in
the project are dropped. When the applied events no longer match the mark (events
deleted, or stored later with an old ``received_at``) the state is rebuilt from scratch.
Events without ``received_at`` cannot be placed relative to the mark: while the store
holds any, the state is not used and milestones are computed in full.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.engine.connection import first_row, joined_transaction, read_only, table_exists
from tierline.engine.enrollment import Cell, literal_relation
from tierline.engine.received import Received, received_by
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.policy.track import Gate

__all__ = [
    "REACHED_TABLE",
    "STATE_TABLES",
    "GateDef",
    "clear_milestone_state",
    "gate_key",
    "gate_threshold",
    "milestone_state_fresh",
    "project_gates",
    "property_match",
    "refresh_milestone_state",
]

REACHED_TABLE = "milestone_reached"
STATE_TABLES = ("milestone_state", "milestone_gates", "milestone_units", REACHED_TABLE)
_DDL = (
    "CREATE TABLE IF NOT EXISTS milestone_state (mark TIMESTAMP, applied BIGINT NOT NULL, "
    "ts_sum HUGEINT, refreshed_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS milestone_gates (gate_key VARCHAR, event VARCHAR, "
    "kind VARCHAR, at_least INTEGER)",
    "CREATE TABLE IF NOT EXISTS milestone_units (gate_key VARCHAR, account_id VARCHAR, "
    "person_id VARCHAR, ts TIMESTAMP)",
    f"CREATE TABLE IF NOT EXISTS {REACHED_TABLE} (gate_key VARCHAR, account_id VARCHAR, "
    "reached_at TIMESTAMP)",
)
_GATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("gate_no", "INTEGER"),
    ("gate_key", "VARCHAR"),
    ("event", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("at_least", "INTEGER"),
)
_SCRATCH = ("milestone_new", "milestone_touched", "milestone_merged")


@dataclass(frozen=True)
class GateDef:
    """One gate definition of the project, with its state key and threshold N."""

    key: str
    gate: Gate

    @property
    def threshold(self) -> int:
        """N: how many units reach the gate (1 for ``first``)."""
        return gate_threshold(self.gate)


def gate_threshold(gate: Gate) -> int:
    """How many units (events or people) reach ``gate``: 1 for ``first``, else ``at_least``."""
    return 1 if gate.kind == "first" else max(1, gate.at_least)


def gate_key(gate: Gate) -> str:
    """The state key of a gate: its kind, event, threshold and property filters, as JSON."""
    props = [[k, v] for k, v in gate.properties]
    return json.dumps([gate.kind, gate.event, gate_threshold(gate), props], separators=(",", ":"))


def project_gates(project: Project) -> tuple[GateDef, ...]:
    """The distinct gate definitions of every track's milestones, in file order."""
    seen: dict[str, GateDef] = {}
    for track in project.tracks:
        for milestone in track.milestones:
            key = gate_key(milestone.gate)
            seen.setdefault(key, GateDef(key, milestone.gate))
    return tuple(seen.values())


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def property_match(key: str, value: str) -> exp.Expression:
    """``e.properties`` has ``key`` equal to ``value`` (as text, or as a number if one)."""
    got = exp.func(
        "json_extract_string",
        exp.column("properties", table="e"),
        exp.Literal.string(_json_pointer(key)),
    )
    text_eq: exp.Expression = got.eq(exp.Literal.string(value))
    number = _number(value)
    if number is None:
        return text_eq
    numeric = exp.TryCast(this=got.copy(), to=exp.DataType.build("DOUBLE")).eq(
        exp.Literal.number(number)
    )
    return exp.Paren(this=exp.Or(this=text_eq, expression=numeric))


def _gates_relation(gates: Sequence[GateDef]) -> str:
    rows: list[tuple[Cell, ...]] = [
        (no, g.key, g.gate.event, g.gate.kind, g.threshold) for no, g in enumerate(gates)
    ]
    return literal_relation("g", _GATE_COLUMNS, rows)


def _gate_predicate(gates: Sequence[GateDef]) -> str:
    """The property filters of the gates that have some, as one CASE over ``g.gate_no``."""
    case = exp.Case()
    matched = False
    for no, g in enumerate(gates):
        if g.gate.properties:
            condition = exp.and_(*(property_match(k, v) for k, v in g.gate.properties))
            case = case.when(exp.column("gate_no", table="g").eq(no), condition)
            matched = True
    predicate = case.else_(exp.true()) if matched else exp.true()
    return str(predicate.sql(dialect="duckdb"))


@dataclass(frozen=True)
class _Mark:
    mark: datetime | None
    applied: int
    ts_sum: int | None


def _mark(con: duckdb.DuckDBPyConnection) -> _Mark | None:
    row = first_row(con, "SELECT mark, applied, ts_sum FROM milestone_state")
    if row is None:
        return None
    return _Mark(
        row[0] if isinstance(row[0], datetime) else None,
        int(row[1]),
        None if row[2] is None else int(row[2]),
    )


def _holds(mark: _Mark, print_: Received) -> bool:
    return mark.applied == print_.count and mark.ts_sum == print_.ts_sum


def _registered(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT gate_key FROM milestone_gates").fetchall()}


def milestone_state_fresh(con: duckdb.DuckDBPyConnection, project: Project) -> bool:
    """True when ``milestone_reached`` holds every event and every gate of ``project``."""
    if not table_exists(con, "milestone_state"):
        return False
    mark = _mark(con)
    if mark is None:
        return False
    print_ = received_by(con, mark.mark, sums=True)
    if print_.unplaced or not _holds(mark, print_):
        return False
    if print_.latest is not None and (mark.mark is None or print_.latest > mark.mark):
        return False
    return {g.key for g in project_gates(project)} <= _registered(con)


def clear_milestone_state(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the kept milestone state (the next refresh rebuilds it)."""
    for table in STATE_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _units_sql(gates: Sequence[GateDef], rows: str, skip_reached: bool) -> str:
    """The SELECT of the N earliest new units per (gate, account) of the events ``rows``."""
    reached = (
        f"LEFT JOIN {REACHED_TABLE} AS r ON r.gate_key = u.gate_key "
        "AND r.account_id = u.account_id WHERE r.reached_at IS NULL OR u.ts < r.reached_at"
        if skip_reached
        else ""
    )
    return f"""
WITH hits AS (
  SELECT g.gate_key, g.kind, g.at_least, e.account_id, e.person_id, e.ts
  FROM events AS e JOIN {_gates_relation(gates)} ON g.event = e.event
  WHERE ({rows}) AND e.ts IS NOT NULL AND e.account_id IS NOT NULL
    AND ({_gate_predicate(gates)})
),
units AS (
  SELECT gate_key, at_least, account_id, CAST(NULL AS VARCHAR) AS person_id, ts
  FROM hits WHERE kind <> 'distinct_users'
  UNION ALL
  SELECT gate_key, any_value(at_least), account_id, person_id, min(ts) FROM hits
  WHERE kind = 'distinct_users' AND person_id IS NOT NULL
  GROUP BY gate_key, account_id, person_id
)
SELECT u.gate_key, u.account_id, u.person_id, u.ts, u.at_least FROM units AS u
{reached}
QUALIFY row_number() OVER (PARTITION BY u.gate_key, u.account_id ORDER BY u.ts, u.person_id)
  <= u.at_least
"""


def _merged_sql(gates: Sequence[GateDef]) -> str:
    """The N earliest units of each touched pair, from its kept units and the new ones."""
    return f"""
WITH g AS (SELECT * FROM {_gates_relation(gates)}),
both_units AS (
  SELECT gate_key, account_id, person_id, ts FROM milestone_new
  UNION ALL
  SELECT o.gate_key, o.account_id, o.person_id, o.ts FROM milestone_units AS o
  SEMI JOIN milestone_touched AS t ON t.gate_key = o.gate_key AND t.account_id = o.account_id
),
per AS (
  SELECT b.gate_key, b.account_id, b.person_id, min(b.ts) AS ts FROM both_units AS b
  JOIN g ON g.gate_key = b.gate_key WHERE g.kind = 'distinct_users'
  GROUP BY b.gate_key, b.account_id, b.person_id
  UNION ALL
  SELECT b.gate_key, b.account_id, b.person_id, b.ts FROM both_units AS b
  JOIN g ON g.gate_key = b.gate_key WHERE g.kind <> 'distinct_users'
)
SELECT per.gate_key, per.account_id, per.person_id, per.ts, g.at_least
FROM per JOIN g ON g.gate_key = per.gate_key
QUALIFY row_number() OVER (PARTITION BY per.gate_key, per.account_id
  ORDER BY per.ts, per.person_id) <= g.at_least
"""


def _write(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Append ``source``'s units and the pairs they reach."""
    con.execute(
        f"INSERT INTO milestone_units SELECT gate_key, account_id, person_id, ts FROM {source} "
        "ORDER BY gate_key, account_id"
    )
    con.execute(
        f"INSERT INTO {REACHED_TABLE} SELECT gate_key, account_id, max(ts) FROM {source} "
        "GROUP BY gate_key, account_id HAVING count(*) >= any_value(at_least)"
    )


def _apply(
    con: duckdb.DuckDBPyConnection,
    gates: Sequence[GateDef],
    rows: str,
    params: dict[str, object],
    *,
    merge: bool,
) -> None:
    """Fold the events ``rows`` selects into the kept units of ``gates``.

    ``merge=False`` when none of these gates has kept units yet (a first build, a backfill).
    """
    if not gates:
        return
    units = _units_sql(gates, rows, skip_reached=merge)
    con.execute(f"CREATE OR REPLACE TEMP TABLE milestone_new AS {units}", params)
    try:
        if not merge:
            _write(con, "milestone_new")
            return
        con.execute(
            "CREATE OR REPLACE TEMP TABLE milestone_touched AS "
            "SELECT DISTINCT gate_key, account_id FROM milestone_new"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE milestone_merged AS {_merged_sql(gates)}")
        for table in ("milestone_units", REACHED_TABLE):
            con.execute(
                f"DELETE FROM {table} USING milestone_touched AS t "
                f"WHERE {table}.gate_key = t.gate_key AND {table}.account_id = t.account_id"
            )
        _write(con, "milestone_merged")
    finally:
        for table in _SCRATCH:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _sync_gates(con: duckdb.DuckDBPyConnection, gates: Sequence[GateDef]) -> tuple[GateDef, ...]:
    """Drop the state of gates the project no longer has; register and return the new ones."""
    keys = [g.key for g in gates]
    known = _registered(con)
    stale = known - set(keys)
    if stale:
        con.execute("CREATE OR REPLACE TEMP TABLE milestone_stale (gate_key VARCHAR)")
        con.executemany("INSERT INTO milestone_stale VALUES (?)", [[k] for k in sorted(stale)])
        for table in ("milestone_gates", "milestone_units", REACHED_TABLE):
            con.execute(
                f"DELETE FROM {table} WHERE gate_key IN (SELECT gate_key FROM milestone_stale)"
            )
        con.execute("DROP TABLE milestone_stale")
    added = tuple(g for g in gates if g.key not in known)
    if added:
        con.executemany(
            "INSERT INTO milestone_gates VALUES (?, ?, ?, ?)",
            [[g.key, g.gate.event, g.gate.kind, g.threshold] for g in added],
        )
    return added


def _refresh(con: duckdb.DuckDBPyConnection, project: Project) -> bool:
    for ddl in _DDL:
        con.execute(ddl)
    mark = _mark(con)
    print_ = received_by(con, None if mark is None else mark.mark, sums=True)
    if print_.unplaced:
        return False
    if mark is None or not _holds(mark, print_):
        for table in STATE_TABLES:  # a first build, or a rebuild: start from empty tables
            con.execute(f"DELETE FROM {table}")
        mark = None
    gates = project_gates(project)
    added = _sync_gates(con, gates)
    if mark is not None and mark.mark is not None and added:
        _apply(
            con, added, "received_at <= CAST($mark AS TIMESTAMP)", {"mark": mark.mark}, merge=False
        )
    top = print_.latest
    if mark is None or (top is not None and (mark.mark is None or top > mark.mark)):
        params: dict[str, object] = {"top": top}
        rows = "received_at <= CAST($top AS TIMESTAMP)"
        first_build = mark is None or mark.mark is None
        if not first_build and mark is not None:
            rows += " AND received_at > CAST($mark AS TIMESTAMP)"
            params["mark"] = mark.mark
        _apply(con, gates, rows, params, merge=not first_build)
        # The fingerprint at the new mark: the one at the old mark (just checked) plus the
        # events received since, a scan the zone maps of received_at keep to the new rows.
        added_rows = first_row(
            con, f"SELECT count(*), sum(epoch_us(ts)) FROM events WHERE {rows}", params
        )
        applied, ts_sum = (0, None) if first_build else (print_.count, print_.ts_sum)
        if added_rows is not None:
            applied += int(added_rows[0])
            if added_rows[1] is not None:
                ts_sum = (ts_sum or 0) + int(added_rows[1])
        con.execute("DELETE FROM milestone_state")
        con.execute(
            "INSERT INTO milestone_state VALUES (?, ?, ?, ?)",
            [top, applied, ts_sum, utc_naive(None)],
        )
    return True


def refresh_milestone_state(con: duckdb.DuckDBPyConnection, project: Project) -> bool:
    """Apply the events received since the mark; True when ``milestone_reached`` is usable.

    False (and nothing written) when the store is read-only or holds events without
    ``received_at``: the caller then computes the gates in full. Runs in its own
    transaction unless the caller holds one.
    """
    if read_only(con):
        return False
    try:
        with joined_transaction(con):
            usable = _refresh(con, project)
    except duckdb.Error as exc:
        raise EngineError(f"refreshing the milestone state: {exc}") from exc
    return usable
