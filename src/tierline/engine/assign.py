"""Assign closed-won accounts to each segmentation's outcome, set-based on DuckDB.

One run at ``as_of`` reads the book as it was then (``accounts_as_of``, closed-won at or
before ``as_of``) once, with only the columns the policy reads, evaluates each
segmentation's compiled *decision* SELECT (:func:`tierline.compile.segmentation_decisions`)
over it into a temporary table, and then, per segmentation:

- *new accounts* (no assignment row in the segmentation) with an outcome get one
  ``assignments`` row each (source ``rule``) from a single ``INSERT … SELECT``; running
  twice at the same ``as_of`` adds nothing. The row records its explanation *by reference*:
  ``decision_id`` names the ``decisions`` catalog row of its leaf or rule, recorded once
  per policy version (:mod:`tierline.engine.decision`), and ``explain`` renders the full
  explanation from the account as of ``assigned_at``;
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

The work is proportional to what can happen: no anti-join when a segmentation has no
assignment yet, no scan of the current assignments when none was made under another
policy version, and no window over the account versions when none has a second version.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import duckdb
import sqlglot

from tierline.compile import DecisionSelect, segmentation_decisions, segmentation_select, to_sql
from tierline.engine.decision import decision_case, record_decisions
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
    "book_columns",
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


def book_columns(compiled: list[DecisionSelect], account_columns: list[str]) -> list[str]:
    """The account columns the decision SELECTs read (``id`` first), in table order."""
    read = frozenset().union(*(ds.columns for ds in compiled))
    return ["id", *(c for c in account_columns if c.lower() in read and c != "id")]


def _load_book(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    as_of: datetime,
    unassigned_in: Sequence[str] = (),
    changed_since: datetime | None = None,
) -> str:
    """The book as of ``as_of`` (only the columns the policy reads) for every segmentation.

    Usually a temp table: the latest version of each account is picked once (a window over
    every version), not once per segmentation. When no account has a second version loaded
    by ``as_of`` (a store's first import; the importer numbers versions 1, 2, … per
    account), every version is the latest, and the book is a temp view straight over
    ``account_versions``, with no window and no copy. ``unassigned_in``: when every
    segmentation decides only its unassigned accounts (their ids), the book holds only the
    accounts some of them has not assigned (a daily run's new accounts), as a temp table;
    with ``changed_since`` as well, only those of them whose book row may have changed
    since then: closed-won after it, or with a version loaded after it.
    Returns ``"VIEW"`` or ``"TABLE"``.
    """
    picked = ", ".join(f'"{c}"' for c in columns)
    moment = f"TIMESTAMP '{as_of:%Y-%m-%d %H:%M:%S.%f}'"
    settled, params = "", list[object]()
    changed, among = "", ""
    if unassigned_in and changed_since is not None:
        since = f"TIMESTAMP '{changed_since:%Y-%m-%d %H:%M:%S.%f}'"
        fresh = (
            f"SELECT id FROM account_versions WHERE (loaded_at > {since} "
            f"AND loaded_at <= {moment}) OR (closed_won_at > {since} AND closed_won_at <= {moment})"
        )
        changed = f" AND id IN ({fresh})"
        among = f" AND account_id IN ({fresh})"
    if unassigned_in:
        # an account is settled when it has a row in every segmentation: one bit per
        # segmentation, or-ed per account (a distinct count would hash every pair)
        names = sorted(set(unassigned_in))
        marks = ", ".join("?" for _ in names)
        if len(names) < 63:
            bits = " ".join(f"WHEN ? THEN CAST({1 << i} AS BIGINT)" for i in range(len(names)))
            having = f"bit_or(CASE segmentation {bits} END) = {(1 << len(names)) - 1}"
            params = [*names, *names]
        else:
            having, params = f"count(DISTINCT segmentation) = {len(names)}", [*names]
        settled = (
            f"{changed} AND id NOT IN (SELECT account_id FROM assignments "
            f"WHERE segmentation IN ({marks}){among} GROUP BY account_id HAVING {having})"
        )
    try:
        latest = _rows(
            con,
            "SELECT coalesce(max(version), 0) FROM account_versions WHERE loaded_at <= ?",
            [as_of],
        )[0][0]
        if int(str(latest)) <= 1:
            kind = "TABLE" if settled else "VIEW"
            con.execute(
                f"CREATE OR REPLACE TEMP {kind} {_BOOK} AS SELECT {picked} FROM account_versions "
                f"WHERE loaded_at <= {moment} AND closed_won_at <= {moment}{settled}",
                params,
            )
            return kind
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_BOOK} AS SELECT {picked} FROM ({_BOOK_SQL}) "
            f"WHERE TRUE{settled}",
            [as_of, as_of, *params],
        )
    except duckdb.Error as exc:
        raise EngineError(f"cannot read the book as of {as_of:%Y-%m-%d %H:%M}: {exc}") from exc
    return "TABLE"


# New accounts: decided, with no assignment row in the segmentation (an account has a
# current assignment exactly when it has any assignment row, so no window is needed).
_NEW = f"FROM {_DECIDED} d WHERE d.outcome IS NOT NULL AND d.is_new "

# The new accounts per outcome, and the unassigned ones per reason, in one scan.
_GROUPS = f"""
SELECT d.outcome,
       CASE WHEN d.outcome IS NULL
         THEN coalesce(json_extract_string(d.explanation, '$.reason'), 'no outcome')
       END AS reason,
       count(*) AS n,
       min(d.account_id, {_EXAMPLES}) AS examples
FROM {_DECIDED} d
WHERE d.is_new
GROUP BY ALL
"""

# Whether the segmentation has any assignment yet, and any made under another policy.
_STATE = """
SELECT EXISTS (SELECT 1 FROM assignments WHERE segmentation = ?),
       EXISTS (SELECT 1 FROM assignments WHERE segmentation = ? AND policy_version <> ?)
"""

# Current assignments made under another policy version that the current policy decides
# differently (a NULL decision counts as different: the account would become unassigned).
_MOVES_SQL = f"""
CREATE OR REPLACE TEMP TABLE {_MOVES} AS
SELECT c.account_id,
       c.outcome AS from_outcome,
       d.outcome AS to_outcome,
       d.decision,
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
       min(account_id, {_EXAMPLES}) AS examples
FROM {_MOVES}
GROUP BY ALL
ORDER BY n DESC, from_outcome, to_outcome NULLS LAST
"""

_COLUMNS = (
    "account_id, segmentation, outcome, policy_version, assigned_at, source, recorded_at, "
    "decision_id"
)
_INSERT = f"INSERT INTO assignments ({_COLUMNS}) "
_INSERT_ID = f"INSERT INTO assignments (id, {_COLUMNS}) "
_ID_SEQUENCE = "assignments_id_seq"


def _decide(
    con: duckdb.DuckDBPyConnection,
    seg: Segmentation,
    compiled: DecisionSelect,
    fresh: bool,
    only_new: bool,
) -> None:
    """Decide the accounts of the book into the temp table, marking the new ones.

    ``fresh``: the segmentation has no assignment yet (every account is new).
    ``only_new``: nothing made under another policy version can move, so only the accounts
    without an assignment row are decided at all (a daily run decides the day's new
    accounts, not the whole book).
    """
    select = compiled.sql("duckdb")
    missing = (
        "NOT EXISTS (SELECT 1 FROM assignments a "
        "WHERE a.account_id = d.account_id AND a.segmentation = ?)"
    )
    if fresh:
        sql, params = f"SELECT d.*, TRUE AS is_new FROM ({select}) d", []
    elif only_new:
        sql = f"SELECT d.*, TRUE AS is_new FROM ({select}) d WHERE {missing}"
        params = [seg.id]
    else:
        sql, params = f"SELECT d.*, {missing} AS is_new FROM ({select}) d", [seg.id]
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_DECIDED} AS {sql}", params)
    except duckdb.Error as exc:
        raise EngineError(f"segmentation {seg.id!r}: cannot evaluate the policy: {exc}") from exc


def _append_new(
    con: duckdb.DuckDBPyConnection,
    values: tuple[str, str, datetime, datetime],
    decision_id: str,
    count: int,
) -> None:
    """Append the ``count`` new accounts' rows (source rule) with ids computed set-based.

    The id column's ``nextval`` default would make DuckDB append on one thread; instead
    one sequence value is taken as the base, the rows get base, base + 1, … in account id
    order, and the sequence is moved past the last id, so later defaults continue after
    it. The ids depend only on the accounts assigned, never on the order in which DuckDB
    wrote the decided table (its row ids are neither dense nor in a fixed order when it is
    written in parallel), so the same book and history give the same ids.
    """
    base = int(str(_rows(con, f"SELECT nextval('{_ID_SEQUENCE}')", [])[0][0]))
    _rows(
        con,
        f"{_INSERT_ID}SELECT {base} - 1 + n.no, d.account_id, ?, d.outcome, ?, ?, 'rule', ?, "
        f"{decision_id} FROM (SELECT d.account_id, row_number() OVER (ORDER BY d.account_id) "
        f"AS no {_NEW}) AS n JOIN {_DECIDED} AS d ON d.account_id = n.account_id",
        list(values),
    )
    _rows(
        con,
        f"SELECT setval('{_ID_SEQUENCE}', greatest(currval('{_ID_SEQUENCE}'), ?))",
        [base + count - 1],
    )


def _moves(
    con: duckdb.DuckDBPyConnection, sid: str, version: str, other: bool
) -> tuple[list[Move], list[Move], list[Move], int]:
    """Pending moves, those kept by an override or as unassigned, and the outdated count.

    ``other``: whether the segmentation has any assignment made under another policy
    version (if not, there is nothing to move and no window over the assignments).
    """
    moves: list[Move] = []
    kept_override: list[Move] = []
    kept_null: list[Move] = []
    if not other:
        return moves, kept_override, kept_null, 0
    _rows(con, _MOVES_SQL, [sid, version])
    for by_override, to_null, frm, to, n, e in _rows(con, _MOVE_GROUPS, []):
        move = Move(str(frm), None if to is None else str(to), int(str(n)), _examples(e))
        (kept_override if by_override else kept_null if to_null else moves).append(move)
    outdated_row = _rows(
        con,
        "SELECT count(*) FROM current_assignments WHERE segmentation = ? AND policy_version <> ?",
        [sid, version],
    )
    outdated = int(str(outdated_row[0][0])) if outdated_row else 0
    return moves, kept_override, kept_null, outdated


def _state(con: duckdb.DuckDBPyConnection, sid: str, version: str) -> tuple[bool, bool]:
    """Whether a segmentation has assignment rows, and rows made under another version."""
    has_rows, other = (bool(v) for v in _rows(con, _STATE, [sid, sid, version])[0])
    return has_rows, other


def _untouched(sid: str) -> SegmentationResult:
    """The result of a segmentation with no account to decide and none to move."""
    return SegmentationResult(sid, (), (), (), (), (), 0)


def _segmentation(
    con: duckdb.DuckDBPyConnection,
    seg: Segmentation,
    compiled: DecisionSelect,
    project: Project,
    as_of: datetime,
    now: datetime,
    mode: Mode,
    state: tuple[bool, bool],
) -> SegmentationResult:
    sid, version = seg.id, project.version
    has_rows, other = state
    _decide(con, seg, compiled, fresh=not has_rows, only_new=not other)
    groups = _rows(con, _GROUPS, [])
    assigned = tuple(
        OutcomeCount(str(o), int(str(n)), _examples(e))
        for o, _, n, e in sorted((g for g in groups if g[0] is not None), key=lambda g: str(g[0]))
    )
    unassigned = tuple(
        Unassigned(str(r), int(str(n)), _examples(e))
        for _, r, n, e in sorted(
            (g for g in groups if g[0] is None), key=lambda g: (-int(str(g[2])), str(g[1]))
        )
    )
    moves, kept_override, kept_null, outdated = _moves(con, sid, version, other)
    decision_id = "NULL"
    if (mode != "preview" and assigned) or (mode == "reassign" and moves):
        ids = record_decisions(con, version, sid, compiled, now)
        decision_id = decision_case(ids, "decision")
    if mode != "preview" and assigned:
        count = sum(a.count for a in assigned)
        _append_new(con, (sid, version, as_of, now), decision_id, count)
    if mode == "reassign" and moves:
        _rows(
            con,
            f"{_INSERT}SELECT account_id, ?, to_outcome, ?, ?, 'reassign', ?, {decision_id} "
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


# For one large append of assignment rows, skip DuckDB's dictionary+FSST string
# compression: its analysis of the unique account ids costs more CPU than the rest of the
# append's compression together (about 15% of assigning 10^6 accounts on 2 threads;
# bench/RESULTS.md). The rows are still compressed (FSST, dictionary, constant …). The
# setting is database-wide, so it is restored right after the commit.
_SKIPPED_COMPRESSION = "dict_fsst"
_COMPRESSION_SETTING = "disabled_compression_methods"


@contextmanager
def _bulk_write(con: duckdb.DuckDBPyConnection, enabled: bool) -> Iterator[None]:
    """Skip :data:`_SKIPPED_COMPRESSION` for the block when ``enabled``, then restore."""
    before: str | None = None
    if enabled:
        try:
            row = con.execute(f"SELECT current_setting('{_COMPRESSION_SETTING}')").fetchone()
            before = "" if row is None or row[0] is None else str(row[0])
            methods = {m.strip().lower() for m in before.split(",") if m.strip()}
            methods.add(_SKIPPED_COMPRESSION)
            con.execute(f"SET {_COMPRESSION_SETTING} = '{','.join(sorted(methods))}'")
        except duckdb.Error:
            before = None  # a DuckDB without this method or setting: nothing to skip
    try:
        yield
    finally:
        if before is not None:
            con.execute(f"SET {_COMPRESSION_SETTING} = '{before}'")


def assign_accounts(
    store: Store,
    project: Project,
    as_of: datetime,
    *,
    preview: bool = False,
    reassign: bool = False,
    now: datetime | None = None,
    changed_since: datetime | None = None,
) -> AssignReport:
    """Assign every closed-won account without a current assignment, per segmentation.

    ``preview`` writes nothing and reports what a ``reassign`` would move; ``reassign``
    also records the moves a policy change implies. ``as_of`` is the assignment time (UTC);
    ``now`` the recording time (defaults to the wall clock).

    ``changed_since``: an earlier assignment time of this policy version whose decisions
    still hold (a run's previous run, see :func:`tierline.engine.scope.assigned_since`).
    An account not closed-won after it and with no version loaded after it has the book
    row it had then, so its decisions are the ones made then: when nothing was made under
    another policy version, only the other accounts are decided. The report's
    ``unassigned`` then lists only accounts decided now; the rows written are the same.
    """
    if preview and reassign:
        raise UsageError("--preview and --reassign cannot be used together")
    mode: Mode = "preview" if preview else "reassign" if reassign else "assign"
    when = utc_naive(as_of)
    recorded = utc_naive(now)
    con = store.con
    # On an error the rollback also removes the temporary tables.
    with _bulk_write(con, mode != "preview"), store.transaction():
        if mode != "preview":
            sync_outcome_ranks(con, project)
        compiled = [segmentation_decisions(s, project, source=_BOOK) for s in project.segmentations]
        states = [_state(con, seg.id, project.version) for seg in project.segmentations]
        # every segmentation decides only its unassigned accounts: a book of those alone
        settled = all(has_rows and not other for has_rows, other in states)
        unassigned_in = [seg.id for seg in project.segmentations] if settled else []
        columns = book_columns(compiled, list(store.account_columns()))
        since = None if mode != "assign" else changed_since
        book = _load_book(con, columns, when, unassigned_in, since)
        if settled and not _rows(con, f"SELECT EXISTS (SELECT 1 FROM {_BOOK})", [])[0][0]:
            # every account is assigned in every segmentation, all under this policy
            # version: nothing to decide and nothing to move (a daily run's usual case)
            results = [_untouched(seg.id) for seg in project.segmentations]
        else:
            results = [
                _segmentation(con, seg, decisions, project, when, recorded, mode, state)
                for seg, decisions, state in zip(
                    project.segmentations, compiled, states, strict=True
                )
            ]
        for table in (_DECIDED, _MOVES):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP {book} IF EXISTS {_BOOK}")
    return AssignReport(when, project.version, mode, tuple(results))
