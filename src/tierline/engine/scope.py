"""Incremental runs: which accounts a run must re-derive, and what it keeps for the next one.

A full run (:func:`tierline.engine.run.run`) derives everything for every account: stints,
milestones, transitions, CSM picks, every touch since each account signed, and then
anti-joins all of those candidates with the outbox. Most of that was decided by the
previous run already. A run is *incremental* when the previous run recorded in this store
(the one that wrote ``run_state``, dry runs never do) has the same policy version, an
``as_of`` T0 at or before this run's T, and the store's inputs still hold what it read
(see "consistency" below). It then re-derives only the accounts in its *scope*, the temp
table ``run_scope(account_id, dirty, derive, touch)``:

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
- **kept-touch** accounts (in ``run_scope_touch``, and in ``run_scope`` only as graduation
  accounts, below): woken only because a touch falls due (``wake_at <= T``), with nothing
  else of theirs due or changed: not dirty, no gate reached in (T0, T], no CSM wanted, no
  stall time in (T0, T], no upgrade time by T, and T before ``touch_until``. They are not
  re-derived at all: their candidates are their kept touches (``run_touches``) due in
  (T0, T], and their ``wake_at`` moves to the next kept touch. Why that is what a
  derivation would give: the touches due after the run that last derived the account were
  computed from its stints and the milestones reached by then, and neither changed since
  (a change makes the account dirty or woken by a gate, and so derived); a schedule lists
  every occurrence of a repeating touch up to a few after its ``as_of`` and marks the last
  one of a series it cut short (``series_end`` of
  :func:`tierline.engine.touchpoint.schedule_sql`): up to ``touch_until``, the earliest
  such mark, the kept touches are every touch there is. An account whose kept touches run
  out (``touch_until <= T``; ``wake_at`` is at most ``touch_until``) is derived again.
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

    account_id, track_id, started_at, wake_at, stall_at, upgrade_at, touch_until,
    graduate, csm_wanted

``wake_at``: the earliest of the next live touch of the current stint due after that run's
``as_of``, the stall time (when after it; the track has a stall rule, the stint is not
complete), the upgrade time (``upgrade_at``: when after it, the missed milestone not
reached) and ``touch_until`` (the kept touches are complete up to it; NULL: complete for
good); a run that delivers an account's kept touches moves its ``wake_at`` on the same
way; ``stall_at``: the stall time, whenever it is (a run at T counts ``stall_at <= T`` as
stalled accounts); ``graduate``: complete on a track with a graduate rule; ``csm_wanted``:
needs a CSM and got none. A full run rewrites every row (and ``run_graduates``' and
``run_touches``'), an incremental one the rows of the accounts it re-derived (``derive``).

``run_touches`` — the live (not cancelled) touches of each account's current stint due
after the run that last derived it: ``account_id, rule, episode, kind, due_at, payload``.

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
has other columns than ``track_progress`` (plus ``last_reached_at``), or ``run_touches`` is
missing. A full run then writes the tables anew (in the current layout), so the next run
can be incremental again.
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
    "TOUCHES_TABLE",
    "TOUCH_SCOPE_TABLE",
    "Recorded",
    "Scope",
    "assigned_since",
    "ensure_scope_tables",
    "plan_scope",
    "record_scope",
]

SCOPE_TABLE = "run_scope"
TOUCH_SCOPE_TABLE = "run_scope_touch"
LATE_TABLE = "run_scope_late"  # temporary, while run_scope is built
STATE_TABLE = "run_state"
ACCOUNTS_TABLE = "run_accounts"
GRADUATES_TABLE = "run_graduates"
TOUCHES_TABLE = "run_touches"
# The layout and meaning of the tables kept: a change makes the next run full (once).
FORMAT: Final = 2
_GRADUATE_COLUMNS = (*SUMMARY_COLUMNS, "last_reached_at")

_ACCOUNTS_DDL = f"""{ACCOUNTS_TABLE} (
  account_id VARCHAR NOT NULL,
  track_id VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL,
  wake_at TIMESTAMP,
  stall_at TIMESTAMP,
  upgrade_at TIMESTAMP,
  touch_until TIMESTAMP,
  graduate BOOLEAN NOT NULL,
  csm_wanted BOOLEAN NOT NULL
)"""
_TOUCHES_DDL = f"""{TOUCHES_TABLE} (
  account_id VARCHAR NOT NULL,
  rule VARCHAR NOT NULL,
  episode VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  due_at TIMESTAMP NOT NULL,
  payload VARCHAR
)"""

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
    f"CREATE TABLE IF NOT EXISTS {_ACCOUNTS_DDL}",
    f"CREATE TABLE IF NOT EXISTS {_TOUCHES_DDL}",
)


@dataclass(frozen=True)
class Scope:
    """How a run derives: in full, or incrementally since ``since`` over ``run_scope``.

    ``reason`` says why a run is full ("" when incremental); ``dirty``, ``derived`` and
    ``graduation`` count the scope's accounts (dirty ones, all those re-derived, and those
    only re-evaluated for graduation); ``touched`` the accounts whose kept touches the run
    delivers without deriving them.
    """

    incremental: bool
    since: datetime | None = None
    reason: str = ""
    dirty: int = 0
    derived: int = 0
    graduation: int = 0
    touched: int = 0

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

    @property
    def kept_touches(self) -> str | None:
        """The touch candidates of the accounts woken only by a kept touch (see the module
        docstring): their kept occurrences due in (``since``, ``$as_of``], as a SELECT of
        the candidate columns (parameter ``$as_of``; None for a full run)."""
        if not self.incremental or self.since is None:
            return None
        return (
            "SELECT t.rule, t.account_id, t.episode, t.kind, t.due_at, t.payload "
            f"FROM {TOUCHES_TABLE} AS t JOIN {TOUCH_SCOPE_TABLE} AS k "
            "ON k.account_id = t.account_id "
            f"WHERE t.due_at > TIMESTAMP '{self.since:%Y-%m-%d %H:%M:%S.%f}' "
            "AND t.due_at <= CAST($as_of AS TIMESTAMP)"
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
            "kept_touches": self.touched,
        }


def ensure_scope_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``run_state``, ``run_accounts`` and ``run_touches`` when missing."""
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


def assigned_since(
    con: duckdb.DuckDBPyConnection, project: Project, as_of: datetime
) -> datetime | None:
    """The previous run's ``as_of`` when its assignment decisions still hold at ``as_of``.

    They hold when the previous run (see :func:`plan_scope`) ran this policy version, in
    the kept state's format, at or before ``as_of``, and the account versions loaded by
    its ``as_of`` are still the ones it saw (none added or removed since): every account
    then had the book row it has now unless it was closed-won or given a version after
    that time (see :func:`tierline.engine.assign.assign_accounts`). None otherwise.
    """
    if not table_exists(con, STATE_TABLE):
        return None
    prev = _previous(con)
    if prev is None or prev.format != FORMAT or prev.policy_version != project.version:
        return None
    if as_of < prev.as_of:
        return None
    row = _one(
        con,
        "SELECT count(*) FROM account_versions WHERE loaded_at <= CAST(? AS TIMESTAMP)",
        [prev.as_of],
    )
    return prev.as_of if row and int(row[0]) == prev.versions else None


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
    if not table_exists(con, TOUCHES_TABLE):
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
due AS (
  SELECT account_id, csm_wanted OR NOT (
      (touch_until IS NULL OR touch_until > CAST($as_of AS TIMESTAMP))
      AND (upgrade_at IS NULL OR upgrade_at > CAST($as_of AS TIMESTAMP))
      AND NOT coalesce(stall_at > CAST($since AS TIMESTAMP)
        AND stall_at <= CAST($as_of AS TIMESTAMP), FALSE)
    ) AS derive
  FROM {ACCOUNTS_TABLE}
  WHERE wake_at <= CAST($as_of AS TIMESTAMP) OR csm_wanted
),
reached AS (
  SELECT DISTINCT account_id FROM {REACHED_TABLE}
  WHERE reached_at > CAST($since AS TIMESTAMP) AND reached_at <= CAST($as_of AS TIMESTAMP)
),
members AS (
  SELECT account_id, TRUE AS dirty, TRUE AS derive, FALSE AS touch FROM dirty
  UNION ALL
  SELECT account_id, FALSE, derive, NOT derive FROM due
  UNION ALL
  SELECT account_id, FALSE, TRUE, FALSE FROM reached
  UNION ALL
  SELECT account_id, FALSE, FALSE, FALSE FROM {ACCOUNTS_TABLE} WHERE graduate
)
SELECT account_id, bool_or(dirty) AS dirty, bool_or(derive) AS derive,
  bool_or(touch) AND NOT bool_or(derive) AS touch
FROM members WHERE account_id IS NOT NULL
GROUP BY account_id
"""
_GRADUATE_ONLY = f"(SELECT account_id FROM {ACCOUNTS_TABLE} WHERE graduate)"


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
    # the accounts woken only by a kept touch: nothing of theirs is derived (they stay in
    # run_scope only when their graduation is re-evaluated)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {TOUCH_SCOPE_TABLE} AS "
        f"SELECT account_id FROM {SCOPE_TABLE} WHERE touch"
    )
    con.execute(f"DELETE FROM {SCOPE_TABLE} WHERE touch AND account_id NOT IN {_GRADUATE_ONLY}")
    counts = _one(
        con,
        "SELECT count(*) FILTER (WHERE dirty), count(*) FILTER (WHERE derive), "
        f"count(*) FILTER (WHERE NOT derive), (SELECT count(*) FROM {TOUCH_SCOPE_TABLE}) "
        f"FROM {SCOPE_TABLE}",
    )
    return Scope(
        incremental=True,
        since=prev.as_of,
        dirty=int(counts[0]),
        derived=int(counts[1]),
        graduation=int(counts[2]),
        touched=int(counts[3]),
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
  SELECT account_id,
    min(due_at) FILTER (WHERE NOT cancelled AND due_at > CAST($as_of AS TIMESTAMP))
      AS touch_at,
    min(due_at) FILTER (WHERE series_end) AS touch_until
  FROM {FULL_SCHEDULE_TABLE}
  WHERE is_current AND (series_end OR (NOT cancelled AND due_at > CAST($as_of AS TIMESTAMP)))
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
    u.upgrade_at,
    t.touch_until
  ) AS wake_at,
  s.stall_at,
  u.upgrade_at,
  t.touch_until,
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


# The live touches of the re-derived accounts' current stints due after the run, kept for
# the runs that only deliver them (the schedule holds only re-derived accounts).
_KEEP_TOUCHES = f"""
INSERT INTO {TOUCHES_TABLE}
SELECT account_id, rule, episode, kind, due_at, payload FROM {FULL_SCHEDULE_TABLE}
WHERE is_current AND NOT cancelled AND due_at > CAST($as_of AS TIMESTAMP)
"""

# The accounts whose kept touches were delivered wake at their next kept touch (or when
# their stall or upgrade falls due, or their kept touches run out), as a derivation would
# have it: nothing else of theirs changed.
_WAKE_TOUCHED = f"""
UPDATE {ACCOUNTS_TABLE} AS a SET wake_at = least(
    n.touch_at,
    CASE WHEN a.stall_at > CAST($as_of AS TIMESTAMP) THEN a.stall_at END,
    a.upgrade_at,
    a.touch_until
  )
FROM (
  SELECT k.account_id, min(t.due_at) AS touch_at FROM {TOUCH_SCOPE_TABLE} AS k
  LEFT JOIN {TOUCHES_TABLE} AS t ON t.account_id = k.account_id
    AND t.due_at > CAST($as_of AS TIMESTAMP)
  GROUP BY k.account_id
) AS n
WHERE a.account_id = n.account_id
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
    moment = {"as_of": as_of}
    if scope.incremental:
        for table in (ACCOUNTS_TABLE, GRADUATES_TABLE, TOUCHES_TABLE):
            con.execute(
                f"DELETE FROM {table} WHERE account_id IN "
                f"(SELECT account_id FROM {SCOPE_TABLE} WHERE derive)"
            )
        con.execute(f"INSERT INTO {GRADUATES_TABLE} {graduates}")
        con.execute(_WAKE_TOUCHED, moment)
    else:
        con.execute(f"CREATE OR REPLACE TABLE {_ACCOUNTS_DDL}")
        con.execute(f"CREATE OR REPLACE TABLE {_TOUCHES_DDL}")
        con.execute(f"CREATE OR REPLACE TABLE {GRADUATES_TABLE} AS {graduates}")
    con.execute(f"INSERT INTO {ACCOUNTS_TABLE} {sql} ORDER BY p.account_id", moment)
    con.execute(_KEEP_TOUCHES, moment)
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
