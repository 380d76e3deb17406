"""Track enrollments as of a time: which onboarding track each account is on, since when.

``track_enrollments`` (a temporary table on the connection, rebuilt by each call of
:func:`materialise_enrollments`) holds one row per account per *stint* on a track::

    account_id, track_id, level, started_at, ended_at, source, timezone

It is derived, set-based, from the ``assignments`` history (``assigned_at <= as_of``) of
the **driving segmentation**: the first segmentation of the project, in file order, that
has a ``tracks`` mapping (outcome → track id). A project may map several segmentations to
tracks (the seed pack maps ``onboarding_track`` and possibly ``onboarding_tier``); only the
first one decides tracks, so an account is on at most one track at a time.

Reading each account's assignment rows in order (``assigned_at``, then ``id``):

- the account's first row, when it maps to a track, starts the first stint at the
  account's ``closed_won_at`` (the signing, not the moment the engine ran);
- a later row whose track differs from the one before starts a new stint at its
  ``assigned_at`` and ends the previous one there. Transitions come from ``auto_upgrade``,
  ``graduation`` and ``override`` rows (their source is kept); a policy ``reassign`` that
  changes the track starts a stint too, with source ``assignment``;
- a row whose outcome maps to no track ends the current stint without starting another;
- rows that keep the same track (a re-run, an override to an outcome on the same track)
  change nothing;
- an ``auto_upgrade`` row names its track in its explanation (``{"track": …}``), which wins
  over its outcome's mapping: an upgrade may go to a track no outcome of the driving
  segmentation maps to (self-serve → tech-touch in the seed pack keeps its outcome);
- the account's ``rule`` row (its first assignment) comes first whatever its
  ``assigned_at``: an upgrade's time is the deterministic transition time (stint start +
  the rule's days), which may precede the run that first assigned the account; an
  ``auto_upgrade`` row with no earlier visible row is ignored.

``ended_at`` is NULL for the current stint. ``timezone`` is the account's ``timezone`` in
the book as of ``as_of``, else the project's time zone. ``level`` is the track's touch level.

Every account's stints depend on its own rows only, so a run may build them for a *scope*
(``accounts``: a relation with an ``account_id`` column, e.g. the accounts an incremental
run re-derives, see :mod:`tierline.engine.scope`): the rows of those accounts are exactly
the ones a build for every account would give them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.compile.book import accounts_as_of_sql
from tierline.engine.sqlcache import per_project
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.model import Project, Segmentation

__all__ = [
    "ENROLLMENT_SOURCES",
    "ENROLLMENT_TABLE",
    "TRANSITION_SOURCES",
    "driving_segmentation",
    "enrollment_sql",
    "literal_relation",
    "literal_select",
    "materialise_enrollments",
    "scope_filter",
]

ENROLLMENT_TABLE = "track_enrollments"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

# Where a stint came from: the policy's assignment, or a transition.
ENROLLMENT_SOURCES: tuple[str, ...] = ("assignment", "auto_upgrade", "graduation", "override")

# Assignment sources that are kept as the stint's source when they start one.
TRANSITION_SOURCES: tuple[str, ...] = ("auto_upgrade", "graduation", "override")

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_id", "VARCHAR"),
    ("track_id", "VARCHAR"),
    ("level", "INTEGER"),
    ("started_at", "TIMESTAMP"),
    ("ended_at", "TIMESTAMP"),
    ("source", "VARCHAR"),
    ("timezone", "VARCHAR"),
)

Cell = str | int | float | bool | None


def _literal(value: Cell) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def literal_select(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Cell]]) -> str:
    """A typed SELECT of literal rows (no rows: an empty relation with the same columns).

    Values are quoted by sqlglot, never pasted as text. The text is memoised: a run builds
    the same policy tables (tracks, gates, touchpoints, rules) in many statements.

    >>> literal_select([("k", "VARCHAR"), ("n", "INTEGER")], [("it's", 1)])
    "SELECT CAST(k AS TEXT) AS k, CAST(n AS INT) AS n FROM (VALUES ('it''s', 1)) AS v(k, n)"
    """
    # each cell keyed with its type: True == 1 in Python, but not in SQL
    typed = tuple(tuple((type(cell).__name__, cell) for cell in row) for row in rows)
    return _literal_select(tuple((str(n), str(k)) for n, k in columns), typed)


@functools.lru_cache(maxsize=512)
def _literal_select(
    columns: tuple[tuple[str, str], ...], rows: tuple[tuple[tuple[str, Cell], ...], ...]
) -> str:
    names = [name for name, _ in columns]
    if rows:
        casts = [
            exp.alias_(exp.cast(exp.column(name), exp.DataType.build(kind)), name)
            for name, kind in columns
        ]
        source = exp.values(
            [tuple(_literal(cell) for _, cell in row) for row in rows], alias="v", columns=names
        )
        select = exp.select(*casts).from_(source)
    else:
        nulls = [
            exp.alias_(exp.cast(exp.null(), exp.DataType.build(kind)), name)
            for name, kind in columns
        ]
        select = exp.select(*nulls).where(exp.false())
    return str(select.sql(dialect="duckdb"))


def literal_relation(
    alias: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Cell]]
) -> str:
    """:func:`literal_select` as a parenthesised relation named ``alias``."""
    return f"({literal_select(columns, rows)}) AS {alias}"


def driving_segmentation(project: Project) -> Segmentation | None:
    """The segmentation whose outcomes decide tracks: the first one with a tracks mapping."""
    return next((s for s in project.segmentations if s.tracks), None)


def _track_map(project: Project, seg: Segmentation) -> str:
    levels = {t.id: t.level for t in project.tracks}
    unknown = sorted({track for _, track in seg.tracks if track not in levels})
    if unknown:
        raise EngineError(
            f"segmentation {seg.id!r} maps outcomes to tracks that no tracks/*.yaml defines: "
            + ", ".join(repr(t) for t in unknown)
        )
    rows = [(outcome, track, levels[track]) for outcome, track in seg.tracks]
    return literal_relation(
        "track_map", [("outcome", "VARCHAR"), ("track_id", "VARCHAR"), ("level", "INTEGER")], rows
    )


def _track_levels(project: Project) -> str:
    rows = [(t.id, t.level) for t in project.tracks]
    return literal_relation("track_levels", [("track_id", "VARCHAR"), ("level", "INTEGER")], rows)


def _relation_name(assignments: str) -> str:
    if not _NAME.match(assignments):
        raise EngineError(f"assignments must be a table name, not {assignments!r}")
    return assignments


def scope_filter(column: str, accounts: str | None) -> str:
    """``AND <column> IN (the scope's account ids)``, or nothing without a scope.

    ``accounts``: a table name, or a parenthesised SELECT, with an ``account_id`` column.
    """
    if accounts is None:
        return ""
    if not (_NAME.match(accounts) or (accounts.startswith("(") and accounts.endswith(")"))):
        raise EngineError(f"a scope must be a table name or a parenthesised SELECT: {accounts!r}")
    return f" AND {column} IN (SELECT account_id FROM {accounts})"


@per_project
def enrollment_sql(
    project: Project, assignments: str = "assignments", accounts: str | None = None
) -> str:
    """The SELECT of every track stint as of ``$as_of`` (parameters ``$as_of``, ``$tz``).

    ``assignments``: the table of assignment rows to read (a scratch copy for a dry run).
    ``accounts``: only these accounts' stints (a relation with ``account_id``; None: all).
    """
    seg = driving_segmentation(project)
    if seg is None:
        return literal_select(_COLUMNS, [])
    source = _relation_name(assignments)
    only = scope_filter("a.account_id", accounts)
    book = accounts_as_of_sql("CAST($as_of AS TIMESTAMP)", accounts)
    transitions = ", ".join(f"'{s}'" for s in TRANSITION_SOURCES)
    seg_id = exp.Literal.string(seg.id).sql(dialect="duckdb")
    return f"""
WITH mapped AS (
  SELECT a.id, a.account_id, a.assigned_at, a.source,
    CASE WHEN a.source = 'auto_upgrade'
      THEN coalesce(json_extract_string(a.explanation, '$.track'), track_map.track_id)
      ELSE track_map.track_id END AS track_id,
    CASE WHEN a.source = 'rule' THEN 0 ELSE 1 END AS phase
  FROM {source} AS a
  LEFT JOIN {_track_map(project, seg)} ON track_map.outcome = a.outcome
  WHERE a.segmentation = {seg_id} AND a.assigned_at <= CAST($as_of AS TIMESTAMP){only}
),
based AS (
  SELECT m.*, track_levels.level,
    count(*) FILTER (WHERE m.source <> 'auto_upgrade') OVER (
      PARTITION BY m.account_id ORDER BY m.phase, m.assigned_at, m.id
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS base_rows
  FROM mapped AS m
  LEFT JOIN {_track_levels(project)} ON track_levels.track_id = m.track_id
),
rows_seen AS (
  SELECT * FROM based WHERE source <> 'auto_upgrade' OR base_rows > 0
),
ordered AS (
  SELECT *,
    row_number() OVER w AS n,
    lag(track_id) OVER w AS prev_track
  FROM rows_seen
  WINDOW w AS (PARTITION BY account_id ORDER BY phase, assigned_at, id)
),
changes AS (
  SELECT *,
    lead(assigned_at) OVER (PARTITION BY account_id ORDER BY phase, assigned_at, id) AS next_at
  FROM ordered
  WHERE n = 1 OR track_id IS DISTINCT FROM prev_track
)
SELECT
  c.account_id,
  c.track_id,
  c.level,
  CASE WHEN c.n = 1 THEN coalesce(b.closed_won_at, c.assigned_at)
    ELSE c.assigned_at END AS started_at,
  c.next_at AS ended_at,
  CASE WHEN c.source IN ({transitions}) THEN c.source ELSE 'assignment' END AS source,
  coalesce(b.timezone, $tz) AS timezone
FROM changes AS c
JOIN {book} AS b ON b.id = c.account_id
WHERE c.track_id IS NOT NULL
"""


def materialise_enrollments(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    *,
    assignments: str = "assignments",
    accounts: str | None = None,
) -> int:
    """(Re)build the temporary table ``track_enrollments`` as of ``as_of``; its row count.

    ``accounts``: only these accounts' stints (see :func:`enrollment_sql`).
    """
    params = {"as_of": utc_naive(as_of), "tz": project.timezone}
    sql = enrollment_sql(project, assignments, accounts)
    if driving_segmentation(project) is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ENROLLMENT_TABLE} AS {sql}")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ENROLLMENT_TABLE} AS {sql}", params)
    row = con.execute(f"SELECT count(*) FROM {ENROLLMENT_TABLE}").fetchone()
    return int(row[0]) if row else 0
