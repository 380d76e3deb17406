"""The store: DuckDB tables of the book, versioned migrations, typed custom fields.

``Store.open(url, fields)`` opens (or creates) a store and migrates it. Tables follow the
data contract: ``account_versions`` (append-only; view ``accounts`` is the latest version of
each id and table macro ``accounts_as_of(T)`` the latest loaded at or before T), ``people``,
``events``, ``tickets``, ``nps``, ``billing``, ``arr``, ``csms`` and ``import_batches``.
"""

from __future__ import annotations

from tierline.store.migrations import MIGRATIONS, SCHEMA_VERSION, Migration, apply_migrations
from tierline.store.schema import BOOK_TABLES, FIELD_SQL_TYPES, TABLE_COLUMNS
from tierline.store.store import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    Store,
    memory_limit,
    resolve_location,
)

__all__ = [
    "BOOK_TABLES",
    "DEFAULT_MEMORY_LIMIT",
    "FIELD_SQL_TYPES",
    "MEMORY_LIMIT_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLE_COLUMNS",
    "Migration",
    "Store",
    "apply_migrations",
    "memory_limit",
    "resolve_location",
]
