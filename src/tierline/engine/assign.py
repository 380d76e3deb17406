"""Assign closed-won accounts to each segmentation's outcome, set-based on DuckDB.

One run at ``as_of`` reads the book as it was then (``accounts_as_of``, closed-won at or
before ``as_of``), evaluates every segmentation's compiled SELECT once into a temporary
table, and then, per segmentation:

- *new accounts* (no current assignment) with an outcome get one ``assignments`` row each
  (source ``rule``) from a single ``INSERT … SELECT`` anti-joined with
  ``current_assignments``; running twice at the same ``as_of`` adds nothing;
- *unassigned accounts* (the policy gives no outcome) are **not recorded**: they are
  reported on every run, grouped by the reason the explanation gives, with examples, so a
  policy fix assigns them on the next run;
- *policy changes never move accounts silently*: current assignments made under another
  policy version whose outcome the current policy would change are only counted (plain
  run: a notice; ``preview``: the from → to matrix with examples, nothing written) until a
  ``reassign`` run records the moves (source ``reassign``, one audit-log row each). Only
  policy-made assignments (source ``rule`` or ``reassign``) move: accounts with an approved
  override are never moved by a reassign (reported as kept), nor are accounts the new
  policy leaves unassigned (they keep their outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import duckdb
import sqlglot

from tierline.compile import segmentation_select, to_sql
from tierline.engine.rank import sync_outcome_ranks
from tierline.engine.state import utc_naive
from tierline.errors import EngineError, UsageError
from tierline.policy.model import Project, Segmentation

if TYPE_CHECKING:
    from tierline.store import Store

__all__ = [
    "AssignReport",
    "Mode",
    "Move",
    "OutcomeCount",
    "SegmentationResult",
    "Unassigned",
    "assign_accounts",
    "decided_sql",
]

Mode = Literal["assign", "preview", "reassign"]

_BOOK = "tierline_book"
_DECIDED = "tierline_decided"
_MOVES = "tierline_moves"
_EXAMPLES = 3

# The book as of a time: the latest account versions loaded by then, closed-won by then.
_BOOK_SQL = (
    "SELECT * FROM accounts_as_of(CAST(? AS TIMESTAMP)) WHERE closed_won_at <= CAST(? AS TIMESTAMP)"
)


@dataclass(frozen=True)
class OutcomeCount:
    """How many accounts got (or would get) ``outcome``, with a few example ids."""

    outcome: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Unassigned:
    """Accounts the policy leaves without an outcome for one ``reason``."""

    reason: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Move:
    """Accounts whose outcome goes (or would go) from ``from_outcome`` to ``to_outcome``.

    ``to_outcome`` is None when the current policy leaves them unassigned.
    """

    from_outcome: str
    to_outcome: str | None
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class SegmentationResult:
    """What one run did (or, in a preview, would do) for one segmentation.

    ``moves`` are the moves a reassign applies: in a plain run they are pending (the policy
    changed), in a preview they would be applied, in a reassign they were recorded.
    ``kept_by_override`` and ``kept_unassigned`` are accounts the current policy would move
    that a reassign keeps: an approved override holds them, or the policy gives no outcome.
    ``outdated`` counts current assignments made under another policy version.
    """

    segmentation: str
    assigned: tuple[OutcomeCount, ...]
    unassigned: tuple[Unassigned, ...]
    moves: tuple[Move, ...]
    kept_by_override: tuple[Move, ...]
    kept_unassigned: tuple[Move, ...]
    outdated: int

    @property
    def assigned_count(self) -> int:
        """Accounts newly assigned (or, in a preview, that would be)."""
        return sum(o.count for o in self.assigned)

    @property
    def unassigned_count(self) -> int:
        """Accounts the policy leaves without an outcome."""
        return sum(u.count for u in self.unassigned)

    @property
    def move_count(self) -> int:
        """Accounts a reassign moves (pending, previewed or recorded)."""
        return sum(m.count for m in self.moves)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "segmentation": self.segmentation,
            "assigned": {o.outcome: o.count for o in self.assigned},
            "assigned_examples": {o.outcome: list(o.examples) for o in self.assigned},
            "assigned_total": self.assigned_count,
            "unassigned_total": self.unassigned_count,
            "unassigned": [
                {"reason": u.reason, "count": u.count, "examples": list(u.examples)}
                for u in self.unassigned
            ],
            "outdated": self.outdated,
            "moves": [_move_dict(m) for m in self.moves],
            "move_total": self.move_count,
            "kept_by_override": [_move_dict(m) for m in self.kept_by_override],
            "kept_unassigned": [_move_dict(m) for m in self.kept_unassigned],
        }


def _move_dict(move: Move) -> dict[str, object]:
    return {
        "from": move.from_outcome,
        "to": move.to_outcome,
        "count": move.count,
        "examples": list(move.examples),
    }


@dataclass(frozen=True)
class AssignReport:
    """The result of :func:`assign_accounts`: one :class:`SegmentationResult` each."""

    as_of: datetime
    policy_version: str
    mode: Mode
    segmentations: tuple[SegmentationResult, ...]

    @property
    def written(self) -> bool:
        """True when the run recorded rows (never for a preview)."""
        if self.mode == "preview":
            return False
        return any(
            s.assigned_count or (self.mode == "reassign" and s.moves) for s in self.segmentations
        )

    def segmentation(self, sid: str) -> SegmentationResult:
        """The result for segmentation ``sid``."""
        for s in self.segmentations:
            if s.segmentation == sid:
                return s
        raise KeyError(sid)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times as ISO-8601 UTC)."""
        return {
            "as_of": self.as_of.isoformat() + "Z",
            "policy_version": self.policy_version,
            "mode": self.mode,
            "written": self.written,
            "segmentations": [s.to_dict() for s in self.segmentations],
        }


def decided_sql(seg: Segmentation, project: Project) -> str:
    """DuckDB SQL of the segmentation over the book as of ``?`` (bind as_of twice).

    Yields ``account_id, outcome, explanation`` for every account closed-won by then.
    """
    select = segmentation_select(seg, project, source=_BOOK)
    book = sqlglot.parse_one(_BOOK_SQL, read="duckdb")
    return to_sql(select.with_(_BOOK, as_=book), "duckdb")


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object]
) -> list[tuple[object, ...]]:
    try:
        return [tuple(r) for r in con.execute(sql, params).fetchall()]
    except duckdb.Error as exc:
        raise EngineError(f"assignment query failed: {exc}") from exc


def _examples(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


_NEW = f"""
FROM {_DECIDED} d
WHERE d.outcome IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM current_assignments c
    WHERE c.account_id = d.account_id AND c.segmentation = ?
  )
"""

_UNASSIGNED = f"""
SELECT coalesce(json_extract_string(d.explanation, '$.reason'), 'no outcome') AS reason,
       count(*) AS n,
       (list(d.account_id ORDER BY d.account_id))[1:{_EXAMPLES}] AS examples
FROM {_DECIDED} d
WHERE d.outcome IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM current_assignments c
    WHERE c.account_id = d.account_id AND c.segmentation = ?
  )
GROUP BY reason
ORDER BY n DESC, reason
"""

# Current assignments made under another policy version that the current policy decides
# differently (a NULL decision counts as different: the account would become unassigned).
_MOVES_SQL = f"""
CREATE OR REPLACE TEMP TABLE {_MOVES} AS
SELECT c.account_id,
       c.outcome AS from_outcome,
       d.outcome AS to_outcome,
       d.explanation,
       c.source = 'override' OR EXISTS (
         SELECT 1 FROM override_status o
         WHERE o.account_id = c.account_id AND o.segmentation = c.segmentation
           AND o.status = 'approved'
       ) AS by_override
FROM current_assignments c
JOIN {_DECIDED} d ON d.account_id = c.account_id
WHERE c.segmentation = ?
  AND c.source IN ('rule', 'reassign', 'override')
  AND c.policy_version <> ?
  AND d.outcome IS DISTINCT FROM c.outcome
"""

_MOVE_GROUPS = f"""
SELECT by_override, to_outcome IS NULL AS to_null, from_outcome, to_outcome,
       count(*) AS n,
       (list(account_id ORDER BY account_id))[1:{_EXAMPLES}] AS examples
FROM {_MOVES}
GROUP BY ALL
ORDER BY n DESC, from_outcome, to_outcome NULLS LAST
"""


def _segmentation(
    con: duckdb.DuckDBPyConnection,
    seg: Segmentation,
    project: Project,
    as_of: datetime,
    now: datetime,
    mode: Mode,
) -> SegmentationResult:
    sid, version = seg.id, project.version
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_DECIDED} AS {decided_sql(seg, project)}",
            [as_of, as_of],
        )
    except duckdb.Error as exc:
        raise EngineError(f"segmentation {sid!r}: cannot evaluate the policy: {exc}") from exc
    new = _rows(
        con,
        "SELECT d.outcome, count(*) AS n, "
        f"(list(d.account_id ORDER BY d.account_id))[1:{_EXAMPLES}] {_NEW}"
        "GROUP BY d.outcome ORDER BY d.outcome",
        [sid],
    )
    assigned = tuple(OutcomeCount(str(o), int(str(n)), _examples(e)) for o, n, e in new)
    unassigned = tuple(
        Unassigned(str(r), int(str(n)), _examples(e)) for r, n, e in _rows(con, _UNASSIGNED, [sid])
    )
    _rows(con, _MOVES_SQL, [sid, version])
    moves: list[Move] = []
    kept_override: list[Move] = []
    kept_null: list[Move] = []
    for by_override, to_null, frm, to, n, e in _rows(con, _MOVE_GROUPS, []):
        move = Move(str(frm), None if to is None else str(to), int(str(n)), _examples(e))
        (kept_override if by_override else kept_null if to_null else moves).append(move)
    outdated_row = _rows(
        con,
        "SELECT count(*) FROM current_assignments WHERE segmentation = ? AND policy_version <> ?",
        [sid, version],
    )
    outdated = int(str(outdated_row[0][0])) if outdated_row else 0
    if mode != "preview":
        _rows(
            con,
            "INSERT INTO assignments (account_id, segmentation, outcome, explanation, "
            "policy_version, assigned_at, source, recorded_at) "
            f"SELECT d.account_id, ?, d.outcome, d.explanation, ?, ?, 'rule', ? {_NEW}"
            "ORDER BY d.account_id",
            [sid, version, as_of, now, sid],
        )
    if mode == "reassign":
        _rows(
            con,
            "INSERT INTO assignments (account_id, segmentation, outcome, explanation, "
            "policy_version, assigned_at, source, recorded_at) "
            "SELECT account_id, ?, to_outcome, explanation, ?, ?, 'reassign', ? "
            f"FROM {_MOVES} WHERE NOT by_override AND to_outcome IS NOT NULL "
            "ORDER BY account_id",
            [sid, version, as_of, now],
        )
        _rows(
            con,
            'INSERT INTO audit_log ("at", actor, action, account_id, segmentation, '
            '"before", "after", reason, details) '
            "SELECT ?, 'tierline', 'reassign', account_id, ?, from_outcome, to_outcome, "
            "'policy changed to version ' || ?, NULL "
            f"FROM {_MOVES} WHERE NOT by_override AND to_outcome IS NOT NULL "
            "ORDER BY account_id",
            [now, sid, version],
        )
    return SegmentationResult(
        segmentation=sid,
        assigned=assigned,
        unassigned=unassigned,
        moves=tuple(moves),
        kept_by_override=tuple(kept_override),
        kept_unassigned=tuple(kept_null),
        outdated=outdated,
    )


def assign_accounts(
    store: Store,
    project: Project,
    as_of: datetime,
    *,
    preview: bool = False,
    reassign: bool = False,
    now: datetime | None = None,
) -> AssignReport:
    """Assign every closed-won account without a current assignment, per segmentation.

    ``preview`` writes nothing and reports what a ``reassign`` would move; ``reassign``
    also records the moves a policy change implies. ``as_of`` is the assignment time (UTC);
    ``now`` the recording time (defaults to the wall clock).
    """
    if preview and reassign:
        raise UsageError("--preview and --reassign cannot be used together")
    mode: Mode = "preview" if preview else "reassign" if reassign else "assign"
    when = utc_naive(as_of)
    recorded = utc_naive(now)
    con = store.con
    results: list[SegmentationResult] = []
    # On an error the rollback also removes the temporary tables.
    with store.transaction():
        if mode != "preview":
            sync_outcome_ranks(con, project)
        for seg in project.segmentations:
            results.append(_segmentation(con, seg, project, when, recorded, mode))
        con.execute(f"DROP TABLE IF EXISTS {_DECIDED}")
        con.execute(f"DROP TABLE IF EXISTS {_MOVES}")
    return AssignReport(when, project.version, mode, tuple(results))
