"""Incremental runs: which accounts a run must re-derive, and what it keeps for the next one.

A full run (:func:`tierline.engine.run.run`) derives everything for every account: stints,
milestones, transitions, CSM picks, every touch since each account signed, and then
anti-joins all of those candidates with the outbox. Most of that was decided by the
previous run already. A run is *incremental* when the previous run recorded in this store
(the one that wrote ``run_state``, dry runs never do) has the same policy version, an
``as_of`` T0 at or before this run's T, and the store's inputs still hold what it read
(see "consistency" below). It then re-derives only the accounts in its *scope*, the temp
table ``run_scope(account_id, dirty, derive)``:

- **dirty** accounts (``dirty``, ``derive``): their inputs changed since the previous run,
  so what it decided for them may be incomplete: an ``assignments`` row recorded after it
  (a newly assigned account, an approved override, a reassignment; ids above the largest
  one it saw) or taking effect after T0 (``assigned_at`` in (T0, T]); an account version
  loaded in (T0, T]; an event received after it (``received_at`` past its mark) with
  ``ts <= T0`` that moved a milestone gate reached by T0 (the kept gate's ``reached_at``
  is at or after the event, and at or before T0). Every candidate of a dirty account is
  compared with the outbox, whatever its due time.
- **woken** accounts (``derive``): something of theirs falls due in (T0, T] by the
  previous run's own reckoning: ``run_accounts.wake_at <= T`` (below), a milestone gate
  first reached in (T0, T] (a reached gate can cancel touches, end a stall, prevent an
  upgrade, complete the track), or a CSM they need that no pool could give them then
  (``csm_wanted``: capacity may have freed up). Of a woken account, only candidates due in
  (T0, T] are compared with the outbox (touchpoints, stalls, upgrades; CSM picks and
  graduation requests always): those due by T0 were decided by the previous run.
- **graduation** accounts (neither): the current stint is complete on a track with a
  ``graduate`` rule. Their condition reads metrics, which move with time, so every run
  re-evaluates it, with fresh metrics and the stint's summary kept in ``run_graduates``
  (a complete stint's summary no longer changes: every milestone is reached, its times can
  only move with a late event, which makes the account dirty); nothing else is rebuilt.

Every other account is *clean*: nothing of its inputs changed and nothing of it falls due
by T, so a full run at T would add nothing for it. Why: its stints are those of T0 (a
stint changes only with an assignment row, recorded or taking effect after T0: dirty, or
with an upgrade due in (T0, T]: woken); no gate was reached in (T0, T] and none moved at or
before T0 (dirty), so every milestone time a run at T reads (``reached_at <= T``) is the
one the previous run read; touches due by T0 are the previous run's (an ended stint keeps
only those due before it ended, at or before T0; the occurrence series counts from the
anchor; ``unless`` and ``until`` read the same milestones), and the first touch due after
T0 is its ``wake_at``; a stall's time (last progress + the rule's days) and an upgrade's
(stint start + the rule's days) are deterministic, and the ones after T0 are in
``wake_at`` too; its CSM need was settled (picked: the outbox holds it; not placed:
``csm_wanted``). Graduation is re-evaluated for every account that could graduate.

Every run (full or incremental, dry or not, inside its transaction) leaves, in persistent
tables it creates on first use:

``run_accounts`` — one row per account with a current stint, as of the run that last
re-derived it::

    account_id, track_id, started_at, wake_at, stall_at, graduate, csm_wanted

``wake_at``: the earliest of the next live touch of the current stint due after that run's
``as_of``, the stall time (when after it; the track has a stall rule, the stint is not
complete) and the upgrade time (when after it, the missed milestone not reached);
``stall_at``: the stall time, whenever it is (a run at T counts ``stall_at <= T`` as
stalled accounts); ``graduate``: complete on a track with a graduate rule; ``csm_wanted``:
needs a CSM and got none. A full run rewrites every row (and ``run_graduates``'), an
incremental one the rows of the accounts it re-derived (``derive``).

``run_graduates`` — the ``track_progress`` row (plus ``last_reached_at``, its latest
milestone) of every account with ``graduate``, as of the run that last re-derived it.

``run_state`` — one row: the run (``run_id``, ``as_of``, ``policy_version``, the
:data:`FORMAT` of these tables) and what it read: the largest ``assignments.id``, how many
account versions were loaded by its ``as_of`` and the kept milestone state's mark
(``events_mark``, ``events_applied``, ``events_ts_sum``; see
:mod:`tierline.engine.milestone_state`).

Consistency: a run is full when there is no ``run_state`` (the first run, or a store from
before incremental runs), the policy version or :data:`FORMAT` differs, ``as_of`` is
before T0, the kept milestone state is not usable (:func:`plan_scope` is told), account
versions loaded by T0 were added or removed since, or the events received by the previous
mark are not the ones it applied (the milestone state's count and sum of ``ts`` must be
those of the previous run plus exactly the events received since), or ``run_graduates``
has other columns than ``track_progress`` (plus ``last_reached_at``). A full run then
writes the tables anew, so the next run can be incremental again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import duckdb

from tierline.engine.connection import first_row, table_exists
from tierline.engine.csm import PLAN_TABLE as CSM_PLAN_TABLE
from tierline.engine.enrollment import Cell, driving_segmentation, literal_relation
from tierline.engine.graduation import graduating_tracks
from tierline.engine.milestone import PROGRESS_TABLE, SUMMARY_COLUMNS, SUMMARY_TABLE
from tierline.engine.milestone_state import REACHED_TABLE, project_gates
from tierline.engine.sqlcache import per_project
from tierline.engine.touchpoint import FULL_SCHEDULE_TABLE
from tierline.engine.upgrade import upgrade_wake_sql
from tierline.policy.model import Project, Segmentation

__all__ = [
    "ACCOUNTS_TABLE",
    "FORMAT",
    "GRADUATES_TABLE",
    "SCOPE_SQL",
    "SCOPE_TABLE",
    "STATE_TABLE",
    "Recorded",
    "Scope",
    "ensure_scope_tables",
    "plan_scope",
    "record_scope",
]

SCOPE_TABLE = "run_scope"
LATE_TABLE = "run_scope_late"  # temporary, while run_scope is built
STATE_TABLE = "run_state"
ACCOUNTS_TABLE = "run_accounts"
GRADUATES_TABLE = "run_graduates"
# The layout and meaning of the tables kept: a change makes the next run full (once).
FORMAT: Final = 1
_GRADUATE_COLUMNS = (*SUMMARY_COLUMNS, "last_reached_at")

SCOPE_SQL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
  format INTEGER NOT NULL,
  run_id VARCHAR NOT NULL,
  as_of TIMESTAMP NOT NULL,
  policy_version VARCHAR NOT NULL,
  assignments_id BIGINT,
  versions BIGINT NOT NULL,
  events_mark TIMESTAMP,
  events_applied BIGINT,
  events_ts_sum HUGEINT,
  recorded_at TIMESTAMP NOT NULL
)""",
    f"""CREATE TABLE IF NOT EXISTS {ACCOUNTS_TABLE} (
  account_id VARCHAR NOT NULL,
  track_id VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL,
  wake_at TIMESTAMP,
  stall_at TIMESTAMP,
  graduate BOOLEAN NOT NULL,
  csm_wanted BOOLEAN NOT NULL
)""",
)


@dataclass(frozen=True)
class Scope:
    """How a run derives: in full, or incrementally since ``since`` over ``run_scope``.

    ``reason`` says why a run is full ("" when incremental); ``dirty``, ``derived`` and
    ``graduation`` count the scope's accounts (dirty ones, all those re-derived, and those
    only re-evaluated for graduation).
    """

    incremental: bool
    since: datetime | None = None
    reason: str = ""
    dirty: int = 0
    derived: int = 0
    graduation: int = 0

    @property
    def accounts(self) -> str | None:
        """The relation of every account in scope (transitions are decided for them)."""
        return SCOPE_TABLE if self.incremental else None

    @property
    def derive(self) -> str | None:
        """The relation of the accounts the run re-derives (stints, milestones, touches)."""
        return f"(SELECT account_id FROM {SCOPE_TABLE} WHERE derive)" if self.incremental else None

    @property
    def recent(self) -> str | None:
        """The woken accounts: of these only candidates due after ``since`` can be new."""
        if not self.incremental:
            return None
        return f"(SELECT account_id FROM {SCOPE_TABLE} WHERE derive AND NOT dirty)"

    @property
    def graduates(self) -> str | None:
        """The kept complete stints of the accounts in scope that the run does not rebuild."""
        if not self.incremental:
            return None
        return (
            f"(SELECT * FROM {GRADUATES_TABLE} WHERE account_id IN "
            f"(SELECT account_id FROM {SCOPE_TABLE} WHERE NOT derive))"
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (recorded in ``runs.counts``)."""
        return {
            "incremental": self.incremental,
            "since": None if self.since is None else self.since.isoformat() + "Z",
            "full_because": self.reason or None,
            "dirty": self.dirty,
            "derived": self.derived,
            "graduation": self.graduation,
        }


def ensure_scope_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``run_state`` and ``run_accounts`` when missing."""
    for ddl in SCOPE_SQL:
        con.execute(ddl)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    return tuple(first_row(con, sql, params) or ())


@dataclass(frozen=True)
class _Previous:
    format: int
    as_of: datetime
    policy_version: str
    assignments_id: int
    versions: int
    mark: datetime | None
    applied: int | None
    ts_sum: int


def _previous(con: duckdb.DuckDBPyConnection) -> _Previous | None:
    row = _one(
        con,
        "SELECT format, as_of, policy_version, assignments_id, versions, events_mark, "
        f"events_applied, events_ts_sum FROM {STATE_TABLE}",
    )
    if not row:
        return None
    return _Previous(
        int(row[0]),
        row[1],
        str(row[2]),
        int(row[3] or 0),
        int(row[4]),
        row[5] if isinstance(row[5], datetime) else None,
        None if row[6] is None else int(row[6]),
        int(row[7] or 0),
    )


def _milestone_mark(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, int | None, int]:
    """The kept milestone state's (mark, applied, ts_sum) (see milestone_state).

    ``applied`` is None when the state is missing.
    """
    exists = table_exists(con, "milestone_state")
    row = _one(con, "SELECT mark, applied, ts_sum FROM milestone_state") if exists else ()
    if not row:
        return None, None, 0
    return (row[0] if isinstance(row[0], datetime) else None, int(row[1] or 0), int(row[2] or 0))


def _events_hold(con: duckdb.DuckDBPyConnection, prev: _Previous) -> bool:
    """The events received by the previous mark are those it applied (none added or gone)."""
    mark, applied, ts_sum = _milestone_mark(con)
    if prev.applied is None or applied is None:
        return False
    if prev.mark is not None and (mark is None or mark < prev.mark):
        return False
    row = _one(
        con,
        "SELECT count(*), coalesce(sum(epoch_us(ts)), 0) FROM events "
        "WHERE ($prev IS NULL OR received_at > CAST($prev AS TIMESTAMP)) "
        "AND received_at <= CAST($mark AS TIMESTAMP)",
        {"prev": prev.mark, "mark": mark},
    )
    added, added_sum = (int(row[0]), int(row[1])) if row else (0, 0)
    return applied == prev.applied + added and ts_sum == prev.ts_sum + added_sum


def _why_full(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    kept: bool,
    prev: _Previous | None,
) -> str:
    if prev is None:
        return "no previous run"
    if prev.format != FORMAT:
        return "the previous run kept its state in another format"
    if prev.policy_version != project.version:
        return "the policy version changed"
    if as_of < prev.as_of:
        return "as_of is before the previous run's"
    if not kept:
        return "the kept milestone state is not usable"
    row = _one(
        con,
        "SELECT count(*) FROM account_versions WHERE loaded_at <= CAST(? AS TIMESTAMP)",
        [prev.as_of],
    )
    if not row or int(row[0]) != prev.versions:
        return "account versions loaded before the previous run were added or removed"
    if not _events_hold(con, prev):
        return "events received before the previous run were added or removed"
    columns = [
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
            "AND database_name = current_database() AND schema_name = current_schema() "
            "ORDER BY column_index",
            [GRADUATES_TABLE],
        ).fetchall()
    ]
    if tuple(columns) != _GRADUATE_COLUMNS:
        return "the previous run kept its state in another format"
    return ""


def _gate_events(project: Project) -> str:
    rows: list[tuple[Cell, ...]] = [(g.key, g.gate.event) for g in project_gates(project)]
    return literal_relation("g", (("gate_key", "VARCHAR"), ("event", "VARCHAR")), rows)


@per_project
def _late_sql(project: Project) -> str:
    """The gate events received after the previous run's mark that happened by its as_of
    (parameters ``$mark``, ``$since``)."""
    return f"""
SELECT e.account_id, g.gate_key, e.ts FROM events AS e
JOIN {_gate_events(project)} ON g.event = e.event
WHERE ($mark IS NULL OR e.received_at > CAST($mark AS TIMESTAMP))
  AND e.ts <= CAST($since AS TIMESTAMP)
"""


# The SELECT of ``run_scope`` (parameters ``$since``, ``$as_of``, ``$max_id``), once
# LATE_TABLE holds _late_sql's rows.
_SCOPE_SQL = f"""
WITH dirty AS (
  SELECT account_id FROM assignments
  WHERE id > $max_id
    OR (assigned_at > CAST($since AS TIMESTAMP) AND assigned_at <= CAST($as_of AS TIMESTAMP))
  UNION
  SELECT id FROM account_versions
  WHERE loaded_at > CAST($since AS TIMESTAMP) AND loaded_at <= CAST($as_of AS TIMESTAMP)
  UNION
  SELECT l.account_id FROM {LATE_TABLE} AS l
  JOIN {REACHED_TABLE} AS r ON r.gate_key = l.gate_key AND r.account_id = l.account_id
  WHERE r.reached_at <= CAST($since AS TIMESTAMP) AND r.reached_at >= l.ts
),
woken AS (
  SELECT account_id FROM {ACCOUNTS_TABLE}
  WHERE wake_at <= CAST($as_of AS TIMESTAMP) OR csm_wanted
  UNION
  SELECT account_id FROM {REACHED_TABLE}
  WHERE reached_at > CAST($since AS TIMESTAMP) AND reached_at <= CAST($as_of AS TIMESTAMP)
),
members AS (
  SELECT account_id, TRUE AS dirty, TRUE AS derive FROM dirty
  UNION ALL
  SELECT account_id, FALSE, TRUE FROM woken
  UNION ALL
  SELECT account_id, FALSE, FALSE FROM {ACCOUNTS_TABLE} WHERE graduate
)
SELECT account_id, bool_or(dirty) AS dirty, bool_or(derive) AS derive
FROM members WHERE account_id IS NOT NULL
GROUP BY account_id
"""


def plan_scope(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    *,
    kept: bool,
    allow: bool = True,
) -> Scope:
    """Decide whether the run at ``as_of`` is incremental; if so, build ``run_scope``.

    ``kept``: the kept milestone state is fresh (the run refreshed it); ``allow=False``
    forces a full run. Call after the run assigned new accounts (their rows make them
    dirty) and before anything is derived.
    """
    ensure_scope_tables(con)
    prev = _previous(con)
    reason = "a full run was asked for" if not allow else _why_full(con, project, as_of, kept, prev)
    if reason or prev is None:
        con.execute(f"DROP TABLE IF EXISTS {SCOPE_TABLE}")
        return Scope(incremental=False, reason=reason or "no previous run")
    params = {"since": prev.as_of, "as_of": as_of, "max_id": prev.assignments_id}
    # the late events first, in a table of their own: with their exact count (a few
    # thousand a day) the join with the kept gates hashes them, not the gates
    late = {"mark": prev.mark, "since": prev.as_of}
    con.execute(f"CREATE OR REPLACE TEMP TABLE {LATE_TABLE} AS {_late_sql(project)}", late)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {SCOPE_TABLE} AS {_SCOPE_SQL}", params)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {LATE_TABLE}")
    counts = _one(
        con,
        "SELECT count(*) FILTER (WHERE dirty), count(*) FILTER (WHERE derive), "
        f"count(*) FILTER (WHERE NOT derive) FROM {SCOPE_TABLE}",
    )
    return Scope(
        incremental=True,
        since=prev.as_of,
        dirty=int(counts[0]),
        derived=int(counts[1]),
        graduation=int(counts[2]),
    )


def _names(values: tuple[str, ...]) -> str:
    return literal_relation("n", (("track_id", "VARCHAR"),), [(v,) for v in values])


@per_project
def _accounts_sql(project: Project, seg: Segmentation | None, derive: str | None) -> str:
    """The ``run_accounts`` rows of the re-derived accounts (parameter ``$as_of``)."""
    stall_tracks = tuple(t.id for t in project.tracks if t.stall is not None)
    only = "" if derive is None else f"WHERE p.account_id IN (SELECT account_id FROM {derive})"
    upgrades = (
        upgrade_wake_sql(project, seg)
        if seg is not None
        else "SELECT CAST(NULL AS VARCHAR) AS account_id, "
        "CAST(NULL AS TIMESTAMP) AS upgrade_at WHERE FALSE"
    )
    return f"""
WITH touch AS (
  SELECT account_id, min(due_at) AS touch_at FROM {FULL_SCHEDULE_TABLE}
  WHERE is_current AND NOT cancelled AND due_at > CAST($as_of AS TIMESTAMP)
  GROUP BY account_id
),
stall AS (
  SELECT p.account_id, p.last_progress_at + to_days(p.stall_days) AS stall_at
  FROM {SUMMARY_TABLE} AS p JOIN {_names(stall_tracks)} ON n.track_id = p.track_id
  WHERE NOT p.all_done
),
upgrade AS ({upgrades}),
wanted AS (SELECT DISTINCT account_id FROM {CSM_PLAN_TABLE} WHERE problem IS NOT NULL)
SELECT p.account_id, p.track_id, p.started_at,
  least(
    t.touch_at,
    CASE WHEN s.stall_at > CAST($as_of AS TIMESTAMP) THEN s.stall_at END,
    u.upgrade_at
  ) AS wake_at,
  s.stall_at,
  p.all_done AND p.track_id IN (SELECT track_id FROM {_names(graduating_tracks(project))})
    AS graduate,
  w.account_id IS NOT NULL AS csm_wanted
FROM {SUMMARY_TABLE} AS p
LEFT JOIN touch AS t ON t.account_id = p.account_id
LEFT JOIN stall AS s ON s.account_id = p.account_id
LEFT JOIN upgrade AS u ON u.account_id = p.account_id
LEFT JOIN wanted AS w ON w.account_id = p.account_id
{only}
"""


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_scope` counted over ``run_accounts`` after the run."""

    enrolled: int
    stalled: int


def record_scope(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    run_id: str,
    scope: Scope,
    recorded_at: datetime,
    *,
    kept: bool,
) -> Recorded:
    """Bring ``run_accounts`` and ``run_state`` up to this run (see the module docstring).

    Needs the run's ``track_progress``, ``milestone_progress``, ``touchpoint_schedule_all``
    and ``csm_plan``. Returns the accounts on a track and the stalled ones, as of ``as_of``.
    """
    ensure_scope_tables(con)
    seg = driving_segmentation(project)
    sql = _accounts_sql(project, seg, scope.derive)
    graduates = f"""
SELECT p.*, r.last_reached_at FROM {SUMMARY_TABLE} AS p
LEFT JOIN (
  SELECT account_id, max(reached_at) AS last_reached_at FROM {PROGRESS_TABLE} GROUP BY account_id
) AS r ON r.account_id = p.account_id
WHERE p.all_done AND p.track_id IN (SELECT track_id FROM {_names(graduating_tracks(project))})
ORDER BY p.account_id
"""
    if scope.incremental:
        for table in (ACCOUNTS_TABLE, GRADUATES_TABLE):
            con.execute(
                f"DELETE FROM {table} WHERE account_id IN "
                f"(SELECT account_id FROM {SCOPE_TABLE} WHERE derive)"
            )
        con.execute(f"INSERT INTO {GRADUATES_TABLE} {graduates}")
    else:
        con.execute(f"DELETE FROM {ACCOUNTS_TABLE}")
        con.execute(f"CREATE OR REPLACE TABLE {GRADUATES_TABLE} AS {graduates}")
    con.execute(f"INSERT INTO {ACCOUNTS_TABLE} {sql} ORDER BY p.account_id", {"as_of": as_of})
    mark, applied, ts_sum = _milestone_mark(con)
    if not kept:
        applied = None  # the run did not read the kept state: the next one runs in full
    top = _one(con, "SELECT max(id) FROM assignments")
    versions = _one(
        con,
        "SELECT count(*) FROM account_versions WHERE loaded_at <= CAST(? AS TIMESTAMP)",
        [as_of],
    )
    con.execute(f"DELETE FROM {STATE_TABLE}")
    con.execute(
        f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            FORMAT,
            run_id,
            as_of,
            project.version,
            top[0] if top else None,
            int(versions[0]) if versions else 0,
            mark,
            applied,
            ts_sum,
            recorded_at,
        ],
    )
    counts = _one(
        con,
        "SELECT count(*), count(*) FILTER (WHERE stall_at <= CAST(? AS TIMESTAMP)) "
        f"FROM {ACCOUNTS_TABLE}",
        [as_of],
    )
    return Recorded(enrolled=int(counts[0]), stalled=int(counts[1]))
