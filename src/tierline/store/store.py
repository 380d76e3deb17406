"""The store: an embedded DuckDB database holding the book, migrated when opened.

>>> with Store.open(":memory:") as store:
...     store.schema_version == store.latest_schema_version
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import duckdb

from tierline.errors import StoreError
from tierline.policy.model import CORE_ACCOUNT_FIELDS, FieldDef
from tierline.store.migrations import SCHEMA_VERSION, apply_migrations, recorded_version
from tierline.store.schema import ACCOUNT_COLUMNS, ACCOUNT_META_COLUMNS, sql_type

__all__ = ["DEFAULT_MEMORY_LIMIT", "MEMORY_LIMIT_ENV", "Store", "memory_limit", "resolve_location"]

# DuckDB's own default memory_limit is 80% of RAM, and its buffer manager keeps what it
# read cached up to it, so a run over 10^7 events held 4.5 GiB without needing it
# (bench/RESULTS.md). tierline caps a store's connection at 2.5 GB by default: beyond it
# DuckDB spills to ``<store>.tmp`` next to a file store. The engine's runs stay inside it:
# at 10^5 accounts / 10^7 events a run is no slower under 2.5 GB than under 3 GB, and at
# 10^6 / 10^8 the process peaks at 3.6 GiB under 2.5 GB but 4.0 GiB under 3 GB.
# ``TIERLINE_MEMORY_LIMIT`` (a size, e.g. ``8GB``) raises or lowers it; an empty value keeps
# DuckDB's default.
DEFAULT_MEMORY_LIMIT = "2.5GB"
MEMORY_LIMIT_ENV = "TIERLINE_MEMORY_LIMIT"
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = frozenset(name for name, _ in (*ACCOUNT_COLUMNS, *ACCOUNT_META_COLUMNS))
_CORE_NAMES = frozenset(f.name for f in CORE_ACCOUNT_FIELDS)


def memory_limit(value: str | None = None) -> str | None:
    """The DuckDB ``memory_limit`` for a store: ``value``, else the environment, else 2.5GB.

    An empty string means DuckDB's own default (None). A value that is not a size such as
    ``512MB`` or ``4GB`` is a StoreError naming where it came from.
    """
    source = "memory_limit"
    if value is None:
        value = os.environ.get(MEMORY_LIMIT_ENV)
        source = MEMORY_LIMIT_ENV
    if value is None:
        return DEFAULT_MEMORY_LIMIT
    if not value.strip():
        return None
    if not _SIZE.match(value):
        raise StoreError(
            f"{source} {value!r} is not a memory size; give a number and a unit, "
            "e.g. 512MB, 3GB or 8GiB (an empty value keeps DuckDB's default)"
        )
    return value.strip()


def resolve_location(url: str | Path) -> str:
    """The DuckDB database path for a store URL: ``duckdb:///abs/path``, a path or ``:memory:``.

    >>> resolve_location("duckdb:///tmp/book.duckdb")
    '/tmp/book.duckdb'
    """
    text = str(url)
    if text == ":memory:":
        return text
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            raise StoreError(
                f"store {text!r}: the PostgreSQL backend is not available in this version of "
                "tierline; use a DuckDB store (a file path or duckdb:///path)"
            )
        if scheme != "duckdb":
            raise StoreError(
                f"store {text!r}: unknown store scheme {scheme!r}; use a file path, "
                "duckdb:///path or :memory:"
            )
        if rest in ("", "/:memory:", ":memory:"):
            return ":memory:"
        if not rest.startswith("/"):
            raise StoreError(f"store {text!r}: write duckdb:/// followed by an absolute path")
        return rest
    return text


class Store:
    """An open store: ``con`` is the DuckDB connection (session time zone UTC).

    Open with :meth:`Store.open`; use it as a context manager or call :meth:`close`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, location: str) -> None:
        self.con = con
        self.location = location
        self.fields: tuple[FieldDef, ...] = ()

    @classmethod
    def open(
        cls, url: str | Path, fields: Sequence[FieldDef] = (), *, memory: str | None = None
    ) -> Store:
        """Open (creating if needed) the store at ``url``, migrate it and add custom fields.

        ``memory`` is the connection's DuckDB ``memory_limit`` (see :func:`memory_limit`:
        by default ``$TIERLINE_MEMORY_LIMIT`` or 2.5GB).
        """
        location = resolve_location(url)
        limit = memory_limit(memory)
        if location != ":memory:":
            path = Path(location)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"store {location}: cannot create its folder: {exc}") from exc
        try:
            con = duckdb.connect(location)
        except duckdb.Error as exc:
            raise StoreError(f"store {location}: cannot open it: {exc}") from exc
        store = cls(con, location)
        try:
            con.execute("SET TimeZone = 'UTC'")
            if limit is not None:
                con.execute(f"SET memory_limit = '{limit}'")
            apply_migrations(con, location)
            store.ensure_fields(fields)
        except BaseException:
            con.close()
            raise
        return store

    @property
    def schema_version(self) -> int:
        """The schema version recorded in this store."""
        return recorded_version(self.con)

    @property
    def latest_schema_version(self) -> int:
        """The newest schema version this tierline knows."""
        return SCHEMA_VERSION

    def account_columns(self) -> dict[str, str]:
        """Column name → SQL type of ``account_versions``, in table order."""
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'account_versions' ORDER BY ordinal_position"
        ).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def ensure_fields(self, fields: Sequence[FieldDef]) -> None:
        """Add each custom field as a typed column of ``account_versions`` if it is missing.

        Core fields are skipped; a custom field whose stored type differs from the declared
        one is an error (the history holds values of the old type).
        """
        custom = [f for f in fields if not f.core]
        existing = self.account_columns()
        for field in custom:
            if not _IDENTIFIER.match(field.name):
                raise StoreError(
                    f"custom field {field.name!r}: a field name is lower case letters, digits "
                    "and underscores, starting with a letter"
                )
            if field.name in _RESERVED or field.name in _CORE_NAMES:
                raise StoreError(
                    f"custom field {field.name!r}: that name is a built-in account column"
                )
            wanted = sql_type(field.type)
            have = existing.get(field.name)
            if have is None:
                self.con.execute(f"ALTER TABLE account_versions ADD COLUMN {field.name} {wanted}")
            elif have != wanted:
                raise StoreError(
                    f"custom field {field.name!r} is declared {field.type} ({wanted}) but the "
                    f"store {self.location} holds it as {have}; a field's type cannot change "
                    "once loaded: give the new field another name"
                )
        known = {f.name: f for f in self.fields}
        known.update({f.name: f for f in custom})
        self.fields = tuple(known.values())

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed on success, rolled back on error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (a checkpoint makes the file complete on disk)."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
