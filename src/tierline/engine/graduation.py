"""Graduation: recommend moving an account down a touch level, for a manager to approve.

A track's ``graduate`` rule fires for an account on it (its current stint) when all the
track's milestones are done and the rule's ``when`` condition is true as of T. The target
is the track named by ``to`` (``previous``: the track with the largest level below), and the
recommendation is an override request of the driving segmentation to the outcome that
maps to the target track, requested by the system actor ``tierline`` with a reason that
quotes the evidence; a manager approves or rejects it through the override flow
(:mod:`tierline.engine.override`), whose approval records an ``override`` assignment that
starts the new stint.

The condition may read account fields (``b.``), the milestone summary of
``track_progress`` (:data:`SUMMARY_NAMES`, ``p.``) and the project's metrics
(``metrics.yaml``, ``m.``): a relation with ``account_id`` and one column per metric,
given by the caller or computed here with :func:`tierline.engine.metrics.metrics_relation`.
A name that is none of these, or a metric that cannot be computed, is an
:class:`~tierline.errors.EngineError` before anything is read.

:func:`graduations_sql` gives every firing account a ``status``:

- ``new``: no request yet: the run files one;
- ``pending``: ``tierline``'s request to the same outcome is still pending (nothing filed);
- ``held``: somebody's other request for the account is pending (one pending request per
  account and segmentation);
- ``decided``: ``tierline`` already asked for this during the current stint and a manager
  decided (a rejection is not asked again until the account changes track);
- ``blocked``: no outcome of the driving segmentation maps to the target track, or the
  account already holds that outcome, so an override cannot express the move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from tierline.compile.book import accounts_as_of_sql
from tierline.engine.enrollment import Cell, literal_relation, scope_filter
from tierline.engine.metrics import metric_set, metrics_relation
from tierline.engine.milestone import PROGRESS_TABLE, SUMMARY_TABLE
from tierline.engine.state import SYSTEM_ACTOR
from tierline.errors import EngineError, PolicyError, TierlineError
from tierline.expr.condition import parse_condition
from tierline.policy.metrics import MetricSet
from tierline.policy.model import Project, Segmentation
from tierline.policy.track import Track

__all__ = [
    "GRADUATION_STATUSES",
    "METRICS_TABLE",
    "SUMMARY_NAMES",
    "GraduationRule",
    "graduating_tracks",
    "graduation_rules",
    "graduations_sql",
    "metric_names",
    "metrics_read",
    "prepare_metrics",
    "relation_columns",
]

METRICS_TABLE = "transition_metrics"
GRADUATION_STATUSES: tuple[str, ...] = ("new", "pending", "held", "decided", "blocked")

# Columns of ``track_progress`` a graduation condition may read, with their types.
SUMMARY_NAMES: Mapping[str, str] = {
    "all_done": "boolean",
    "completion": "number",
    "ttfv_days": "number",
    "onboarding_ttfv_days": "number",
    "done": "integer",
    "milestones": "integer",
    "done_on_time": "integer",
    "done_late": "integer",
    "stall_days": "integer",
}

_RULE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("track_id", "VARCHAR"),
    ("track_name", "VARCHAR"),
    ("to_track", "VARCHAR"),
    ("to_name", "VARCHAR"),
    ("to_outcome", "VARCHAR"),
    ("approval", "VARCHAR"),
    ("condition", "VARCHAR"),
)


@dataclass(frozen=True)
class GraduationRule:
    """A track's graduation rule with its target resolved and its condition parsed."""

    track: Track
    target: Track
    outcome: str | None
    approval: str
    condition: exp.Expression | None

    @property
    def names(self) -> tuple[str, ...]:
        """The names the condition reads, in first-seen order."""
        if self.condition is None:
            return ()
        seen: dict[str, None] = {}
        for col in self.condition.find_all(exp.Column, bfs=False):
            seen.setdefault(col.name, None)
        return tuple(seen)


def _metric_set(project: Project) -> MetricSet | None:
    """The project's metrics: those it loaded, else its ``metrics.yaml`` (None: no file)."""
    if project.metrics:
        return metric_set(project)
    path = project.root / "metrics.yaml"
    if not path.is_file():
        return None
    from tierline.policy.metrics import load_metrics

    try:
        return load_metrics(path, project.fields)
    except PolicyError as err:
        raise EngineError(f"metrics.yaml cannot be read for graduation conditions:\n{err}") from err


def metric_names(project: Project) -> tuple[str, ...]:
    """The metric names the project's ``metrics.yaml`` defines (none without the file)."""
    metrics = _metric_set(project)
    return () if metrics is None else metrics.names


def metrics_read(project: Project, rules: Sequence[GraduationRule]) -> tuple[str, ...]:
    """The metric names the conditions of ``rules`` read (not fields or summary columns)."""
    own = {f.name for f in project.fields} | set(SUMMARY_NAMES)
    return tuple(sorted({n for r in rules for n in r.names if n not in own}))


def _target(project: Project, track: Track, to: str) -> Track | None:
    if to == "previous":
        lower = [t for t in project.tracks if t.level < track.level]
        return max(lower, key=lambda t: t.level) if lower else None
    target = project.track(to)
    if target is None:
        raise EngineError(f"track {track.id!r}: graduate to: {to!r} is no track of the project")
    if target.level >= track.level:
        raise EngineError(
            f"track {track.id!r} (level {track.level}) cannot graduate to {to!r}: its level "
            f"{target.level} is not lower"
        )
    return target


def graduating_tracks(project: Project) -> tuple[str, ...]:
    """The tracks whose ``graduate`` rule has a target (the rules that can fire)."""
    return tuple(
        t.id
        for t in project.tracks
        if t.graduate is not None and _target(project, t, t.graduate.to) is not None
    )


def graduation_rules(
    project: Project, seg: Segmentation, given: Iterable[str] = ()
) -> tuple[GraduationRule, ...]:
    """Every track's graduation rule, resolved against ``seg`` (the driving segmentation).

    ``given``: the columns of a metrics relation the caller provides (names a condition may
    read besides ``metrics.yaml``'s).
    """
    metrics: tuple[str, ...] | None = None
    fields = {f.name: f.type for f in project.fields}
    rules: list[GraduationRule] = []
    for track in project.tracks:
        grad = track.graduate
        if grad is None:
            continue
        target = _target(project, track, grad.to)
        if target is None:
            continue
        condition: exp.Expression | None = None
        if grad.when is not None:
            if metrics is None:
                metrics = (*metric_names(project), *given)
            known = {**dict.fromkeys(metrics, "number"), **SUMMARY_NAMES, **fields}
            try:
                condition = parse_condition(grad.when.sql, known, grad.when.loc)
            except PolicyError as err:
                raise EngineError(
                    f"track {track.id!r}: the graduation condition reads a name that is no "
                    f"account field, milestone summary column ({', '.join(SUMMARY_NAMES)}) "
                    f"or metric (of metrics.yaml or the metrics relation given):\n{err}"
                ) from err
        outcome = next((o for o, t in seg.tracks if t == target.id), None)
        rules.append(GraduationRule(track, target, outcome, grad.approval, condition))
    return tuple(rules)


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    """The column names of ``relation`` (EngineError when it cannot be read)."""
    try:
        cur = con.execute(f"SELECT * FROM {relation} LIMIT 0")
    except duckdb.Error as exc:
        raise EngineError(f"the metrics relation {relation!r} cannot be read: {exc}") from exc
    return {str(d[0]) for d in cur.description}


def prepare_metrics(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    rules: Sequence[GraduationRule],
    metrics: str | None,
    *,
    accounts: str | None = None,
) -> str | None:
    """The relation of per-account metrics the conditions need (None: they need none).

    ``metrics``, when given, must have ``account_id`` and every metric the conditions read;
    otherwise they are computed from ``metrics.yaml`` into the temp table ``transition_metrics``
    (``accounts``: only for these accounts, a relation with ``account_id``; None: all).
    """
    wanted = metrics_read(project, rules)
    if not wanted:
        return None
    if metrics is not None:
        missing = [n for n in ["account_id", *wanted] if n not in relation_columns(con, metrics)]
        if missing:
            raise EngineError(
                f"the metrics relation {metrics!r} lacks {', '.join(missing)}, which the "
                "graduation conditions read"
            )
        return metrics
    try:
        # only the metrics the conditions read (and those they are computed from)
        loaded = _metric_set(project)
        if loaded is None:
            raise EngineError("the project has no metrics.yaml")
        needed = loaded.needed(wanted)
        scope_filter("account_id", accounts)  # checks the relation's form
        rel = metrics_relation(con, needed, as_of, incremental=True, accounts=accounts)
        view = f"{METRICS_TABLE}_view"
        rel.create_view(view, replace=True)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {METRICS_TABLE} AS SELECT * FROM {view}")
        con.execute(f"DROP VIEW IF EXISTS {view}")
    except (TierlineError, duckdb.Error) as exc:
        raise EngineError(
            f"graduation conditions read metrics ({', '.join(wanted)}) that cannot be "
            f"computed as of {as_of:%Y-%m-%d %H:%M}: {exc}"
        ) from exc
    return METRICS_TABLE


def _qualify(project: Project, tree: exp.Expression) -> exp.Expression:
    fields = {f.name for f in project.fields}

    def place(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            name = node.name
            table = "b" if name in fields else "p" if name in SUMMARY_NAMES else "m"
            return exp.column(name, table=table, quoted=True)
        return node

    return tree.copy().transform(place)


def _text(value: str) -> str:
    return str(exp.Literal.string(value).sql(dialect="duckdb"))


def _evidence(project: Project, rule: GraduationRule) -> tuple[str, str]:
    """(reason fragment, JSON object SQL) quoting the condition's inputs for one rule."""
    if rule.condition is None:
        return "''", "json_object()"
    quoted: list[str] = []
    pairs: list[str] = []
    for name in rule.names:
        column = _qualify(project, exp.column(name)).sql(dialect="duckdb")
        quoted.append(f"{_text(name + ' = ')} || coalesce(CAST({column} AS VARCHAR), 'NULL')")
        pairs.append(f"{_text(name)}, {column}")
    said = rule.condition.sql(dialect="duckdb")
    reason = f"{_text(' and ' + said + ' holds (')} || " + " || ', ' || ".join(quoted) + " || ')'"
    return reason, f"json_object({', '.join(pairs)})"


def _case(track_ids: Sequence[str], values: Sequence[str], default: str) -> str:
    if not track_ids:
        return default
    whens = " ".join(f"WHEN {_text(t)} THEN {v}" for t, v in zip(track_ids, values, strict=True))
    return f"CASE p.track_id {whens} ELSE {default} END"


def graduations_sql(
    project: Project,
    seg: Segmentation,
    rules: Sequence[GraduationRule],
    metrics: str | None,
    assignments: str,
    *,
    kept: str | None = None,
) -> str:
    """Every account whose graduation rule fires, with its request status (see above).

    Parameters ``$as_of``; reads ``track_progress``, ``milestone_progress``, the book,
    ``override_status`` and ``assignments`` (the table of assignment rows). ``kept``: a
    relation of more accounts' summaries, kept from an earlier run: the columns of
    ``track_progress`` plus ``last_reached_at`` (their latest milestone); an incremental run
    passes the complete stints it does not rebuild (see :mod:`tierline.engine.scope`).
    """
    rows: list[tuple[Cell, ...]] = [
        (
            r.track.id,
            r.track.name,
            r.target.id,
            r.target.name,
            r.outcome,
            r.approval,
            None if r.condition is None else r.condition.sql(dialect="duckdb"),
        )
        for r in rules
    ]
    ids = [r.track.id for r in rules]
    conditions = [
        "TRUE" if r.condition is None else _qualify(project, r.condition).sql(dialect="duckdb")
        for r in rules
    ]
    evidence = [_evidence(project, r) for r in rules]
    holds = _case(ids, conditions, "FALSE")
    said = _case(ids, [e[0] for e in evidence], "''")
    inputs = _case(ids, [e[1] for e in evidence], "json_object()")
    metrics_join = (
        f"LEFT JOIN {metrics} AS m ON m.account_id = p.account_id" if metrics is not None else ""
    )
    seg_id = _text(seg.id)
    actor = _text(SYSTEM_ACTOR)
    return f"""
WITH rules AS (SELECT * FROM {literal_relation("g", _RULE_COLUMNS, rows)}),
last_reached AS (
  SELECT account_id, max(reached_at) AS last_reached_at FROM {PROGRESS_TABLE} GROUP BY account_id
  {"" if kept is None else f"UNION ALL SELECT account_id, last_reached_at FROM {kept}"}
),
summary AS (
  SELECT * FROM {SUMMARY_TABLE}
  {"" if kept is None else f"UNION ALL BY NAME SELECT * EXCLUDE (last_reached_at) FROM {kept}"}
),
done AS (SELECT account_id FROM summary WHERE all_done),
outcomes AS (
  SELECT account_id, outcome FROM {assignments}
  WHERE segmentation = {seg_id} AND assigned_at <= CAST($as_of AS TIMESTAMP)
    AND account_id IN (SELECT account_id FROM done)
  QUALIFY row_number() OVER (
    PARTITION BY account_id
    ORDER BY CASE WHEN source = 'rule' THEN 0 ELSE 1 END DESC, assigned_at DESC, id DESC
  ) = 1
),
book AS (
  SELECT * FROM {accounts_as_of_sql("CAST($as_of AS TIMESTAMP)", "done")}
),
fired AS (
  SELECT p.account_id, p.track_id, rules.to_track, rules.to_outcome, rules.approval,
    p.started_at, o.outcome AS from_outcome, b.csm_id, staff.manager_id,
    'Graduation recommended by tierline: all ' || p.milestones || ' milestones of '
      || rules.track_name || ' are done (the last reached '
      || coalesce(strftime(lr.last_reached_at, '%Y-%m-%d'), 'before the track started') || ')'
      || {said} || '; move the account from ' || rules.track_name || ' to ' || rules.to_name
      || coalesce(' (' || rules.to_outcome || ')', '') || ', with ' || rules.approval
      || ' approval.' AS reason,
    CAST(json_object(
      'milestones', p.milestones,
      'last_reached_at', strftime(lr.last_reached_at, '%Y-%m-%dT%H:%M:%SZ'),
      'condition', rules.condition,
      'inputs', {inputs}
    ) AS VARCHAR) AS evidence
  FROM summary AS p
  JOIN rules ON rules.track_id = p.track_id
  JOIN book AS b ON b.id = p.account_id
  LEFT JOIN csms AS staff ON staff.id = b.csm_id
  LEFT JOIN last_reached AS lr ON lr.account_id = p.account_id
  LEFT JOIN outcomes AS o ON o.account_id = p.account_id
  {metrics_join}
  WHERE p.all_done AND coalesce({holds}, FALSE)
),
requests AS (SELECT * FROM override_status WHERE segmentation = {seg_id}),
pending AS (
  SELECT account_id, arg_max(id, id) AS id, arg_max(requested_by, id) AS requested_by,
    arg_max(to_outcome, id) AS to_outcome, arg_max(requested_at, id) AS requested_at
  FROM requests WHERE status = 'pending' GROUP BY account_id
),
decided AS (
  SELECT account_id, to_outcome, max(requested_at) AS requested_at FROM requests
  WHERE status <> 'pending' AND requested_by = {actor} GROUP BY account_id, to_outcome
)
SELECT f.account_id, f.track_id, f.to_track, {seg_id} AS segmentation, f.from_outcome,
  f.to_outcome, f.approval, f.started_at, f.csm_id, f.manager_id, f.reason, f.evidence,
  CASE
    WHEN f.to_outcome IS NULL OR f.to_outcome IS NOT DISTINCT FROM f.from_outcome
      THEN 'blocked'
    WHEN pe.id IS NOT NULL AND pe.requested_by = {actor} AND pe.to_outcome = f.to_outcome
      THEN 'pending'
    WHEN pe.id IS NOT NULL THEN 'held'
    WHEN d.requested_at >= f.started_at THEN 'decided'
    ELSE 'new'
  END AS status,
  CASE WHEN pe.requested_by = {actor} AND pe.to_outcome = f.to_outcome THEN pe.id END
    AS request_id,
  CASE WHEN pe.requested_by = {actor} AND pe.to_outcome = f.to_outcome
    THEN pe.requested_at ELSE CAST($as_of AS TIMESTAMP) END AS requested_at
FROM fired AS f
LEFT JOIN pending AS pe ON pe.account_id = f.account_id
LEFT JOIN decided AS d ON d.account_id = f.account_id AND d.to_outcome = f.to_outcome
"""
