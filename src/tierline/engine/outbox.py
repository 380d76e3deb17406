"""The outbox: every action a run decides, appended once, keyed by (rule, account, episode).

Two append-only tables, created on first use by :func:`ensure_outbox`:

``outbox`` — one row per action::

    seq, idempotency_key, rule, account_id, episode, kind, due_at, payload, created_at,
    run_id, policy_version, status, key_no

``idempotency_key`` is the first 32 hex digits of ``sha256(rule|account_id|episode)``
(:func:`idempotency_key`). :func:`append_candidates` inserts the candidates whose key is not
recorded yet in ONE ``INSERT … SELECT`` anti-joined on it, so a second run at the same time
adds nothing and no key is ever recorded twice. The recorded keys are found by probing the
outbox with the candidates' keys (a semi-join built on the candidates), so appending the
few candidates of a daily run reads one key column once and hashes only the candidates.
That column is ``key_no``, the key's own 64-bit number (the first 16 hex digits of
``sha256(idempotency_key)``, :func:`key_no_sql`): scanning 8-byte integers is several times
cheaper than scanning the 32-character keys (on 1.7 M actions, ~5 ms against ~40 ms).
Equal keys have equal numbers, so the semi-join finds every recorded key; the rare other
key with the same number is told apart by comparing the keys themselves, among the few
rows found.

The key is not declared ``PRIMARY KEY``: DuckDB would keep an ART index over every key ever
recorded, load it back from disk after each checkpoint and probe it on every insert. On a
book of 10^5 accounts (1.7 M actions) that cost a daily run ~0.1 s and grows with history,
while the anti-join already makes the append exact. The outbox has one writer: ``run``, in
its own transaction, and DuckDB lets one process at a time open a store for writing; two
runs on two connections of one process at once could both append a key, and tierline never
does that. :func:`unindex_outbox` rebuilds an outbox made before schema 5 without the
index (a store migration).
``seq`` is the insertion order; ``status`` is ``pending`` when written (deliveries are
recorded elsewhere, never by updating this row), or ``expired`` for a candidate due before
the run's catch-up cutoff (``expire_before``, see
:func:`expiry_cutoff`): such an action is recorded, so its key never comes back, but it is
history: never delivered and never an open task. A candidate due exactly at the cutoff, or
with no due time, is pending.

``runs`` — one row per recorded run::

    run_id, as_of, started_at, finished_at, policy_version, counts, dry_run, backtest

Candidates are any relation with the columns ``rule, account_id, episode, kind, due_at,
payload`` (:data:`CANDIDATE_COLUMNS`); rows with a NULL rule, account or episode are never
recorded, and duplicates of a key within one batch keep the earliest due.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from tierline.engine.connection import first_row, relation_columns, table_exists
from tierline.errors import EngineError

__all__ = [
    "ACTION_KINDS",
    "ACTION_STATUSES",
    "CANDIDATE_COLUMNS",
    "OUTBOX_SQL",
    "OUTBOX_TABLE",
    "RUNS_TABLE",
    "STATUS_EXPIRED",
    "STATUS_PENDING",
    "URGENCY_ORDER",
    "OutboxRow",
    "append_candidates",
    "ensure_outbox",
    "expiry_cutoff",
    "idempotency_key",
    "key_no_sql",
    "key_sql",
    "number_outbox_keys",
    "outbox_rows",
    "record_run",
    "unindex_outbox",
]

OUTBOX_TABLE = "outbox"
RUNS_TABLE = "runs"
CANDIDATE_COLUMNS: tuple[str, ...] = ("rule", "account_id", "episode", "kind", "due_at", "payload")
ACTION_KINDS: tuple[str, ...] = ("task", "email", "notify", "tier_change", "csm_assignment")
STATUS_PENDING = "pending"
STATUS_EXPIRED = "expired"
ACTION_STATUSES: tuple[str, ...] = (STATUS_PENDING, STATUS_EXPIRED)
# Most urgent first: pending before the rest, then the soonest due (the most overdue).
URGENCY_ORDER = "status <> 'pending', due_at NULLS LAST, seq"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

OUTBOX_SQL: tuple[str, ...] = (
    "CREATE SEQUENCE IF NOT EXISTS outbox_seq START 1",
    f"""CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} (
  seq BIGINT NOT NULL DEFAULT nextval('outbox_seq'),
  idempotency_key VARCHAR NOT NULL,
  rule VARCHAR NOT NULL,
  account_id VARCHAR NOT NULL,
  episode VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  due_at TIMESTAMP,
  payload JSON,
  created_at TIMESTAMP NOT NULL,
  run_id VARCHAR NOT NULL,
  policy_version VARCHAR NOT NULL,
  status VARCHAR NOT NULL DEFAULT 'pending',
  key_no UBIGINT NOT NULL
)""",
    f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
  run_id VARCHAR PRIMARY KEY,
  as_of TIMESTAMP NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  policy_version VARCHAR NOT NULL,
  counts JSON,
  dry_run BOOLEAN NOT NULL,
  backtest BOOLEAN NOT NULL
)""",
)


@dataclass(frozen=True)
class OutboxRow:
    """One recorded (or, in a dry run, would-be) action."""

    seq: int
    idempotency_key: str
    rule: str
    account_id: str
    episode: str
    kind: str
    due_at: datetime | None
    payload: Mapping[str, object]
    run_id: str
    status: str = STATUS_PENDING

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times as ISO-8601 UTC)."""
        return {
            "seq": self.seq,
            "idempotency_key": self.idempotency_key,
            "rule": self.rule,
            "account_id": self.account_id,
            "episode": self.episode,
            "kind": self.kind,
            "due_at": None if self.due_at is None else self.due_at.isoformat() + "Z",
            "payload": dict(self.payload),
            "run_id": self.run_id,
            "status": self.status,
        }


def idempotency_key(rule: str, account_id: str, episode: str) -> str:
    """The action's key: the first 32 hex digits of sha256 of ``rule|account_id|episode``.

    >>> idempotency_key("stall:guided", "a1", "2026-03-16")
    '9db0c660a915390323c2e5e9aba2bbe8'
    """
    return hashlib.sha256(f"{rule}|{account_id}|{episode}".encode()).hexdigest()[:32]


def key_sql(alias: str = "c") -> str:
    """The SQL of :func:`idempotency_key` over a relation aliased ``alias``."""
    return f"left(sha256({alias}.rule || '|' || {alias}.account_id || '|' || {alias}.episode), 32)"


def key_no_sql(key: str) -> str:
    """The SQL of the ``key_no`` of the idempotency key ``key`` (an SQL expression): the first
    16 hex digits of its sha256, as an unsigned 64-bit integer."""
    return f"CAST('0x' || left(sha256({key}), 16) AS UBIGINT)"


def expiry_cutoff(as_of: datetime, catch_up: timedelta | None) -> datetime | None:
    """The catch-up cutoff: actions due before ``as_of - catch_up`` expire (None: none do).

    >>> expiry_cutoff(datetime(2026, 3, 15), timedelta(days=7))
    datetime.datetime(2026, 3, 8, 0, 0)
    """
    return None if catch_up is None else as_of - catch_up


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``outbox`` and ``runs`` tables when missing."""
    for ddl in OUTBOX_SQL:
        con.execute(ddl)


def unindex_outbox(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild an ``outbox`` whose key is a PRIMARY KEY without the index; whether it did.

    Rows, their order and ``seq`` are kept; the caller owns the transaction.
    """
    row = first_row(
        con,
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') "
        "AND database_name = current_database() AND schema_name = current_schema()",
        [OUTBOX_TABLE],
    )
    if not row or not row[0]:
        return False
    _rebuild(con, numbered="key_no" in (relation_columns(con, OUTBOX_TABLE) or set()))
    return True


def number_outbox_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild an ``outbox`` made before ``key_no`` with the column; whether it did.

    Rows, their order and ``seq`` are kept; the caller owns the transaction.
    """
    # asked of the catalog first: reading a missing table would abort the transaction
    if not table_exists(con, OUTBOX_TABLE):
        return False
    if "key_no" in (relation_columns(con, OUTBOX_TABLE) or set()):
        return False
    _rebuild(con, numbered=False)
    return True


def _rebuild(con: duckdb.DuckDBPyConnection, *, numbered: bool) -> None:
    """Copy the outbox into a table of the current layout (by column name, in ``seq`` order),
    numbering the keys when the old table has no ``key_no`` (``numbered`` False)."""
    old = f"{OUTBOX_TABLE}_old"
    con.execute(f"ALTER TABLE {OUTBOX_TABLE} RENAME TO {old}")
    ensure_outbox(con)
    extra = "" if numbered else f", {key_no_sql('o.idempotency_key')} AS key_no"
    con.execute(
        f"INSERT INTO {OUTBOX_TABLE} BY NAME SELECT o.*{extra} FROM {old} AS o ORDER BY seq"
    )
    con.execute(f"DROP TABLE {old}")


def _relation(source: str) -> str:
    if _NAME.match(source):
        return source
    if source.startswith("(") and source.endswith(")"):
        return source
    raise EngineError(f"candidates must be a table name or a parenthesised SELECT, not {source!r}")


def append_candidates(
    con: duckdb.DuckDBPyConnection,
    candidates: str,
    *,
    run_id: str,
    policy_version: str,
    created_at: datetime,
    expire_before: datetime | None = None,
) -> int:
    """Append the candidates not recorded yet (one statement); the number of rows added.

    Those due before ``expire_before`` are recorded as ``expired``, the rest as ``pending``.
    """
    ensure_outbox(con)
    source = _relation(candidates)
    # the keys already recorded, found by a semi-join probed with the candidates' key
    # numbers (a daily run has few candidates: the outbox's numbers are scanned, never
    # hashed), then told apart by the keys themselves among the rows found
    sql = f"""
INSERT INTO {OUTBOX_TABLE} (idempotency_key, rule, account_id, episode, kind, due_at,
  payload, created_at, run_id, policy_version, status, key_no)
WITH keyed AS (
  SELECT {key_sql("c")} AS idempotency_key, c.rule, c.account_id, c.episode, c.kind,
    CAST(c.due_at AS TIMESTAMP) AS due_at, CAST(c.payload AS VARCHAR) AS payload
  FROM {source} AS c
  WHERE c.rule IS NOT NULL AND c.account_id IS NOT NULL AND c.episode IS NOT NULL
  QUALIFY row_number() OVER (
    PARTITION BY c.rule, c.account_id, c.episode ORDER BY c.due_at NULLS LAST, c.kind, c.payload
  ) = 1
),
k AS MATERIALIZED (SELECT *, {key_no_sql("idempotency_key")} AS key_no FROM keyed),
seen AS (
  SELECT o.idempotency_key FROM {OUTBOX_TABLE} AS o
  WHERE o.key_no IN (SELECT key_no FROM k)
)
SELECT k.idempotency_key, k.rule, k.account_id, k.episode, k.kind, k.due_at,
  CAST(k.payload AS JSON), CAST($created_at AS TIMESTAMP), $run_id, $policy_version,
  CASE WHEN k.due_at < CAST($expire_before AS TIMESTAMP) THEN '{STATUS_EXPIRED}'
    ELSE '{STATUS_PENDING}' END, k.key_no
FROM k
WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.idempotency_key = k.idempotency_key)
ORDER BY k.due_at NULLS LAST, k.account_id, k.rule, k.episode
"""
    params = {
        "created_at": created_at,
        "run_id": run_id,
        "policy_version": policy_version,
        "expire_before": expire_before,
    }
    try:
        row = con.execute(sql, params).fetchone()
    except duckdb.Error as exc:
        raise EngineError(f"appending actions to the outbox failed: {exc}") from exc
    return int(row[0]) if row else 0


def record_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    as_of: datetime,
    started_at: datetime,
    finished_at: datetime,
    policy_version: str,
    counts: Mapping[str, object],
    dry_run: bool,
    backtest: bool,
) -> None:
    """Append one row to ``runs``."""
    ensure_outbox(con)
    con.execute(
        f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            as_of,
            started_at,
            finished_at,
            policy_version,
            json.dumps(counts, sort_keys=True, default=str),
            dry_run,
            backtest,
        ],
    )


def _payload(value: object) -> Mapping[str, object]:
    if value is None:
        return {}
    loaded = json.loads(str(value))
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def outbox_rows(
    con: duckdb.DuckDBPyConnection,
    where: str = "TRUE",
    params: Sequence[object] = (),
    *,
    limit: int | None = None,
    urgent_first: bool = False,
) -> tuple[OutboxRow, ...]:
    """Outbox rows matching ``where`` (SQL over the outbox's columns), in ``seq`` order.

    ``urgent_first``: pending rows first, soonest due first (:data:`URGENCY_ORDER`).
    """
    ensure_outbox(con)
    tail = "" if limit is None else f" LIMIT {int(limit)}"
    order = URGENCY_ORDER if urgent_first else "seq"
    rows = con.execute(
        "SELECT seq, idempotency_key, rule, account_id, episode, kind, due_at, "
        f"CAST(payload AS VARCHAR), run_id, status FROM {OUTBOX_TABLE} WHERE {where} "
        f"ORDER BY {order}{tail}",
        list(params),
    ).fetchall()
    return tuple(
        OutboxRow(
            seq=int(r[0]),
            idempotency_key=str(r[1]),
            rule=str(r[2]),
            account_id=str(r[3]),
            episode=str(r[4]),
            kind=str(r[5]),
            due_at=r[6] if isinstance(r[6], datetime) else None,
            payload=_payload(r[7]),
            run_id=str(r[8]),
            status=str(r[9]),
        )
        for r in rows
    )
