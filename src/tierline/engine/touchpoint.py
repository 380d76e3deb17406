"""Touchpoint schedules: every track's scheduled touches, as action candidates, in one query.

Inputs on the connection (built by :mod:`tierline.engine.milestone`, or crafted by tests):

- ``track_enrollments`` (``account_id, track_id, started_at, ended_at, timezone``): every
  stint of an account is scheduled; an *ended* stint (``ended_at`` set, e.g. left by an
  upgrade) keeps only its occurrences due strictly before ``ended_at``, so touches that fell
  due before an upgrade are emitted even when no run happened between their due time and the
  upgrade (a day-by-day backtest and one later run agree);
- ``milestone_progress`` (``account_id, track_id, milestone_id, reached_at``): when each
  milestone of the current track was reached (NULL: not yet; only ``reached_at <= as_of``
  counts);
- ``events`` (``account_id, event, person_id, ts, properties``): the gates of an ended
  stint's track that is not the account's current one are evaluated here, as
  :mod:`tierline.engine.milestone` does (over all the account's events, ``ts <= as_of``);
  when the kept milestone state is fresh (:mod:`tierline.engine.milestone_state`) their
  reached times are read from it instead: the same times, without scanning the events.

Semantics (times naive UTC; offsets in the stint's ``timezone``, else the project's; see
:mod:`tierline.engine.calendar` for hours / days / weeks / business days):

- a one-off touch (``due``) is due ``due`` after its anchor; a repeating one (``every``) is
  due at ``anchor + k·every`` for k = 1, 2, … (each occurrence counted from the anchor, so
  business days and DST never drift), at most ``max_occurrences`` (60) of them;
- the anchor is the stint start, or (``after: <touchpoint>``) the due time of that one-off
  touchpoint; a touch counted from one that is cancelled (``unless``) is not scheduled;
- ``for_`` keeps occurrences due at or before ``anchor + for_``; ``until`` drops those due
  at or after the moment ``all milestones`` were done (the latest reached_at, once every
  milestone of the track is reached) or the named milestone was reached;
- ``unless`` cancels an occurrence when every listed milestone was reached at or before
  its due time (the row stays in the schedule with ``cancelled = true``).

``episode`` is the occurrence number (``"1"``, ``"2"``, …), or ``"s<k>-<n>"`` on the
account's k-th stint (k ≥ 2) on the same track, so a re-entered track schedules anew while
re-runs produce the same episodes (an ended stint keeps the episodes it had while
current). ``rule`` is ``touchpoint:<track>/<touchpoint>``; ``payload`` a JSON object with
``track``, ``touchpoint``, ``to``, ``template`` / ``text`` / ``channel`` (when set) and
``optional``.

``touchpoint_schedule_all`` holds every stint's occurrences (column ``is_current``: the
stint is the account's current one); ``touchpoint_schedule`` is its view of current stints only,
and ``next_touchpoints`` reads only current stints.

All tracks and touchpoints are scheduled by ONE statement: an inline table of touchpoint
definitions joined to the stints, occurrences unnested from ``range()`` (sized by how many
steps fit before ``as_of``, plus the next ones), and one CTE level per ``after:`` depth.

An incremental run (:mod:`tierline.engine.scope`) schedules only the accounts it
re-derives (``accounts``), and of those whose inputs did not change only the touches due
after the previous run (``recent``, ``since``): their stints that ended by then are left
out, and a repeating touch that anchors no other starts at the first occurrence that may
be due after ``since`` (k steps span at most k·u + c days: an upper bound per unit, the
mirror of the lower bound that sizes the series), keeping its occurrence numbers. Every
occurrence due after ``since`` is then exactly the one the whole schedule has (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.engine.calendar import shift, step_days, to_local, unknown_zones
from tierline.engine.enrollment import ENROLLMENT_TABLE, Cell, literal_relation, scope_filter
from tierline.engine.milestone import PROGRESS_TABLE, property_predicate
from tierline.engine.milestone_state import REACHED_TABLE, gate_key, milestone_state_fresh
from tierline.engine.sqlcache import per_project
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.policy.track import Touchpoint, Track

__all__ = [
    "CANDIDATES_TABLE",
    "CANDIDATE_COLUMNS",
    "FULL_SCHEDULE_TABLE",
    "MAX_OCCURRENCES",
    "SCHEDULE_BATCH",
    "SCHEDULE_TABLE",
    "UPCOMING_TABLE",
    "TouchpointRun",
    "candidate_select",
    "candidate_sql",
    "materialise_touchpoints",
    "schedule_sql",
    "touchpoint_depths",
    "touchpoint_rule",
    "upcoming_select",
    "upcoming_sql",
]

SCHEDULE_TABLE = "touchpoint_schedule"
FULL_SCHEDULE_TABLE = "touchpoint_schedule_all"
CANDIDATES_TABLE = "touchpoint_candidates"
UPCOMING_TABLE = "next_touchpoints"
MAX_OCCURRENCES = 60
# A book with more stints than this gets its schedule built in batches of about as many
# accounts (by a hash of the id), one INSERT each: a million accounts' schedule in one
# statement needs more than a 3 GB memory limit, a batch a fraction of it.
SCHEDULE_BATCH = 250_000
# The ``until`` word for "when every milestone of the track is done" (the track model's value).
ALL_MILESTONES = "all milestones"
CANDIDATE_COLUMNS: tuple[str, ...] = ("rule", "account_id", "episode", "kind", "due_at", "payload")

_AS_OF = "CAST($as_of AS TIMESTAMP)"

_DEF_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tp_no", "INTEGER"),
    ("track_id", "VARCHAR"),
    ("touchpoint_id", "VARCHAR"),
    ("depth", "INTEGER"),
    ("after_no", "INTEGER"),
    ("due_amount", "INTEGER"),
    ("due_unit", "VARCHAR"),
    ("every_amount", "INTEGER"),
    ("every_unit", "VARCHAR"),
    ("for_amount", "INTEGER"),
    ("for_unit", "VARCHAR"),
    ("until_kind", "VARCHAR"),
    ("until_milestone", "VARCHAR"),
    ("rule", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("payload", "VARCHAR"),
    ("optional", "BOOLEAN"),
    ("anchors", "BOOLEAN"),
)
_UNLESS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tp_no", "INTEGER"),
    ("track_id", "VARCHAR"),
    ("milestone_id", "VARCHAR"),
)
_TRACK_COLUMNS: tuple[tuple[str, str], ...] = (("track_id", "VARCHAR"), ("milestones", "INTEGER"))
_GATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("def_no", "INTEGER"),
    ("track_id", "VARCHAR"),
    ("milestone_id", "VARCHAR"),
    ("event", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("at_least", "INTEGER"),
    ("gate_key", "VARCHAR"),
)

# The per-account columns every level of the schedule carries along (the static ones, such as
# the payload, are joined back from ``defs`` at the end, so the occurrence series stays narrow).
_PLAN = "account_id, tp_no, zone, ordinal, ended_at, until_at, unless_at, since_at"

# Per step of ``every``: an upper bound of its span in days, and of the slack of k steps
# (k steps span at most k·u + c days): a DST change moves local steps by an hour; k·n
# business days span at most 7·k·n/5 + 9 days. Occurrences k·u + c before a moment are
# certainly before it (the mirror of calendar.step_days, a lower bound, for the end).
_SPAN_UPPER = (
    "CASE every_unit WHEN 'hours' THEN every_amount / 24.0 WHEN 'days' THEN every_amount * 1.0 "
    "WHEN 'weeks' THEN every_amount * 7.0 ELSE every_amount * 7.0 / 5 END"
)
_SPAN_SLACK = "(CASE every_unit WHEN 'business_days' THEN 9.0 ELSE 0.0 END + 1.0 / 24)"


@dataclass(frozen=True)
class TouchpointRun:
    """What one :func:`materialise_touchpoints` call built: row counts of its tables.

    ``scheduled`` counts every stint's occurrences (``touchpoint_schedule_all``).
    """

    as_of: datetime
    scheduled: int
    candidates: int
    upcoming: int


def touchpoint_rule(track: Track, touchpoint: Touchpoint) -> str:
    """The candidate ``rule`` of a touchpoint: ``touchpoint:<track>/<touchpoint>``."""
    return f"touchpoint:{track.id}/{touchpoint.id}"


def touchpoint_depths(track: Track) -> dict[str, int]:
    """How many ``after:`` links separate each touchpoint from the start (0: the start).

    Raises EngineError for an ``after:`` naming no touchpoint of the track, or a cycle.
    """
    by_id = {t.id: t for t in track.touchpoints}
    depths: dict[str, int] = {}
    for tp in track.touchpoints:
        chain: list[str] = []
        current = tp
        while current.after != "start" and current.id not in depths:
            if current.id in chain:
                loop = " → ".join([*chain, current.id])
                raise EngineError(f"track {track.id!r}: touchpoints form a cycle: {loop}")
            chain.append(current.id)
            anchor = by_id.get(current.after)
            if anchor is None:
                raise EngineError(
                    f"track {track.id!r}: touchpoint {current.id!r} is after "
                    f"{current.after!r}, which is no touchpoint of the track"
                )
            current = anchor
        depth = depths.get(current.id, 0)
        for tid in reversed(chain):
            depth += 1
            depths[tid] = depth
        depths.setdefault(current.id, 0)
    return depths


def _payload(track: Track, tp: Touchpoint) -> str:
    body: dict[str, object] = {"track": track.id, "touchpoint": tp.id, "to": tp.action.to}
    for key in ("template", "text", "channel"):
        value = getattr(tp.action, key)
        if value is not None:
            body[key] = value
    body["optional"] = tp.optional
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _definitions(tracks: tuple[Track, ...]) -> tuple[list[list[Cell]], list[list[Cell]], int]:
    rows: list[list[Cell]] = []
    unless: list[list[Cell]] = []
    numbers: dict[tuple[str, str], int] = {}
    for track in tracks:
        for tp in track.touchpoints:
            numbers[(track.id, tp.id)] = len(numbers)
    anchors = {(track.id, tp.after) for track in tracks for tp in track.touchpoints}
    max_depth = 0
    for track in tracks:
        depths = touchpoint_depths(track)
        for tp in track.touchpoints:
            no = numbers[(track.id, tp.id)]
            max_depth = max(max_depth, depths[tp.id])
            if tp.until is None:
                until_kind, until_milestone = None, None
            elif tp.until.strip().lower() == ALL_MILESTONES:
                until_kind, until_milestone = "all", None
            else:
                until_kind, until_milestone = "milestone", tp.until
            rows.append(
                [
                    no,
                    track.id,
                    tp.id,
                    depths[tp.id],
                    None if tp.after == "start" else numbers[(track.id, tp.after)],
                    tp.due.amount if tp.due else None,
                    tp.due.unit if tp.due else None,
                    tp.every.amount if tp.every else None,
                    tp.every.unit if tp.every else None,
                    tp.for_.amount if tp.for_ else None,
                    tp.for_.unit if tp.for_ else None,
                    until_kind,
                    until_milestone,
                    touchpoint_rule(track, tp),
                    tp.action.kind,
                    _payload(track, tp),
                    tp.optional,
                    (track.id, tp.id) in anchors,
                ]
            )
            unless.extend([no, track.id, mid] for mid in dict.fromkeys(tp.unless))
            if tp.due is None and tp.every is None:
                raise EngineError(
                    f"track {track.id!r}: touchpoint {tp.id!r} has neither `due` nor `every`"
                )
            named = {m.id for m in track.milestones}
            unknown = [m for m in (*tp.unless, until_milestone) if m and m not in named]
            if unknown:
                raise EngineError(
                    f"track {track.id!r}: touchpoint {tp.id!r} names unknown milestone(s) "
                    + ", ".join(repr(m) for m in unknown)
                )
            if tp.every is not None and tp.every.amount <= 0:
                raise EngineError(
                    f"track {track.id!r}: touchpoint {tp.id!r} repeats every {tp.every}"
                )
    return rows, unless, max_depth


def _sql(e: exp.Expression) -> str:
    return str(e.sql(dialect="duckdb"))


def _col(name: str) -> exp.Expression:
    return exp.column(name)


def _level(depth: int, max_occurrences: int) -> str:
    """The CTEs of one ``after:`` depth: anchors, the occurrence series, due times."""
    cols = ", ".join(f"p.{c.strip()}" for c in _PLAN.split(","))
    if depth == 0:
        source, anchor = "plan AS p", "p.started_at"
    else:
        source = (
            f"plan AS p JOIN occ_{depth - 1} AS o ON o.account_id = p.account_id "
            "AND o.tp_no = p.after_no AND o.ordinal = p.ordinal AND o.occurrence = 1 "
            "AND NOT o.cancelled"
        )
        anchor = "o.due_at"
    zone = _col("zone")
    base_at = _sql(shift(_col("anchor_at"), _col("due_amount"), _col("due_unit"), zone))
    window_end = _sql(shift(_col("anchor_at"), _col("for_amount"), _col("for_unit"), zone))
    step = _sql(step_days(_col("every_amount"), _col("every_unit")))
    # occurrences needed: those up to the earliest of as_of, the for-window and the until
    # moment, plus the next ones (a DST change moves a step by an hour at most)
    horizon = f"least({_AS_OF}, window_end, until_at, ended_at)"
    steps = f"CAST(floor(greatest(epoch({horizon} - base_at), 0) / 86400.0 / {step}) AS BIGINT)"
    multiple = exp.Mul(
        this=exp.paren(exp.Sub(this=_col("occurrence"), expression=_col("first_step"))),
        expression=_col("every_amount"),
    )
    due_at = _sql(shift(_col("base_at"), multiple, _col("every_unit"), zone, local="base_local"))
    # with ``since_at`` (only occurrences after it are wanted), a repeating touch that
    # anchors none starts at the first occurrence that may be due after it
    before = f"floor((epoch(since_at - base_at) / 86400.0 - {_SPAN_SLACK}) / {_SPAN_UPPER})"
    first = (
        "CASE WHEN since_at IS NULL OR every_amount IS NULL OR anchors THEN 1 "
        f"ELSE CAST(greatest(1, first_step + {before}) AS BIGINT) END"
    )
    return f"""
anchor_{depth} AS (
  SELECT {cols}, {anchor} AS anchor_at, d.due_amount, d.due_unit, d.every_amount,
    d.every_unit, d.for_amount, d.for_unit, d.anchors
  FROM {source} JOIN defs AS d ON d.tp_no = p.tp_no
  WHERE p.depth = {depth}
),
base_{depth} AS MATERIALIZED (
  SELECT {_PLAN}, every_amount, every_unit, anchors,
    CASE WHEN due_amount IS NULL THEN 0 ELSE 1 END AS first_step,
    CASE WHEN due_amount IS NULL THEN anchor_at ELSE {base_at} END AS base_at,
    CASE WHEN for_amount IS NULL THEN NULL ELSE {window_end} END AS window_end
  FROM anchor_{depth}
),
series_{depth} AS (
  SELECT *, {_sql(to_local(_col("base_at"), zone))} AS base_local,
    unnest(range({first}, CASE WHEN every_amount IS NULL THEN 1
      ELSE least({max_occurrences}, {steps} + 3) END + 1)) AS occurrence,
    CASE WHEN every_amount IS NOT NULL AND {steps} + 3 < {max_occurrences}
      THEN {steps} + 3 END AS cut_at
  FROM base_{depth}
),
due_{depth} AS MATERIALIZED (
  SELECT account_id, tp_no, ordinal, ended_at, until_at, unless_at, window_end, occurrence,
    CASE WHEN every_amount IS NULL THEN base_at ELSE {due_at} END AS due_at,
    coalesce(occurrence = cut_at, false) AS series_end
  FROM series_{depth}
),
occ_{depth} AS (
  SELECT account_id, tp_no, ordinal, ended_at, occurrence, due_at,
    coalesce(unless_at <= due_at, false) AS cancelled, series_end
  FROM due_{depth}
  WHERE (window_end IS NULL OR due_at <= window_end)
    AND (until_at IS NULL OR due_at < until_at)
    AND (ended_at IS NULL OR due_at < ended_at)
)"""


def _gates(project: Project) -> tuple[str, str]:
    """The milestone gates of tracks whose touchpoints read milestones, and their filter.

    ``def_no`` numbers every milestone of every track in order, as
    :func:`tierline.engine.milestone.property_predicate` does, so its CASE applies as is.
    """
    rows: list[list[Cell]] = []
    no = 0
    for track in project.tracks:
        reads = any(tp.until is not None or tp.unless for tp in track.touchpoints)
        for milestone in track.milestones:
            gate = milestone.gate
            if reads:
                at_least = 1 if gate.kind == "first" else max(1, gate.at_least)
                key = gate_key(gate)
                rows.append([no, track.id, milestone.id, gate.event, gate.kind, at_least, key])
            no += 1
    predicate = _sql(property_predicate(project.tracks))
    return literal_relation("g", _GATE_COLUMNS, rows), predicate


def _past_reach_kept() -> str:
    """``past_reach`` read from the kept milestone state (the same times, no event scan)."""
    return f"""
past_reach AS (
  SELECT p.account_id, d.track_id, d.milestone_id, r.reached_at
  FROM past AS p
  JOIN gate_defs AS d ON d.track_id = p.track_id
  JOIN {REACHED_TABLE} AS r ON r.account_id = p.account_id AND r.gate_key = d.gate_key
  WHERE r.reached_at <= {_AS_OF}
),"""


def _reach_sql(project: Project, kept: bool = False) -> str:
    """CTEs ending in ``reach(account_id, track_id, milestone_id, reached_at)``.

    The current stint's track reads ``milestone_progress``; the track of an ended stint that
    is not the current one evaluates its gates over ``events`` (the milestone semantics:
    ``first``, the N-th event, the N-th distinct person's first event), for those accounts,
    or (``kept``) reads them from the kept milestone state
    (:mod:`tierline.engine.milestone_state`), which holds the same times.
    """
    gates, predicate = _gates(project)
    past_reach = (
        _past_reach_kept()
        if kept
        else f"""
past_hits AS (
  SELECT p.account_id, d.track_id, d.milestone_id, d.kind, d.at_least, e.person_id, e.ts
  FROM past AS p
  JOIN gate_defs AS d ON d.track_id = p.track_id
  JOIN events AS e ON e.account_id = p.account_id AND e.event = d.event
  WHERE e.ts <= {_AS_OF} AND ({predicate})
),
past_units AS (
  SELECT account_id, track_id, milestone_id, at_least, ts FROM past_hits
  WHERE kind <> 'distinct_users'
  UNION ALL
  SELECT account_id, track_id, milestone_id, any_value(at_least), min(ts) FROM past_hits
  WHERE kind = 'distinct_users' AND person_id IS NOT NULL
  GROUP BY account_id, track_id, milestone_id, person_id
),
past_reach AS (
  SELECT account_id, track_id, milestone_id, ts AS reached_at FROM past_units
  QUALIFY row_number() OVER (
    PARTITION BY account_id, track_id, milestone_id ORDER BY ts) = at_least
),"""
    )
    return f"""
gate_defs AS (SELECT * FROM {gates}),
current_reach AS (
  SELECT p.account_id, p.track_id, p.milestone_id, min(p.reached_at) AS reached_at
  FROM {PROGRESS_TABLE} AS p
  JOIN stints AS s ON s.account_id = p.account_id AND s.track_id = p.track_id
    AND s.ended_at IS NULL
  WHERE p.reached_at IS NOT NULL AND p.reached_at <= {_AS_OF}
  GROUP BY p.account_id, p.track_id, p.milestone_id
),
past AS (
  SELECT DISTINCT s.account_id, s.track_id FROM stints AS s
  WHERE s.ended_at IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM stints AS c
    WHERE c.ended_at IS NULL AND c.account_id = s.account_id AND c.track_id = s.track_id
  )
),{past_reach}
reach AS (
  SELECT * FROM current_reach UNION ALL SELECT * FROM past_reach
)"""


@per_project
def schedule_sql(
    project: Project,
    max_occurrences: int = MAX_OCCURRENCES,
    *,
    accounts: str | None = None,
    kept: bool = False,
    recent: str | None = None,
) -> str:
    """The SELECT of every scheduled touch of every stint (parameter ``$as_of``).

    Columns: ``account_id, track_id, touchpoint_id, rule, episode, occurrence, kind, due_at,
    payload, optional, cancelled, is_current, series_end``; occurrences of a current stint
    due after ``as_of`` are included (all those the series reaches, at least the next one
    while the cap allows); an ended stint has only those due before it ended.
    ``series_end`` marks the last occurrence of a repeating touch whose series was cut short
    (the next ones exist but are not listed): the schedule is complete up to that
    occurrence's ``due_at``. A series whose last listed occurrence has no mark has none
    after it (the cap, the ``for`` window, the ``until`` moment or the stint's end).
    ``accounts``: only
    these accounts' stints (a relation with ``account_id``; each account's schedule is its
    own). ``kept``: read ended stints' milestones from the kept milestone state.
    ``recent``: accounts (a relation with ``account_id``) of which only the occurrences due
    after ``$since`` (a second parameter) are wanted: their stints that ended by then are
    left out, and their repeating touches start near it (every occurrence due after it is
    there, with its number; a few before it may be too).
    """
    if max_occurrences < 1:
        raise EngineError(f"max_occurrences must be at least 1, not {max_occurrences}")
    rows, unless, max_depth = _definitions(project.tracks)
    defs = literal_relation("d", _DEF_COLUMNS, rows)
    unless_defs = literal_relation("u", _UNLESS_COLUMNS, unless)
    track_defs = literal_relation(
        "t", _TRACK_COLUMNS, [[t.id, len(t.milestones)] for t in project.tracks]
    )
    tz = _sql(exp.Literal.string(project.timezone))
    since_at = "CAST(NULL AS TIMESTAMP)"
    if recent is not None:
        since_at = (
            f"CASE WHEN account_id IN (SELECT account_id FROM {recent}) "
            "THEN CAST($since AS TIMESTAMP) END"
        )
        scope_filter("account_id", recent)  # validates the relation
    levels = ",".join(_level(d, max_occurrences) for d in range(max_depth + 1))
    union = "\n  UNION ALL ".join(f"SELECT * FROM occ_{d}" for d in range(max_depth + 1))
    return f"""
WITH defs AS (SELECT * FROM {defs}),
unless_defs AS (SELECT * FROM {unless_defs}),
track_defs AS (SELECT * FROM {track_defs}),
stints AS MATERIALIZED (
  SELECT account_id, track_id, started_at, ended_at, coalesce(timezone, {tz}) AS zone, ordinal,
    {since_at} AS since_at
  FROM (
    SELECT account_id, track_id, started_at, ended_at, timezone,
      row_number() OVER (PARTITION BY account_id, track_id
        ORDER BY started_at, ended_at NULLS LAST) AS ordinal
    FROM {ENROLLMENT_TABLE}
    WHERE TRUE{scope_filter("account_id", accounts)}
  )
  WHERE (ended_at IS NULL OR (ended_at > started_at AND started_at < {_AS_OF}))
    AND NOT coalesce(ended_at <= {since_at}, FALSE)
),{_reach_sql(project, kept)},
done AS (
  SELECT s.account_id, s.ordinal, s.track_id,
    CASE WHEN count(r.reached_at) >= any_value(t.milestones) AND any_value(t.milestones) > 0
      THEN max(r.reached_at) END AS all_done_at
  FROM stints AS s
  JOIN track_defs AS t ON t.track_id = s.track_id
  LEFT JOIN reach AS r ON r.account_id = s.account_id AND r.track_id = s.track_id
  GROUP BY s.account_id, s.ordinal, s.track_id
),
unless_hit AS (
  SELECT s.account_id, s.ordinal, u.tp_no,
    CASE WHEN count(r.reached_at) = count(*) THEN max(r.reached_at) END AS unless_at
  FROM stints AS s
  JOIN unless_defs AS u ON u.track_id = s.track_id
  LEFT JOIN reach AS r ON r.account_id = s.account_id AND r.track_id = s.track_id
    AND r.milestone_id = u.milestone_id
  GROUP BY s.account_id, s.ordinal, u.tp_no
),
plan AS (
  SELECT s.account_id, s.zone, s.ordinal, s.started_at, s.ended_at, s.since_at, d.tp_no,
    d.depth, d.after_no,
    CASE d.until_kind WHEN 'all' THEN dn.all_done_at WHEN 'milestone' THEN ru.reached_at
      END AS until_at,
    uh.unless_at
  FROM stints AS s
  JOIN defs AS d ON d.track_id = s.track_id
  LEFT JOIN done AS dn ON dn.account_id = s.account_id AND dn.track_id = s.track_id
    AND dn.ordinal = s.ordinal
  LEFT JOIN reach AS ru ON ru.account_id = s.account_id AND ru.track_id = s.track_id
    AND ru.milestone_id = d.until_milestone
  LEFT JOIN unless_hit AS uh ON uh.account_id = s.account_id AND uh.ordinal = s.ordinal
    AND uh.tp_no = d.tp_no
),{levels},
occurrences AS (
  {union}
)
SELECT o.account_id, d.track_id, d.touchpoint_id, d.rule,
  CASE WHEN o.ordinal = 1 THEN CAST(o.occurrence AS VARCHAR)
    ELSE 's' || o.ordinal || '-' || o.occurrence END AS episode,
  CAST(o.occurrence AS INTEGER) AS occurrence, d.kind, o.due_at, d.payload, d.optional,
  o.cancelled, o.ended_at IS NULL AS is_current, o.series_end
FROM occurrences AS o
JOIN defs AS d ON d.tp_no = o.tp_no
"""


def candidate_select(source: str) -> str:
    """The action candidates in a schedule relation ``source``: due by ``$as_of``, live."""
    columns = ", ".join(CANDIDATE_COLUMNS)
    return f"SELECT {columns} FROM {source} WHERE due_at <= {_AS_OF} AND NOT cancelled"


def upcoming_select(source: str) -> str:
    """The next live occurrence of each (account, touchpoint) of a current stint."""
    return f"""
SELECT account_id, track_id, touchpoint_id, rule, episode, occurrence, kind, due_at,
  payload, optional
FROM {source}
WHERE due_at > {_AS_OF} AND NOT cancelled AND is_current
QUALIFY row_number() OVER (PARTITION BY account_id, rule ORDER BY due_at, occurrence) = 1
"""


def candidate_sql(project: Project, max_occurrences: int = MAX_OCCURRENCES) -> str:
    """The touchpoint action candidates as one SELECT (parameter ``$as_of``)."""
    return candidate_select(f"({schedule_sql(project, max_occurrences)}) AS schedule")


def upcoming_sql(project: Project, max_occurrences: int = MAX_OCCURRENCES) -> str:
    """The next touchpoints (one per account and touchpoint) as one SELECT (``$as_of``)."""
    return upcoming_select(f"({schedule_sql(project, max_occurrences)}) AS schedule")


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()"
    ).fetchall()
    return {str(row[0]) for row in rows}


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _batches(con: duckdb.DuckDBPyConnection, accounts: str | None) -> list[str | None]:
    """The account scopes to build the schedule in: ``[accounts]``, or hash batches of a big
    book (see :data:`SCHEDULE_BATCH`)."""
    if accounts is not None:
        return [accounts]
    stints = _count(con, ENROLLMENT_TABLE)
    if stints <= SCHEDULE_BATCH:
        return [None]
    n = -(-stints // SCHEDULE_BATCH)
    return [
        f"(SELECT DISTINCT account_id FROM {ENROLLMENT_TABLE} WHERE hash(account_id) % {n} = {i})"
        for i in range(n)
    ]


def materialise_touchpoints(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    max_occurrences: int = MAX_OCCURRENCES,
    *,
    accounts: str | None = None,
    kept: bool | None = None,
    recent: str | None = None,
    since: datetime | None = None,
) -> TouchpointRun:
    """Rebuild the touchpoint schedule, ``touchpoint_candidates`` and ``next_touchpoints``.

    Needs ``track_enrollments`` and ``milestone_progress`` on ``con`` as of the same time
    (:func:`tierline.engine.milestone.milestone_progress` builds both), and ``events``.
    ``touchpoint_schedule_all`` gets every stint's occurrences, the view
    ``touchpoint_schedule`` those of current stints. ``accounts``: only these accounts (a
    relation with ``account_id``; None: every account in ``track_enrollments``). ``kept``:
    whether the kept milestone state is fresh (None: check; when it is, ended stints read
    their milestones from it instead of scanning the events). ``recent`` and ``since``:
    accounts of which only touches due after ``since`` are wanted (see
    :func:`schedule_sql`); their schedule rows due by then are incomplete. The schedule is
    not sorted; a book with more than :data:`SCHEDULE_BATCH` stints has it built in batches.
    """
    needed = (ENROLLMENT_TABLE, PROGRESS_TABLE, "events")
    missing = [t for t in needed if t not in _relations(con)]
    if missing:
        raise EngineError(
            "touchpoints need " + " and ".join(missing) + "; compute milestone progress first"
        )
    tz = _sql(exp.Literal.string(project.timezone))
    bad = unknown_zones(con, f"SELECT coalesce(timezone, {tz}) FROM {ENROLLMENT_TABLE}")
    if bad:
        raise EngineError("unknown time zone(s): " + ", ".join(repr(z) for z in bad))
    params: dict[str, object] = {"as_of": utc_naive(as_of)}
    if kept is None:
        kept = milestone_state_fresh(con, project)
    if recent is not None:
        if since is None:
            raise EngineError("touchpoints for recent accounts need the time they follow")
        params["since"] = utc_naive(since)
    for i, batch in enumerate(_batches(con, accounts)):
        sql = schedule_sql(project, max_occurrences, accounts=batch, kept=kept, recent=recent)
        into = (
            f"CREATE OR REPLACE TEMP TABLE {FULL_SCHEDULE_TABLE} AS"
            if i == 0
            else f"INSERT INTO {FULL_SCHEDULE_TABLE}"
        )
        con.execute(f"{into} {sql}", params)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {SCHEDULE_TABLE} AS "
        f"SELECT * FROM {FULL_SCHEDULE_TABLE} WHERE is_current"
    )
    moment = {"as_of": params["as_of"]}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CANDIDATES_TABLE} AS "
        f"{candidate_select(FULL_SCHEDULE_TABLE)}",
        moment,
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {UPCOMING_TABLE} AS {upcoming_select(SCHEDULE_TABLE)}",
        moment,
    )
    return TouchpointRun(
        as_of=utc_naive(as_of),
        scheduled=_count(con, FULL_SCHEDULE_TABLE),
        candidates=_count(con, CANDIDATES_TABLE),
        upcoming=_count(con, UPCOMING_TABLE),
    )
