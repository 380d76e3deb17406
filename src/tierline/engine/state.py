"""The engine's state tables: assignments, override requests and decisions, the audit log.

Every table is append-only: nothing here is ever UPDATEd or DELETEd. What is *current* is
derived by query:

- ``current_assignments``: the latest ``assignments`` row of each (account, segmentation),
  latest by ``assigned_at`` then ``id`` (the insertion order);
- ``override_status``: every override request with its decision, if any, and a ``status``
  of ``pending`` | ``approved`` | ``rejected``.

- ``override_stats``: per segmentation and outcome (the one the policy gave), how many
  accounts hold it, how many overrides were requested / approved / rejected / pending, the
  override rate (approved ÷ accounts) and its direction: ``up`` / ``down`` a tier by the
  ranks in ``outcome_ranks`` (a mirror of the policy's outcome order, refreshed by the
  engine from the project: see :mod:`tierline.engine.rank`).

``override_decisions.request_id`` is the primary key, so a request is decided at most once
even when two managers click at the same time. The DDL is applied by the store's versioned
migrations (``tierline.store.migrations``), through :func:`create_state_tables` (schema 3)
and :func:`record_by_reference` (schema 4).

Explanations by reference (schema 4): a row the policy made (source ``rule`` or
``reassign``) records ``decision_id`` and a NULL ``explanation``. The ``decisions`` row it
names holds, once per policy version, segmentation and decision code (see
:mod:`tierline.compile.decision`), the explanation's template and ``explanation_sql``: the
SQL that renders the full explanation from the account's columns. Account versions are
append-only, so rendering it over the account as of ``assigned_at`` gives exactly the
explanation the policy gave (:func:`tierline.engine.explain.recorded_explanations`).
Overrides and automatic upgrades keep their explanation JSON in the row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

__all__ = [
    "ASSIGNMENT_SOURCES",
    "POLICY_SOURCES",
    "STATE_SQL",
    "STATE_V4_SQL",
    "SYSTEM_ACTOR",
    "append_audit",
    "create_state_tables",
    "record_by_reference",
    "utc_naive",
]

# Where an assignment row came from: the policy's rule, an approved override, an automatic
# tier upgrade (tracks), or a reassignment after a policy change.
ASSIGNMENT_SOURCES: tuple[str, ...] = ("rule", "override", "auto_upgrade", "reassign")

# The sources that are a decision of the policy (not of a person).
POLICY_SOURCES: tuple[str, ...] = ("rule", "auto_upgrade", "reassign")

# The actor the engine itself acts as: automatic upgrades, graduation recommendations
# (override requests that a manager decides), reassignments in the audit log.
SYSTEM_ACTOR = "tierline"

_SOURCES_SQL = ", ".join(f"'{s}'" for s in ASSIGNMENT_SOURCES)
_POLICY_SQL = ", ".join(f"'{s}'" for s in POLICY_SOURCES)

_ASSIGNMENTS_V3_SQL = f"""
CREATE SEQUENCE assignments_id_seq START 1;
CREATE TABLE assignments (
  id BIGINT PRIMARY KEY DEFAULT nextval('assignments_id_seq'),
  account_id VARCHAR NOT NULL,
  segmentation VARCHAR NOT NULL,
  outcome VARCHAR NOT NULL,
  explanation JSON,
  policy_version VARCHAR NOT NULL,
  assigned_at TIMESTAMP NOT NULL,
  source VARCHAR NOT NULL CHECK (source IN ({_SOURCES_SQL})),
  recorded_at TIMESTAMP NOT NULL,
  override_id BIGINT
);

"""

# ``current_assignments`` and ``assignments_as_of``: the latest row per (account, segmentation).
_ASSIGNMENT_VIEWS_SQL = """
CREATE VIEW current_assignments AS
SELECT * FROM assignments
QUALIFY row_number() OVER (
  PARTITION BY account_id, segmentation ORDER BY assigned_at DESC, id DESC
) = 1;

CREATE MACRO assignments_as_of(t) AS TABLE
SELECT * FROM assignments
WHERE assigned_at <= t
QUALIFY row_number() OVER (
  PARTITION BY account_id, segmentation ORDER BY assigned_at DESC, id DESC
) = 1;

"""

_OVERRIDES_SQL = """
CREATE SEQUENCE override_requests_id_seq START 1;
CREATE TABLE override_requests (
  id BIGINT PRIMARY KEY DEFAULT nextval('override_requests_id_seq'),
  account_id VARCHAR NOT NULL,
  segmentation VARCHAR NOT NULL,
  from_outcome VARCHAR,
  to_outcome VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  requested_by VARCHAR NOT NULL,
  requested_at TIMESTAMP NOT NULL
);

CREATE TABLE override_decisions (
  request_id BIGINT PRIMARY KEY,
  decision VARCHAR NOT NULL CHECK (decision IN ('approved', 'rejected')),
  decided_by VARCHAR NOT NULL,
  decided_at TIMESTAMP NOT NULL,
  note VARCHAR
);

CREATE VIEW override_status AS
SELECT
  r.*,
  coalesce(d.decision, 'pending') AS status,
  d.decided_by,
  d.decided_at,
  d.note
FROM override_requests r
LEFT JOIN override_decisions d ON d.request_id = r.id;

CREATE SEQUENCE audit_log_id_seq START 1;
CREATE TABLE audit_log (
  id BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
  "at" TIMESTAMP NOT NULL,
  actor VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  account_id VARCHAR,
  segmentation VARCHAR,
  "before" VARCHAR,
  "after" VARCHAR,
  reason VARCHAR,
  details JSON
);

-- The policy's outcome order (rank: higher = more attention), mirrored from the project.
CREATE TABLE outcome_ranks (
  segmentation VARCHAR NOT NULL,
  outcome VARCHAR NOT NULL,
  rank INTEGER NOT NULL,
  PRIMARY KEY (segmentation, outcome)
);

"""

_OVERRIDE_STATS_SQL = f"""
CREATE VIEW override_stats AS
WITH ruled AS (
  SELECT account_id, segmentation, outcome FROM assignments
  WHERE source IN ({_POLICY_SQL})
  QUALIFY row_number() OVER (
    PARTITION BY account_id, segmentation ORDER BY assigned_at DESC, id DESC
  ) = 1
),
base AS (
  SELECT segmentation, outcome, count(*) AS accounts FROM ruled GROUP BY ALL
),
req AS (
  SELECT
    s.segmentation,
    s.from_outcome AS outcome,
    count(*) AS requested,
    count(*) FILTER (WHERE s.status = 'approved') AS approved,
    count(*) FILTER (WHERE s.status = 'rejected') AS rejected,
    count(*) FILTER (WHERE s.status = 'pending') AS pending,
    count(*) FILTER (WHERE s.status = 'approved' AND rt.rank > rf.rank) AS up,
    count(*) FILTER (WHERE s.status = 'approved' AND rt.rank < rf.rank) AS down,
    count(*) FILTER (
      WHERE s.status = 'approved' AND (rt.rank IS NULL OR rf.rank IS NULL)
    ) AS unranked
  FROM override_status s
  LEFT JOIN outcome_ranks rf
    ON rf.segmentation = s.segmentation AND rf.outcome = s.from_outcome
  LEFT JOIN outcome_ranks rt
    ON rt.segmentation = s.segmentation AND rt.outcome = s.to_outcome
  GROUP BY ALL
)
SELECT
  coalesce(b.segmentation, r.segmentation) AS segmentation,
  coalesce(b.outcome, r.outcome) AS outcome,
  k.rank,
  coalesce(b.accounts, 0) AS accounts,
  coalesce(r.requested, 0) AS requested,
  coalesce(r.approved, 0) AS approved,
  coalesce(r.rejected, 0) AS rejected,
  coalesce(r.pending, 0) AS pending,
  CASE WHEN coalesce(b.accounts, 0) > 0
    THEN coalesce(r.approved, 0) / b.accounts END AS override_rate,
  coalesce(r.up, 0) AS up,
  coalesce(r.down, 0) AS down,
  coalesce(r.unranked, 0) AS unranked
FROM base b
FULL JOIN req r
  ON r.segmentation = b.segmentation AND r.outcome IS NOT DISTINCT FROM b.outcome
LEFT JOIN outcome_ranks k
  ON k.segmentation = coalesce(b.segmentation, r.segmentation)
  AND k.outcome = coalesce(b.outcome, r.outcome);
"""

# Schema version 4: rule-made assignments record their explanation by reference.
# ``assignments`` loses its PRIMARY KEY index (ids still come from the sequence, so they
# stay unique and follow insertion order; the index only slowed bulk inserts down) and
# gains ``decision_id``: the ``decisions`` row whose template explains the row. DuckDB
# cannot drop a constraint, so the table is rebuilt, keeping every row and id.
_DECISIONS_SQL = """
CREATE SEQUENCE decisions_id_seq START 1;
CREATE TABLE decisions (
  id BIGINT PRIMARY KEY DEFAULT nextval('decisions_id_seq'),
  policy_version VARCHAR NOT NULL,
  segmentation VARCHAR NOT NULL,
  decision INTEGER NOT NULL,
  outcome VARCHAR,
  template JSON NOT NULL,
  explanation_sql VARCHAR NOT NULL,
  recorded_at TIMESTAMP NOT NULL
);
"""

_ASSIGNMENTS_V4_SQL = f"""
CREATE TABLE tierline_assignments_v4 (
  id BIGINT NOT NULL DEFAULT nextval('assignments_id_seq'),
  account_id VARCHAR NOT NULL,
  segmentation VARCHAR NOT NULL,
  outcome VARCHAR NOT NULL,
  explanation JSON,
  policy_version VARCHAR NOT NULL,
  assigned_at TIMESTAMP NOT NULL,
  source VARCHAR NOT NULL CHECK (source IN ({_SOURCES_SQL})),
  recorded_at TIMESTAMP NOT NULL,
  override_id BIGINT,
  decision_id BIGINT
);
INSERT INTO tierline_assignments_v4
SELECT id, account_id, segmentation, outcome, explanation, policy_version, assigned_at,
       source, recorded_at, override_id, NULL
FROM assignments ORDER BY id;
DROP VIEW override_stats;
DROP VIEW current_assignments;
DROP MACRO TABLE assignments_as_of;
DROP TABLE assignments;
ALTER TABLE tierline_assignments_v4 RENAME TO assignments;
"""

STATE_V4_SQL = _ASSIGNMENTS_V4_SQL + _ASSIGNMENT_VIEWS_SQL + _OVERRIDE_STATS_SQL + _DECISIONS_SQL

# Schema version 3 (the DDL of the first engine migration; never changed).
STATE_SQL = _ASSIGNMENTS_V3_SQL + _ASSIGNMENT_VIEWS_SQL + _OVERRIDES_SQL + _OVERRIDE_STATS_SQL


def create_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the engine's state tables and views on ``con`` (a migration step)."""
    con.execute(STATE_SQL)


def record_by_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 4: the ``decisions`` catalog and ``assignments.decision_id`` (a migration step)."""
    con.execute(STATE_V4_SQL)


def utc_naive(moment: datetime | None) -> datetime:
    """``moment`` as a naive UTC datetime (the store's convention); now when None.

    A naive input is taken to be UTC already.

    >>> utc_naive(datetime.fromisoformat("2026-01-02T03:04:00+02:00"))
    datetime.datetime(2026, 1, 2, 1, 4)
    """
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def append_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    account_id: str | None,
    segmentation: str | None,
    before: str | None,
    after: str | None,
    reason: str | None,
    details: dict[str, object] | None = None,
) -> None:
    """Append one row to the audit log (``at`` in UTC)."""
    con.execute(
        'INSERT INTO audit_log ("at", actor, action, account_id, segmentation, "before", '
        '"after", reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
            utc_naive(at),
            actor,
            action,
            account_id,
            segmentation,
            before,
            after,
            reason,
            None if details is None else json.dumps(details, default=str),
        ],
    )
