"""Milestone progress as of a time: when each gate was reached, due dates, statuses, TTFV.

:func:`milestone_progress` rebuilds ``track_enrollments`` (see
:mod:`tierline.engine.enrollment`) and then two temporary tables for the *current* stint of
every enrolled account:

``milestone_progress`` — one row per account and milestone of its track::

    account_id, track_id, milestone_id, ord, started_at, due_at, reached_at, status,
    is_ttfv, last_progress_at

``track_progress`` — one row per enrolled account (the summary)::

    account_id, track_id, level, source, timezone, started_at, onboarding_started_at,
    milestones, done, done_on_time, done_late, on_track, behind, stuck, completion,
    all_done, ttfv_at, ttfv_days, onboarding_ttfv_days, last_progress_at, stall_days,
    stalled_since, state

Semantics (all times naive UTC; only events with ``ts <= as_of`` count):

- ``reached_at`` is the moment the gate first became true, over *all* the account's events
  (so milestones reached before an upgrade carry over): ``first`` → the first matching
  event; ``count`` ≥ N → the N-th matching event's ts; ``distinct_users`` ≥ N → the moment
  the N-th distinct person first did it (events without a person do not count). A gate's
  ``properties`` are equality filters on the event's JSON properties (compared as text, or
  as numbers when the wanted value is a number: ``3`` matches ``3`` and ``3.0``).
- ``due_at`` = stint start + ``due_days`` calendar days (24 h each).
- ``last_progress_at`` = the latest of the stint start and the milestones' reached_at.
  The account is *stalled* when ``as_of >= last_progress_at + stall days`` (the track's
  ``stall.after_days``, else 14).
- ``status``: reached → ``done_on_time`` (reached_at ≤ due_at) or ``done_late``; not
  reached → ``stuck`` when the account is stalled (it takes precedence), else ``behind``
  when ``as_of >= due_at``, else ``on_track``.
- ``ttfv_days`` = (reached_at of the track's ttfv milestone − the stint start) in days (a
  float; negative when a carried-over milestone was reached before an upgrade);
  ``onboarding_ttfv_days`` counts from the account's first stint start instead.
- ``state`` (the account): ``complete`` (all milestones done), else ``stuck`` (stalled),
  else ``behind`` (a milestone past due), else ``on_track``.

A run may rebuild the tables for a scope of accounts (``accounts``, see
:mod:`tierline.engine.scope`): every account's rows depend on its own stints and events
only, so they are those a build for every account gives it.

All tracks' milestones are evaluated by ONE statement over an inline table of milestone
definitions. The gates' reached times come from the kept milestone state
(:mod:`tierline.engine.milestone_state`), brought up to date with the events received
since the last run, so a run's cost grows with new data, not with history. When the state
cannot be kept (a read-only store, events without ``received_at``), the statement joins
the definitions to all the events instead, a window function picking the N-th event (or
the N-th person's first event); both ways give identical results (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.engine.enrollment import (
    ENROLLMENT_TABLE,
    Cell,
    literal_relation,
    materialise_enrollments,
)
from tierline.engine.milestone_state import (
    REACHED_TABLE,
    gate_key,
    gate_threshold,
    milestone_state_fresh,
    property_match,
    refresh_milestone_state,
)
from tierline.engine.sqlcache import per_project
from tierline.engine.state import utc_naive
from tierline.policy.model import Project
from tierline.policy.track import Milestone, Track

__all__ = [
    "ACCOUNT_STATES",
    "DEFAULT_STALL_DAYS",
    "MILESTONE_STATUSES",
    "PROGRESS_TABLE",
    "SUMMARY_COLUMNS",
    "SUMMARY_TABLE",
    "ProgressRun",
    "milestone_progress",
    "progress_sql",
    "progress_tables",
    "property_predicate",
    "summary_sql",
]

PROGRESS_TABLE = "milestone_progress"
SUMMARY_TABLE = "track_progress"
# The columns of ``track_progress``, in order (what :func:`summary_sql` selects).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "account_id",
    "track_id",
    "level",
    "source",
    "timezone",
    "started_at",
    "onboarding_started_at",
    "milestones",
    "done",
    "done_on_time",
    "done_late",
    "on_track",
    "behind",
    "stuck",
    "completion",
    "all_done",
    "ttfv_at",
    "ttfv_days",
    "onboarding_ttfv_days",
    "last_progress_at",
    "stall_days",
    "stalled_since",
    "state",
)
DEFAULT_STALL_DAYS = 14
MILESTONE_STATUSES: tuple[str, ...] = ("done_on_time", "done_late", "on_track", "behind", "stuck")
ACCOUNT_STATES: tuple[str, ...] = ("complete", "stuck", "behind", "on_track")

_DEF_COLUMNS: tuple[tuple[str, str], ...] = (
    ("def_no", "INTEGER"),
    ("track_id", "VARCHAR"),
    ("milestone_id", "VARCHAR"),
    ("ord", "INTEGER"),
    ("event", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("at_least", "INTEGER"),
    ("due_days", "INTEGER"),
    ("is_ttfv", "BOOLEAN"),
    ("gate_key", "VARCHAR"),
)
_TRACK_COLUMNS: tuple[tuple[str, str], ...] = (("track_id", "VARCHAR"), ("stall_days", "INTEGER"))


@dataclass(frozen=True)
class ProgressRun:
    """What one :func:`milestone_progress` call built: row counts of its three tables."""

    as_of: datetime
    enrollments: int
    accounts: int
    milestones: int


def property_predicate(tracks: tuple[Track, ...]) -> exp.Expression:
    """The event filter of every gate with properties, as one CASE over ``d.def_no``."""
    case = exp.Case()
    matched = False
    for no, (_, _, milestone) in enumerate(_definitions(tracks)):
        if milestone.gate.properties:
            condition = exp.and_(*(property_match(k, v) for k, v in milestone.gate.properties))
            case = case.when(exp.column("def_no", table="d").eq(no), condition)
            matched = True
    return case.else_(exp.true()) if matched else exp.true()


def _definitions(tracks: tuple[Track, ...]) -> list[tuple[Track, int, Milestone]]:
    """Every milestone of every track with its place in the track; the list index is def_no."""
    return [(t, i, m) for t in tracks for i, m in enumerate(t.milestones)]


def _defs_relation(tracks: tuple[Track, ...]) -> str:
    rows: list[tuple[Cell, ...]] = [
        (
            no,
            t.id,
            m.id,
            i,
            m.gate.event,
            m.gate.kind,
            gate_threshold(m.gate),
            m.due_days,
            m.ttfv,
            gate_key(m.gate),
        )
        for no, (t, i, m) in enumerate(_definitions(tracks))
    ]
    return literal_relation("d", _DEF_COLUMNS, rows)


def _tracks_relation(tracks: tuple[Track, ...]) -> str:
    rows = [(t.id, t.stall.after_days if t.stall else DEFAULT_STALL_DAYS) for t in tracks]
    return literal_relation("k", _TRACK_COLUMNS, rows)


def _reached_full(predicate: str) -> str:
    """Every current stint's reached gates, from all the account's events (window functions)."""
    return f"""hits AS (
  SELECT s.account_id, d.def_no, d.kind, d.at_least, e.person_id, e.ts
  FROM stints AS s
  JOIN defs AS d ON d.track_id = s.track_id
  JOIN events AS e ON e.account_id = s.account_id AND e.event = d.event
  WHERE e.ts <= CAST($as_of AS TIMESTAMP) AND ({predicate})
),
units AS (
  SELECT account_id, def_no, at_least, ts FROM hits WHERE kind <> 'distinct_users'
  UNION ALL
  SELECT account_id, def_no, any_value(at_least), min(ts) FROM hits
  WHERE kind = 'distinct_users' AND person_id IS NOT NULL
  GROUP BY account_id, def_no, person_id
),
reached AS (
  SELECT account_id, def_no, ts AS reached_at FROM units
  QUALIFY row_number() OVER (PARTITION BY account_id, def_no ORDER BY ts) = at_least
),"""


def _reached_kept(table: str) -> str:
    """Every current stint's reached gates, read from the kept state (see milestone_state)."""
    return f"""reached AS (
  SELECT s.account_id, d.def_no, r.reached_at
  FROM stints AS s
  JOIN defs AS d ON d.track_id = s.track_id
  JOIN {table} AS r ON r.account_id = s.account_id AND r.gate_key = d.gate_key
  WHERE r.reached_at <= CAST($as_of AS TIMESTAMP)
),"""


@per_project
def progress_sql(project: Project, reached: str | None = None) -> str:
    """The one SELECT of every current stint's milestone progress (parameter ``$as_of``).

    ``reached``: a table of kept gates (``gate_key, account_id, reached_at`` over all
    events, as :mod:`tierline.engine.milestone_state` keeps it) to read instead of scanning
    the events; None scans them.
    """
    tracks = project.tracks
    gates = (
        _reached_full(property_predicate(tracks).sql(dialect="duckdb"))
        if reached is None
        else _reached_kept(reached)
    )
    return f"""
WITH defs AS (SELECT * FROM {_defs_relation(tracks)}),
stall AS (SELECT * FROM {_tracks_relation(tracks)}),
stints AS (
  SELECT account_id, track_id, started_at FROM {ENROLLMENT_TABLE} WHERE ended_at IS NULL
),
{gates}
base AS (
  SELECT s.account_id, s.track_id, d.milestone_id, d.ord, s.started_at,
    s.started_at + to_days(d.due_days) AS due_at, r.reached_at, d.is_ttfv, k.stall_days
  FROM stints AS s
  JOIN defs AS d ON d.track_id = s.track_id
  JOIN stall AS k ON k.track_id = s.track_id
  LEFT JOIN reached AS r ON r.account_id = s.account_id AND r.def_no = d.def_no
),
latest AS (SELECT account_id, max(reached_at) AS latest_at FROM reached GROUP BY account_id),
flow AS (
  SELECT base.*, greatest(base.started_at, l.latest_at) AS last_progress_at
  FROM base LEFT JOIN latest AS l ON l.account_id = base.account_id
)
SELECT account_id, track_id, milestone_id, ord, started_at, due_at, reached_at,
  CASE
    WHEN reached_at IS NOT NULL AND reached_at <= due_at THEN 'done_on_time'
    WHEN reached_at IS NOT NULL THEN 'done_late'
    WHEN CAST($as_of AS TIMESTAMP) >= last_progress_at + to_days(stall_days) THEN 'stuck'
    WHEN CAST($as_of AS TIMESTAMP) >= due_at THEN 'behind'
    ELSE 'on_track'
  END AS status,
  is_ttfv, last_progress_at
FROM flow
"""


@per_project
def summary_sql(project: Project) -> str:
    """The per-account summary of ``milestone_progress`` (parameter ``$as_of``)."""
    return f"""
WITH stall AS (SELECT * FROM {_tracks_relation(project.tracks)}),
onboarding AS (
  SELECT account_id, min(started_at) AS onboarding_started_at
  FROM {ENROLLMENT_TABLE} GROUP BY account_id
),
agg AS (
  SELECT
    s.account_id, s.track_id, s.level, s.source, s.timezone, s.started_at,
    o.onboarding_started_at,
    count(p.milestone_id) AS milestones,
    count(p.reached_at) AS done,
    count(*) FILTER (WHERE p.status = 'done_on_time') AS done_on_time,
    count(*) FILTER (WHERE p.status = 'done_late') AS done_late,
    count(*) FILTER (WHERE p.status = 'on_track') AS on_track,
    count(*) FILTER (WHERE p.status = 'behind') AS behind,
    count(*) FILTER (WHERE p.status = 'stuck') AS stuck,
    max(p.reached_at) FILTER (WHERE p.is_ttfv) AS ttfv_at,
    max(p.reached_at) AS latest_reached_at,
    coalesce(any_value(k.stall_days), {DEFAULT_STALL_DAYS}) AS stall_days
  FROM {ENROLLMENT_TABLE} AS s
  JOIN onboarding AS o ON o.account_id = s.account_id
  LEFT JOIN {PROGRESS_TABLE} AS p ON p.account_id = s.account_id
  LEFT JOIN stall AS k ON k.track_id = s.track_id
  WHERE s.ended_at IS NULL
  GROUP BY s.account_id, s.track_id, s.level, s.source, s.timezone, s.started_at,
    o.onboarding_started_at
),
rolled AS (
  SELECT *, greatest(started_at, latest_reached_at) AS last_progress_at FROM agg
)
SELECT account_id, track_id, level, source, timezone, started_at, onboarding_started_at,
  milestones, done, done_on_time, done_late, on_track, behind, stuck,
  CASE WHEN milestones > 0 THEN done / milestones END AS completion,
  done = milestones AS all_done,
  ttfv_at,
  epoch(ttfv_at - started_at) / 86400.0 AS ttfv_days,
  epoch(ttfv_at - onboarding_started_at) / 86400.0 AS onboarding_ttfv_days,
  last_progress_at,
  stall_days,
  CASE WHEN done < milestones
        AND CAST($as_of AS TIMESTAMP) >= last_progress_at + to_days(stall_days)
    THEN last_progress_at + to_days(stall_days) END AS stalled_since,
  CASE WHEN done = milestones THEN 'complete'
       WHEN stuck > 0 THEN 'stuck'
       WHEN behind > 0 THEN 'behind'
       ELSE 'on_track' END AS state
FROM rolled
"""


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def progress_tables(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    *,
    refresh: bool = True,
    kept: bool | None = None,
) -> bool:
    """Build ``milestone_progress`` and ``track_progress`` for the stints in ``track_enrollments``.

    The gates are read from the kept milestone state when it holds every event (``refresh``
    first brings it up to date, writing the state tables), else computed from the events.
    ``kept``: the caller already knows whether the state is fresh (it refreshed it in the
    same transaction): neither refresh nor check. Returns whether the kept state was used.
    """
    moment = utc_naive(as_of)
    if kept is None and refresh:
        kept = refresh_milestone_state(con, project)
    elif kept is None:
        kept = milestone_state_fresh(con, project)
    params = {"as_of": moment}
    sql = progress_sql(project, REACHED_TABLE if kept else None)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PROGRESS_TABLE} AS {sql}", params)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SUMMARY_TABLE} AS {summary_sql(project)}", params)
    return kept


def milestone_progress(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    *,
    accounts: str | None = None,
    kept: bool | None = None,
) -> ProgressRun:
    """Rebuild ``track_enrollments``, ``milestone_progress`` and ``track_progress`` as of T.

    ``accounts``: only these accounts (a relation with ``account_id``; None: every account);
    each account's rows are the same either way. ``kept``: see :func:`progress_tables`.
    """
    moment = utc_naive(as_of)
    enrollments = materialise_enrollments(con, project, moment, accounts=accounts)
    progress_tables(con, project, moment, kept=kept)
    return ProgressRun(
        as_of=moment,
        enrollments=enrollments,
        accounts=_count(con, SUMMARY_TABLE),
        milestones=_count(con, PROGRESS_TABLE),
    )
