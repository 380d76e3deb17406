"""Tier transitions as of a time: stalls, automatic upgrades and graduation recommendations.

:func:`plan_transitions` (a pure read, for ``--dry-run``) and :func:`apply_transitions`
(the writes) decide, set-based, for the current stint of every enrolled account:

- **Stall** — a track with a ``stall`` rule, an account not done whose
  ``track_progress.stalled_since`` is set (no milestone progress for ``after_days``): the
  rule's action, once per stall *episode*. The episode is the stall's start, the UTC date
  of ``last_progress_at``; a milestone reached later ends it, and a new stall is a new
  episode. ``due_at`` = ``last_progress_at`` + ``after_days``.
- **Upgrade** — a track with an ``upgrade`` rule whose ``missed`` milestone was not reached
  by the stint start + ``after_days``: the account moves to the ``to`` track (``next``: the
  track with the smallest level above). The transition time is that deterministic moment,
  never the run time, so a day-by-day backtest and one later run agree. It is recorded as
  an ``assignments`` row of the driving segmentation with source ``auto_upgrade``,
  ``assigned_at`` = the transition time and an explanation naming the rule, the missed
  milestone, the due time and the target ``track`` (what enrollment follows). Its
  ``outcome`` is the first outcome of the driving segmentation that maps to the target
  track; when none does (seed: self-serve → tech-touch), the account keeps its current
  outcome (``outcome_kept`` in the explanation) and the explanation's ``track`` alone moves
  it. Upgrades cascade: the new stint's own rule counts from the transition time, and
  rounds repeat until no upgrade is due by ``as_of`` (each round raises the level).
  Reached milestones carry over (gates read all of the account's events).
- **Graduation** — see :mod:`tierline.engine.graduation`: an override request by
  ``tierline`` pending a manager's approval, filed once.

Action candidates (columns ``rule, account_id, episode, kind, due_at, payload``) land in
the temp table ``transition_candidates``:

- ``stall:<track>`` — the stall action (``task`` / ``email`` / ``notify``) to its ``to``;
- ``upgrade:<track>`` — ``tier_change``, episode = the transition time;
- ``csm:<pool>`` — ``csm_assignment`` for upgraded accounts, from
  :func:`tierline.engine.csm.assign_csms` over the stints after the upgrades (accounts a
  pool cannot place are in :attr:`TransitionPlan.csm`, never given a candidate);
- ``graduate:<track>`` — a ``task`` to the approver (``manager``; payload with the
  account's CSM, the CSM's manager, the request id once filed), episode = the stint start.

After either call the temp tables ``track_enrollments``, ``milestone_progress`` and
``track_progress`` describe the stints *after* the transitions (for a plan: as they would
be), so touchpoints and statuses computed next agree with the run.

An incremental run (:mod:`tierline.engine.scope`) decides them for its scope only
(``accounts``: every account's transitions depend on its own rows), with the progress
tables it built (``current``), and passes the complete stints it kept from earlier runs
(``graduates``) so that graduation is re-evaluated for them with fresh metrics; it picks
CSMs for upgraded accounts together with everybody else's (``csm=False``) and reads the
counts from the temp tables (``listed=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.compile.book import accounts_as_of_sql
from tierline.engine.connection import joined_transaction
from tierline.engine.csm import CANDIDATES_TABLE as CSM_CANDIDATES
from tierline.engine.csm import PLAN_TABLE as CSM_PLAN_TABLE
from tierline.engine.csm import CsmPlan, assign_csms
from tierline.engine.enrollment import (
    ENROLLMENT_TABLE,
    Cell,
    driving_segmentation,
    enrollment_sql,
    literal_relation,
)
from tierline.engine.graduation import (
    GraduationRule,
    graduation_rules,
    graduations_sql,
    prepare_metrics,
    relation_columns,
)
from tierline.engine.milestone import SUMMARY_TABLE
from tierline.engine.sqlcache import per_project
from tierline.engine.state import SYSTEM_ACTOR, utc_naive
from tierline.engine.upgrade import SCRATCH_TABLE, UPGRADES_TABLE, count_of, run_upgrades
from tierline.policy.model import Project, Segmentation

__all__ = [
    "CANDIDATES_TABLE",
    "CSM_PICKED_TABLE",
    "GRADUATIONS_TABLE",
    "SCRATCH_TABLE",
    "UPGRADES_TABLE",
    "Candidate",
    "Graduation",
    "Stall",
    "TransitionPlan",
    "Upgrade",
    "apply_transitions",
    "plan_transitions",
    "read_candidates",
]

CANDIDATES_TABLE = "transition_candidates"
GRADUATIONS_TABLE = "transition_graduations"
_CSM = "transition_csm"
# The accounts the CSM plan over the upgraded stints gave a CSM (see _csm).
CSM_PICKED_TABLE = "transition_csm_picked"
_ISO = "'%Y-%m-%dT%H:%M:%SZ'"
_EPISODE = "'%Y-%m-%dT%H:%M:%S'"

_STALL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("track_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("to_role", "VARCHAR"),
    ("template", "VARCHAR"),
    ("text", "VARCHAR"),
    ("channel", "VARCHAR"),
)


@dataclass(frozen=True)
class Upgrade:
    """One account moved up a level at ``at`` (``round`` > 1: a cascaded upgrade)."""

    account_id: str
    from_track: str
    to_track: str
    from_level: int
    to_level: int
    outcome: str
    outcome_kept: bool
    missed: str
    started_at: datetime
    at: datetime
    round: int
    assign_csm: bool


@dataclass(frozen=True)
class Stall:
    """One account stalled on its track: the episode (stall start date) and the due time."""

    account_id: str
    track_id: str
    episode: str
    last_progress_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Graduation:
    """One account whose graduation rule fired, with the request's status and id."""

    account_id: str
    from_track: str
    to_track: str
    segmentation: str
    from_outcome: str | None
    to_outcome: str | None
    status: str
    request_id: int | None
    reason: str


@dataclass(frozen=True)
class Candidate:
    """One action candidate (the outbox's input shape)."""

    rule: str
    account_id: str
    episode: str
    kind: str
    due_at: datetime
    payload: str


@dataclass(frozen=True)
class TransitionPlan:
    """What the transitions decide as of ``as_of``; candidates in ``candidates`` (temp table).

    ``written`` / ``requested``: assignment rows and override requests this call wrote (0
    for a plan). ``csm``: the CSM plan over the stints after the upgrades, when any account
    was upgraded (its ``unplaced`` lists accounts a pool could not take).
    """

    as_of: datetime
    upgrades: tuple[Upgrade, ...]
    stalls: tuple[Stall, ...]
    graduations: tuple[Graduation, ...]
    csm: CsmPlan | None
    applied: bool = False
    written: int = 0
    requested: int = 0
    candidates: str = CANDIDATES_TABLE


def _stall_rules(project: Project) -> str:
    rows: list[tuple[Cell, ...]] = [
        (
            t.id,
            t.stall.action.kind,
            t.stall.action.to,
            t.stall.action.template,
            t.stall.action.text,
            t.stall.action.channel,
        )
        for t in project.tracks
        if t.stall is not None
    ]
    return literal_relation("s", _STALL_COLUMNS, rows)


def _csm(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    outbox: str | None,
    pick: bool = True,
    listed: bool = True,
) -> CsmPlan | None:
    """CSM picks for the upgraded accounts whose rule says ``assign_csm`` (``pick``: at all).

    The accounts the plan gave a CSM are kept in :data:`CSM_PICKED_TABLE` (the next CSM
    plan of a run replaces ``csm_plan``); ``listed=False`` makes the plan without reading
    its picks into Python (see :func:`tierline.engine.csm.assign_csms`).
    """
    wanted = f"SELECT account_id FROM {UPGRADES_TABLE} WHERE assign_csm"
    if not pick or not count_of(con, f"SELECT count(*) FROM ({wanted})"):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_CSM} AS SELECT * FROM "
            f"{literal_relation('c', _CANDIDATE_COLUMNS, [])}"
        )
        return None
    plan = assign_csms(con, project, as_of, ENROLLMENT_TABLE, outbox=outbox, listed=listed)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CSM} AS SELECT rule, account_id, episode, kind, "
        f"due_at, CAST(payload AS VARCHAR) AS payload FROM {CSM_CANDIDATES} "
        f"WHERE account_id IN ({wanted})"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CSM_PICKED_TABLE} AS SELECT account_id "
        f"FROM {CSM_PLAN_TABLE} WHERE csm_id IS NOT NULL"
    )
    return plan


_CANDIDATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rule", "VARCHAR"),
    ("account_id", "VARCHAR"),
    ("episode", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("due_at", "TIMESTAMP"),
    ("payload", "VARCHAR"),
)


@per_project
def _candidates_sql(project: Project) -> str:
    stalled = f"(SELECT account_id FROM {SUMMARY_TABLE} WHERE stalled_since IS NOT NULL)"
    book = accounts_as_of_sql("CAST($as_of AS TIMESTAMP)", stalled)
    return f"""
SELECT 'stall:' || p.track_id AS rule, p.account_id,
  strftime(p.last_progress_at, '%Y-%m-%d') AS episode, s.kind, p.stalled_since AS due_at,
  CAST(json_object(
    'to', s.to_role, 'template', s.template, 'text', s.text, 'channel', s.channel,
    'track', p.track_id, 'csm_id', b.csm_id,
    'last_progress_at', strftime(p.last_progress_at, {_ISO}),
    'stall_days', p.stall_days, 'done', p.done, 'milestones', p.milestones
  ) AS VARCHAR) AS payload
FROM {SUMMARY_TABLE} AS p
JOIN {_stall_rules(project)} ON s.track_id = p.track_id
LEFT JOIN {book} AS b ON b.id = p.account_id
WHERE p.stalled_since IS NOT NULL AND NOT p.all_done
UNION ALL
SELECT 'upgrade:' || u.from_track, u.account_id, strftime(u.transition_at, {_EPISODE}),
  'tier_change', u.transition_at,
  CAST(json_object(
    'from_track', u.from_track, 'to_track', u.to_track,
    'from_level', u.from_level, 'to_level', u.to_level,
    'outcome', u.outcome, 'outcome_kept', u.outcome_kept,
    'missed', u.missed, 'after_days', u.after_days,
    'stint_started_at', strftime(u.started_at, {_ISO}),
    'assign_csm', u.assign_csm,
    'text', 'Upgrade from ' || u.from_name || ' to ' || u.to_name || ': milestone '
      || u.missed || ' not reached by day ' || u.after_days || ' of the track'
  ) AS VARCHAR)
FROM {UPGRADES_TABLE} AS u
UNION ALL
SELECT * FROM {_CSM}
UNION ALL
SELECT 'graduate:' || g.track_id, g.account_id, strftime(g.started_at, {_EPISODE}), 'task',
  g.requested_at,
  CAST(json_object(
    'to', g.approval, 'manager_id', g.manager_id, 'csm_id', g.csm_id,
    'text', g.reason, 'request_id', g.request_id, 'segmentation', g.segmentation,
    'from_track', g.track_id, 'to_track', g.to_track, 'to_outcome', g.to_outcome
  ) AS VARCHAR)
FROM {GRADUATIONS_TABLE} AS g
WHERE g.status IN ('new', 'pending')
"""


def _build_candidates(con: duckdb.DuckDBPyConnection, project: Project, as_of: datetime) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CANDIDATES_TABLE} AS "
        f"SELECT * FROM ({_candidates_sql(project)}) ORDER BY due_at, rule, account_id",
        {"as_of": as_of},
    )


def read_candidates(con: duckdb.DuckDBPyConnection) -> tuple[Candidate, ...]:
    """The rows of ``transition_candidates``, by due time, rule and account."""
    rows = con.execute(
        f"SELECT rule, account_id, episode, kind, due_at, payload FROM {CANDIDATES_TABLE} "
        "ORDER BY due_at, rule, account_id"
    ).fetchall()
    return tuple(Candidate(str(a), str(b), str(c), str(d), e, str(f)) for a, b, c, d, e, f in rows)


def _complete(rules: tuple[GraduationRule, ...], graduates: str | None) -> str:
    """The accounts whose stint (after the upgrades) is complete on a track with a rule."""
    ids = sorted({r.track.id for r in rules})
    tracks = ", ".join(exp.Literal.string(i).sql(dialect="duckdb") for i in ids) or "NULL"
    done = f"all_done AND track_id IN ({tracks})"
    kept = "" if graduates is None else f" UNION SELECT account_id FROM {graduates} WHERE {done}"
    return f"(SELECT account_id FROM {SUMMARY_TABLE} WHERE {done}{kept})"


def _graduations(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    seg: Segmentation,
    rules: tuple[GraduationRule, ...],
    metrics: str | None,
    as_of: datetime,
    graduates: str | None,
) -> None:
    sql = graduations_sql(project, seg, rules, metrics, SCRATCH_TABLE, kept=graduates)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GRADUATIONS_TABLE} AS {sql}", {"as_of": as_of})


def _plan(
    con: duckdb.DuckDBPyConnection, as_of: datetime, csm: CsmPlan | None, listed: bool = True
) -> TransitionPlan:
    if not listed:
        return TransitionPlan(as_of=as_of, upgrades=(), stalls=(), graduations=(), csm=csm)
    ups = con.execute(
        "SELECT account_id, from_track, to_track, from_level, to_level, outcome, outcome_kept, "
        f"missed, started_at, transition_at, round, assign_csm FROM {UPGRADES_TABLE} "
        "ORDER BY transition_at, account_id"
    ).fetchall()
    stalls = con.execute(
        f"SELECT account_id, json_extract_string(payload, '$.track'), episode, "
        f"strptime(json_extract_string(payload, '$.last_progress_at'), {_ISO}), due_at "
        f"FROM {CANDIDATES_TABLE} WHERE rule LIKE 'stall:%' ORDER BY due_at, account_id"
    ).fetchall()
    grads = con.execute(
        "SELECT account_id, track_id, to_track, segmentation, from_outcome, to_outcome, "
        f"status, request_id, reason FROM {GRADUATIONS_TABLE} ORDER BY account_id"
    ).fetchall()
    return TransitionPlan(
        as_of=as_of,
        upgrades=tuple(
            Upgrade(
                str(a),
                str(b),
                str(c),
                int(d),
                int(e),
                str(f),
                bool(g),
                str(h),
                i,
                j,
                int(k),
                bool(m),
            )
            for a, b, c, d, e, f, g, h, i, j, k, m in ups
        ),
        stalls=tuple(Stall(str(a), str(b), str(c), d, e) for a, b, c, d, e in stalls),
        graduations=tuple(
            Graduation(
                str(a),
                str(b),
                str(c),
                str(d),
                None if e is None else str(e),
                None if f is None else str(f),
                str(g),
                None if h is None else int(h),
                str(i),
            )
            for a, b, c, d, e, f, g, h, i in grads
        ),
        csm=csm,
    )


def _decide(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    moment: datetime,
    *,
    metrics: str | None,
    outbox: str | None,
    accounts: str | None,
    current: bool,
    kept: bool | None,
    csm: bool,
    graduates: str | None,
    listed: bool = True,
) -> CsmPlan | None:
    """Upgrades, graduations and the upgraded accounts' CSM picks, in temp tables."""
    seg = driving_segmentation(project)
    empty: tuple[GraduationRule, ...] = ()
    given = relation_columns(con, metrics) - {"account_id"} if metrics is not None else set()
    rules = graduation_rules(project, seg, given) if seg is not None else empty
    if seg is None:
        seg = Segmentation("none", tracks=())
    run_upgrades(con, project, seg, moment, accounts=accounts, current=current, kept=kept)
    # metrics only for the stints that may graduate: complete, on a track with a rule
    relation = prepare_metrics(
        con, project, moment, rules, metrics, accounts=_complete(rules, graduates)
    )
    _graduations(con, project, seg, rules, relation, moment, graduates)
    return _csm(con, project, moment, outbox, pick=csm, listed=listed)


def plan_transitions(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    *,
    metrics: str | None = None,
    outbox: str | None = "outbox",
    accounts: str | None = None,
    current: bool = False,
    kept: bool | None = None,
    csm: bool = True,
    graduates: str | None = None,
) -> TransitionPlan:
    """What the transitions would change as of ``as_of``, writing no store table.

    ``metrics``: a relation of per-account metrics (``account_id`` + one column each) for
    graduation conditions; computed from ``metrics.yaml`` when needed and not given.
    ``outbox``: the table of recorded actions (earlier CSM assignments).
    ``accounts``: decide only for these accounts (a relation with ``account_id``; None:
    all); each account's transitions are the same either way. ``current``: the progress
    tables already describe those accounts as of ``as_of`` (see
    :func:`tierline.engine.upgrade.run_upgrades`); ``kept``: whether the kept milestone
    state is fresh (None: check). ``csm=False`` leaves the CSM picks of upgraded accounts
    to the caller (a run picks CSMs for every account that needs one afterwards, upgraded
    ones included, with the same result): ``TransitionPlan.csm`` is then None.
    ``graduates``: complete stints of more accounts, kept from an earlier run, whose
    graduation is decided too (see :func:`tierline.engine.graduation.graduations_sql`).
    """
    moment = utc_naive(as_of)
    picks = _decide(
        con,
        project,
        moment,
        metrics=metrics,
        outbox=outbox,
        accounts=accounts,
        current=current,
        kept=kept,
        csm=csm,
        graduates=graduates,
    )
    _build_candidates(con, project, moment)
    return _plan(con, moment, picks)


_INSERT_UPGRADES = f"""
INSERT INTO assignments (account_id, segmentation, outcome, explanation, policy_version,
  assigned_at, source, recorded_at)
SELECT u.account_id, $seg, u.outcome,
  CAST(json_object(
    'kind', 'auto_upgrade', 'rule', 'upgrade:' || u.from_track, 'track', u.to_track,
    'from_track', u.from_track, 'from_level', u.from_level, 'to_level', u.to_level,
    'missed', u.missed, 'missed_reached_at', strftime(u.missed_reached_at, {_ISO}),
    'after_days', u.after_days, 'stint_started_at', strftime(u.started_at, {_ISO}),
    'due_at', strftime(u.transition_at, {_ISO}), 'outcome_kept', u.outcome_kept,
    'assign_csm', u.assign_csm, 'run_id', $run_id
  ) AS JSON),
  $version, u.transition_at, 'auto_upgrade', $now
FROM {UPGRADES_TABLE} AS u
WHERE NOT EXISTS (
  SELECT 1 FROM assignments AS a
  WHERE a.account_id = u.account_id AND a.segmentation = $seg AND a.source = 'auto_upgrade'
    AND a.assigned_at = u.transition_at
    AND json_extract_string(a.explanation, '$.track') = u.to_track
)
ORDER BY u.transition_at, u.account_id
"""

_AUDIT_UPGRADES = f"""
INSERT INTO audit_log ("at", actor, action, account_id, segmentation, "before", "after",
  reason, details)
SELECT $now, '{SYSTEM_ACTOR}', 'auto_upgrade', a.account_id, a.segmentation,
  json_extract_string(a.explanation, '$.from_track'), json_extract_string(a.explanation, '$.track'),
  'milestone ' || json_extract_string(a.explanation, '$.missed') || ' not reached by day '
    || json_extract_string(a.explanation, '$.after_days'),
  CAST(json_object('assignment_id', a.id, 'outcome', a.outcome, 'run_id', $run_id) AS JSON)
FROM assignments AS a
WHERE a.id > $before AND a.source = 'auto_upgrade'
ORDER BY a.id
"""

_INSERT_REQUESTS = f"""
INSERT INTO override_requests (account_id, segmentation, from_outcome, to_outcome, reason,
  requested_by, requested_at)
SELECT account_id, segmentation, from_outcome, to_outcome, reason, '{SYSTEM_ACTOR}',
  requested_at
FROM {GRADUATIONS_TABLE} WHERE status = 'new'
ORDER BY account_id
"""

_AUDIT_REQUESTS = f"""
INSERT INTO audit_log ("at", actor, action, account_id, segmentation, "before", "after",
  reason, details)
SELECT $now, '{SYSTEM_ACTOR}', 'override_requested', r.account_id, r.segmentation,
  r.from_outcome, r.to_outcome, r.reason,
  CAST(json_object('request_id', r.id, 'kind', 'graduation', 'from_track', g.track_id,
    'to_track', g.to_track, 'evidence', CAST(g.evidence AS JSON), 'run_id', $run_id) AS JSON)
FROM override_requests AS r
JOIN {GRADUATIONS_TABLE} AS g ON g.account_id = r.account_id AND g.status = 'new'
WHERE r.id > $before AND r.requested_by = '{SYSTEM_ACTOR}'
ORDER BY r.id
"""

_NOTE_REQUESTS = f"""
UPDATE {GRADUATIONS_TABLE} AS g SET request_id = r.id
FROM override_requests AS r
WHERE g.status = 'new' AND r.id > $before AND r.requested_by = '{SYSTEM_ACTOR}'
  AND r.account_id = g.account_id AND r.segmentation = g.segmentation
"""


def apply_transitions(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    run_id: str,
    now: datetime | None = None,
    *,
    metrics: str | None = None,
    outbox: str | None = "outbox",
    accounts: str | None = None,
    current: bool = False,
    kept: bool | None = None,
    csm: bool = True,
    graduates: str | None = None,
    listed: bool = True,
) -> TransitionPlan:
    """Plan, then record the upgrades and file the graduation requests (idempotent).

    One ``INSERT … SELECT`` appends the upgrade rows (anti-joined with rows already
    recorded), one files the new requests; each writes audit rows too. Runs in its own
    transaction unless the caller holds one. A second call adds nothing: the stints have
    moved, and the requests are pending. ``accounts``, ``current``, ``kept``, ``csm``,
    ``graduates``: as for :func:`plan_transitions`. ``listed=False`` leaves the plan's
    ``upgrades``, ``stalls`` and ``graduations`` empty, and the picks of its CSM plan: the
    caller reads the temp tables (``transition_upgrades``, ``transition_candidates``,
    ``transition_graduations``, :data:`CSM_PICKED_TABLE`).
    """
    moment = utc_naive(as_of)
    picks = _decide(
        con,
        project,
        moment,
        metrics=metrics,
        outbox=outbox,
        accounts=accounts,
        current=current,
        kept=kept,
        csm=csm,
        graduates=graduates,
        listed=listed,
    )
    seg = driving_segmentation(project)
    if seg is None:
        _build_candidates(con, project, moment)
        plan = _plan(con, moment, picks, listed)
        return TransitionPlan(plan.as_of, (), plan.stalls, (), None, applied=True)
    params: dict[str, object] = {
        "seg": seg.id,
        "version": project.version,
        "now": utc_naive(now),
        "run_id": run_id,
    }
    with joined_transaction(con):
        before = count_of(con, "SELECT max(id) FROM assignments")
        con.execute(_INSERT_UPGRADES, params)
        written = count_of(con, f"SELECT count(*) FROM assignments WHERE id > {before}")
        con.execute(_AUDIT_UPGRADES, {"now": params["now"], "run_id": run_id, "before": before})
        before = count_of(con, "SELECT max(id) FROM override_requests")
        con.execute(_INSERT_REQUESTS)
        requested = count_of(con, f"SELECT count(*) FROM override_requests WHERE id > {before}")
        marks = {"now": params["now"], "run_id": run_id, "before": before}
        con.execute(_AUDIT_REQUESTS, marks)
        con.execute(_NOTE_REQUESTS, {"before": before})
    if count_of(con, f"SELECT count(*) FROM {UPGRADES_TABLE}"):
        # the upgraded accounts' stints from the recorded rows (the same as the scratch
        # rows gave: same track, same time, after every earlier row)
        moved = f"(SELECT DISTINCT account_id FROM {UPGRADES_TABLE})"
        con.execute(
            f"DELETE FROM {ENROLLMENT_TABLE} WHERE account_id IN (SELECT account_id FROM {moved})"
        )
        con.execute(
            f"INSERT INTO {ENROLLMENT_TABLE} {enrollment_sql(project, accounts=moved)}",
            {"as_of": moment, "tz": project.timezone},
        )
    _build_candidates(con, project, moment)
    done = _plan(con, moment, picks, listed)
    return TransitionPlan(
        done.as_of,
        done.upgrades,
        done.stalls,
        done.graduations,
        done.csm,
        applied=True,
        written=written,
        requested=requested,
    )
