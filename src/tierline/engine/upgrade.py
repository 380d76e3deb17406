"""Automatic upgrades as of a time, in rounds over a scratch copy of the assignment rows.

An account on a track with an ``upgrade`` rule moves up when the rule's ``missed``
milestone was not reached by its stint start + ``after_days``; the move happens *at* that
moment (deterministic, not the run time). :func:`run_upgrades` copies the driving
segmentation's ``assignments`` rows into the temp table ``transition_assignments``, then
repeats: stints and milestone progress from the scratch rows, the upgrades due by
``as_of`` (one ``SELECT``), appended to the scratch rows as ``auto_upgrade`` rows. A round
raises every moved account's level, so the rounds end; later rounds read only the accounts
the previous round moved. The upgrades of every round land in ``transition_upgrades``::

    account_id, from_track, from_name, from_level, to_track, to_name, to_level, outcome,
    outcome_kept, missed, after_days, started_at, transition_at, missed_reached_at,
    assign_csm, round

and ``track_enrollments`` / ``milestone_progress`` / ``track_progress`` end up describing
the stints after the upgrades. Nothing outside temp tables is written.

Only the accounts that move are rebuilt: the first round reads the progress tables as they
are (when the caller says they are current, as a run's are), and when some account moves,
the later rounds and the final tables are computed for the movers alone and merged into the
first round's rows of everybody else (each account's stints depend on its own rows only).
A scope (``accounts``) restricts the scratch rows, hence everything, to those accounts.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from tierline.engine.enrollment import (
    ENROLLMENT_TABLE,
    Cell,
    literal_relation,
    materialise_enrollments,
    scope_filter,
)
from tierline.engine.milestone import PROGRESS_TABLE, SUMMARY_TABLE, progress_tables
from tierline.engine.sqlcache import per_project
from tierline.errors import EngineError
from tierline.policy.model import Project, Segmentation
from tierline.policy.track import Track

__all__ = [
    "SCRATCH_TABLE",
    "UPGRADES_TABLE",
    "count_of",
    "run_upgrades",
    "upgrade_target",
    "upgrade_wake_sql",
]

SCRATCH_TABLE = "transition_assignments"
UPGRADES_TABLE = "transition_upgrades"
_ROUND = "transition_round"

_UPGRADE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("track_id", "VARCHAR"),
    ("track_name", "VARCHAR"),
    ("level", "INTEGER"),
    ("missed", "VARCHAR"),
    ("after_days", "INTEGER"),
    ("to_track", "VARCHAR"),
    ("to_name", "VARCHAR"),
    ("to_level", "INTEGER"),
    ("to_outcome", "VARCHAR"),
    ("assign_csm", "BOOLEAN"),
)


def upgrade_target(project: Project, track: Track) -> Track | None:
    """The track an upgrade of ``track`` goes to (None: no rule, or no higher level)."""
    rule = track.upgrade
    if rule is None:
        return None
    if rule.to == "next":
        higher = [t for t in project.tracks if t.level > track.level]
        return min(higher, key=lambda t: t.level) if higher else None
    target = project.track(rule.to)
    if target is None:
        raise EngineError(f"track {track.id!r}: upgrade to: {rule.to!r} is no track of the project")
    if target.level <= track.level:
        raise EngineError(
            f"track {track.id!r} (level {track.level}) cannot upgrade to {rule.to!r}: its "
            f"level {target.level} is not higher"
        )
    return target


def _upgrade_rules(project: Project, seg: Segmentation) -> str:
    rows: list[tuple[Cell, ...]] = []
    for track in project.tracks:
        target = upgrade_target(project, track)
        if target is None or track.upgrade is None:
            continue
        outcome = next((o for o, t in seg.tracks if t == target.id), None)
        rule = track.upgrade
        rows.append(
            (
                track.id,
                track.name,
                track.level,
                rule.missed,
                rule.after_days,
                target.id,
                target.name,
                target.level,
                outcome,
                rule.assign_csm,
            )
        )
    return literal_relation("u", _UPGRADE_COLUMNS, rows)


def count_of(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The integer the one-cell query ``sql`` returns (0 for NULL)."""
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _progress(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    only: str | None,
    kept: bool | None,
) -> None:
    """Stints from the scratch rows, then progress (only for accounts in ``only``, if set)."""
    materialise_enrollments(con, project, as_of, assignments=SCRATCH_TABLE, accounts=only)
    progress_tables(con, project, as_of, refresh=False, kept=kept)


@per_project
def _round_sql(project: Project, seg: Segmentation) -> str:
    return f"""
WITH rules AS (SELECT * FROM {_upgrade_rules(project, seg)}),
outcomes AS (
  SELECT account_id, outcome FROM {SCRATCH_TABLE}
  WHERE assigned_at <= CAST($as_of AS TIMESTAMP)
  QUALIFY row_number() OVER (
    PARTITION BY account_id
    ORDER BY CASE WHEN source = 'rule' THEN 0 ELSE 1 END DESC, assigned_at DESC, id DESC
  ) = 1
)
SELECT p.account_id, p.track_id AS from_track, rules.track_name AS from_name,
  rules.level AS from_level, rules.to_track, rules.to_name, rules.to_level,
  coalesce(rules.to_outcome, o.outcome) AS outcome, rules.to_outcome IS NULL AS outcome_kept,
  rules.missed, rules.after_days, p.started_at,
  p.started_at + to_days(rules.after_days) AS transition_at,
  m.reached_at AS missed_reached_at, rules.assign_csm
FROM {SUMMARY_TABLE} AS p
JOIN rules ON rules.track_id = p.track_id
JOIN {PROGRESS_TABLE} AS m ON m.account_id = p.account_id AND m.milestone_id = rules.missed
JOIN outcomes AS o ON o.account_id = p.account_id
WHERE p.started_at + to_days(rules.after_days) <= CAST($as_of AS TIMESTAMP)
  AND (m.reached_at IS NULL OR m.reached_at > p.started_at + to_days(rules.after_days))
"""


@per_project
def upgrade_wake_sql(project: Project, seg: Segmentation) -> str:
    """Per current stint, the next time its upgrade rule may fire after ``$as_of``.

    Columns ``account_id, upgrade_at``: the stint start + the rule's days, when that is after
    ``as_of`` and the missed milestone is not reached by ``as_of`` (reached by then, it was
    reached before the deadline: the rule never fires for this stint). Reads
    ``track_progress`` and ``milestone_progress`` as of ``$as_of``.
    """
    return f"""
WITH rules AS (SELECT * FROM {_upgrade_rules(project, seg)})
SELECT p.account_id, p.started_at + to_days(rules.after_days) AS upgrade_at
FROM {SUMMARY_TABLE} AS p
JOIN rules ON rules.track_id = p.track_id
JOIN {PROGRESS_TABLE} AS m ON m.account_id = p.account_id AND m.milestone_id = rules.missed
WHERE p.started_at + to_days(rules.after_days) > CAST($as_of AS TIMESTAMP)
  AND m.reached_at IS NULL
"""


_BASE = "transition_base"
_MOVED = "transition_moved"
_DERIVED = (ENROLLMENT_TABLE, PROGRESS_TABLE, SUMMARY_TABLE)


def run_upgrades(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    seg: Segmentation,
    as_of: datetime,
    *,
    accounts: str | None = None,
    current: bool = False,
    kept: bool | None = None,
) -> None:
    """Rounds of upgrades over the scratch rows until none is due by ``as_of`` (see above).

    ``accounts``: only these accounts (a relation with ``account_id``; None: all).
    ``current``: ``track_enrollments`` and the progress tables already describe the
    ``assignments`` rows of those accounts as of ``as_of`` (the run built them), so the first
    round reads them instead of rebuilding them. ``kept``: whether the kept milestone state
    is fresh (None: check). Later rounds, and the final tables, are rebuilt only for the
    accounts that moved; the others' rows are kept as they are.
    """
    only = scope_filter("account_id", accounts)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {SCRATCH_TABLE} AS SELECT * FROM assignments "
        f"WHERE segmentation = ?{only}",
        [seg.id],
    )
    con.execute(f"DROP TABLE IF EXISTS {UPGRADES_TABLE}")
    sql = _round_sql(project, seg)
    params = {"as_of": as_of}
    if not current:
        _progress(con, project, as_of, None, kept)
    moved = False
    rounds = 0  # rounds in which some account moved
    for step in range(1, len(project.tracks) + 2):
        if moved:
            _progress(con, project, as_of, _ROUND, kept)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_ROUND} AS {sql}", params)
        if step == 1:
            con.execute(
                f"CREATE TEMP TABLE {UPGRADES_TABLE} AS SELECT *, 1 AS round FROM {_ROUND} "
                "WHERE FALSE"
            )
        if not count_of(con, f"SELECT count(*) FROM {_ROUND}"):
            break
        if not moved:
            # keep the first round's tables of every account; the movers' rows are redone
            for table in _DERIVED:
                con.execute(f"DROP TABLE IF EXISTS {_BASE}_{table}")
                con.execute(f"ALTER TABLE {table} RENAME TO {_BASE}_{table}")
        con.execute(f"INSERT INTO {UPGRADES_TABLE} SELECT *, {step} AS round FROM {_ROUND}")
        con.execute(
            f"INSERT INTO {SCRATCH_TABLE} (id, account_id, segmentation, outcome, explanation, "
            "policy_version, assigned_at, source, recorded_at) "
            f"SELECT (SELECT coalesce(max(id), 0) FROM {SCRATCH_TABLE}) "
            "+ row_number() OVER (ORDER BY transition_at, account_id), "
            "account_id, ?, outcome, CAST(json_object('track', to_track) AS JSON), ?, "
            f"transition_at, 'auto_upgrade', CAST(? AS TIMESTAMP) FROM {_ROUND}",
            [seg.id, project.version, as_of],
        )
        moved = True
        rounds += 1
    if moved:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_MOVED} AS SELECT DISTINCT account_id "
            f"FROM {UPGRADES_TABLE}"
        )
        if rounds > 1:
            # the tables hold only the last round's movers: rebuild every mover's rows (after
            # one round they hold every mover's, as rebuilt for the second round)
            _progress(con, project, as_of, _MOVED, kept)
        for table in _DERIVED:
            base = f"{_BASE}_{table}"
            con.execute(f"DELETE FROM {base} WHERE account_id IN (SELECT account_id FROM {_MOVED})")
            con.execute(f"INSERT INTO {base} SELECT * FROM {table}")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE {base} RENAME TO {table}")
        con.execute(f"DROP TABLE {_MOVED}")
    con.execute(f"DROP TABLE IF EXISTS {_ROUND}")
