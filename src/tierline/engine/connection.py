"""Small helpers over the store's connection: stored tables, and transactions to join.

:func:`table_exists` asks the catalog whether a table is stored in the current database
and schema (temp tables do not count); :func:`relation_columns` names a table's or view's
columns; :func:`read_only` says whether the store was opened read-only; :func:`first_row`
reads a query's first row. :func:`joined_transaction` runs a block inside the caller's
transaction when there is one, or in a transaction of its own that it commits (or rolls
back on an error) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

__all__ = ["first_row", "joined_transaction", "read_only", "relation_columns", "table_exists"]


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: object = None
) -> tuple[Any, ...] | None:
    """The first row of a query, reading the result to its end (the connection stays free)."""
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def read_only(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the current database was opened read-only."""
    row = first_row(
        con, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return bool(row and row[0])


def relation_columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str] | None:
    """The column names of the table or view ``name`` (None: there is none)."""
    try:
        cur = con.execute(f"SELECT * FROM {name} LIMIT 0")
    except duckdb.CatalogException:
        return None
    return {str(d[0]) for d in cur.description}


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when ``name`` is a table of the current database and schema."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
        "AND database_name = current_database() AND schema_name = current_schema()",
        [name],
    ).fetchall()
    return bool(rows and rows[0][0])


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the caller holds a transaction.

    A failed BEGIN would abort the caller's transaction, so look first: inside a transaction
    two statements share one transaction id, in autocommit mode each gets its own.
    """
    first = con.execute("SELECT txid_current()").fetchone()
    second = con.execute("SELECT txid_current()").fetchone()
    return first is not None and second is not None and first[0] == second[0]


@contextmanager
def joined_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[bool]:
    """Run the block in the caller's transaction, or in one of its own; yields whether it
    owns it (an owned one is committed after the block, rolled back if the block raises)."""
    if _in_transaction(con):
        yield False
        return
    con.execute("BEGIN TRANSACTION")
    try:
        yield True
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
