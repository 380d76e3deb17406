"""Versioned schema migrations, applied in order when a store is opened.

Each :class:`Migration` is a version number, a name and either SQL text or a function of
the connection. The versions applied are recorded in ``schema_migrations`` (version, name,
applied_at). A store whose recorded version is newer than :data:`SCHEMA_VERSION` is refused:
an older tierline must never write to a schema it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from tierline.errors import StoreError
from tierline.store.schema import ACCOUNT_COLUMNS, ACCOUNT_META_COLUMNS, TABLE_COLUMNS

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "apply_migrations",
    "recorded_version",
]

Step = str | Callable[[duckdb.DuckDBPyConnection], None]

# Natural keys of the book tables: a re-import of a row with a known key adds nothing.
_PRIMARY_KEYS = {
    "people": "id",
    "events": "message_id",
    "tickets": "id",
    "nps": "id",
    "billing": "id",
    "arr": "account_id, month",
    "csms": "id",
}


@dataclass(frozen=True)
class Migration:
    """One step of the schema: applied once, in version order, inside a transaction."""

    version: int
    name: str
    step: Step

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run this migration's SQL or function on ``con``."""
        if isinstance(self.step, str):
            con.execute(self.step)
        else:
            self.step(con)


def _columns_sql(columns: Sequence[tuple[str, str]]) -> str:
    return ",\n  ".join(f"{name} {sql}" for name, sql in columns)


def _book_tables_sql() -> str:
    meta = [
        (n, f"{t} NOT NULL") if n in ("version", "loaded_at") else (n, t)
        for n, t in ACCOUNT_META_COLUMNS
    ]
    parts = [f"CREATE TABLE account_versions (\n  {_columns_sql((*ACCOUNT_COLUMNS, *meta))}\n);"]
    for table, columns in TABLE_COLUMNS.items():
        body = _columns_sql((*columns, ("batch_id", "BIGINT")))
        parts.append(
            f"CREATE TABLE {table} (\n  {body},\n  PRIMARY KEY ({_PRIMARY_KEYS[table]})\n);"
        )
    parts.append(
        """CREATE TABLE import_batches (
  id BIGINT PRIMARY KEY,
  kind VARCHAR NOT NULL,
  file VARCHAR,
  preset VARCHAR,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  read BIGINT,
  landed BIGINT,
  duplicates BIGINT,
  rejected BIGINT,
  skipped BIGINT,
  rejects_file VARCHAR
);"""
    )
    return "\n".join(parts)


# ``accounts`` is the latest version of each id; ``accounts_as_of(T)`` the latest version
# loaded at or before T. Both read ``SELECT *`` so custom-field columns added later show up.
_ACCOUNT_VIEWS_SQL = """
CREATE VIEW accounts AS
SELECT * FROM account_versions
QUALIFY row_number() OVER (PARTITION BY id ORDER BY version DESC) = 1;

CREATE MACRO accounts_as_of(t) AS TABLE
SELECT * FROM account_versions
WHERE loaded_at <= t
QUALIFY row_number() OVER (PARTITION BY id ORDER BY version DESC) = 1;
"""


def _engine_state(con: duckdb.DuckDBPyConnection) -> None:
    # The engine owns the DDL of its state tables; imported late (the engine imports the store).
    from tierline.engine.state import create_state_tables

    create_state_tables(con)


def _engine_state_v4(con: duckdb.DuckDBPyConnection) -> None:
    from tierline.engine.state import record_by_reference

    record_by_reference(con)


def _outbox_unindexed(con: duckdb.DuckDBPyConnection) -> None:
    from tierline.engine.outbox import unindex_outbox

    unindex_outbox(con)


def _outbox_keys_numbered(con: duckdb.DuckDBPyConnection) -> None:
    from tierline.engine.outbox import number_outbox_keys

    number_outbox_keys(con)


def _rollups_numbered(con: duckdb.DuckDBPyConnection) -> None:
    from tierline.engine.rollup import renumber_rollups

    renumber_rollups(con)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "book tables", _book_tables_sql()),
    Migration(2, "accounts latest and as-of views", _ACCOUNT_VIEWS_SQL),
    Migration(3, "engine state: assignments, overrides, audit log", _engine_state),
    Migration(4, "explanations by reference: decisions catalog", _engine_state_v4),
    Migration(5, "outbox keys without a primary-key index", _outbox_unindexed),
    Migration(6, "event rollups keyed by account and person numbers", _rollups_numbered),
    Migration(7, "outbox key numbers (key_no)", _outbox_keys_numbered),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def recorded_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration version recorded in the store (0 for a new store)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not found or not found[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def apply_migrations(
    con: duckdb.DuckDBPyConnection,
    location: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Bring the store at ``location`` up to the newest migration; the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    current = recorded_version(con)
    known = max((m.version for m in migrations), default=0)
    if current > known:
        raise StoreError(
            f"store {location} was written by a newer tierline "
            f"(schema {current}; this version knows up to {known}): upgrade tierline"
        )
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration.apply(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
            )
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(
                f"store {location}: migration {migration.version} ({migration.name}) failed: {exc}"
            ) from exc
        con.execute("COMMIT")
        applied.append(migration.version)
    return applied
