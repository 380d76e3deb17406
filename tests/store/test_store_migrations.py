"""The store: versioned migrations on open, refusing newer stores, typed custom fields."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tierline.errors import StoreError
from tierline.policy.model import FieldDef
from tierline.store import MIGRATIONS, SCHEMA_VERSION, Migration, Store, apply_migrations
from tierline.store.migrations import recorded_version
from tierline.store.store import resolve_location

BOOK = ("account_versions", "people", "events", "tickets", "nps", "billing", "arr", "csms")


def _versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    rows = con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {str(r[0]) for r in rows}


def test_a_new_store_records_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "book.duckdb"
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == store.latest_schema_version
        rows = store.con.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()
        assert rows == [(m.version, m.name) for m in MIGRATIONS]
        assert set(BOOK) | {"import_batches", "accounts"} <= _tables(store.con)
        (zone,) = store.con.execute("SELECT current_setting('TimeZone')").fetchone() or ("",)
        assert zone == "UTC"
    assert path.is_file()


def test_an_old_store_is_migrated_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, str(path), MIGRATIONS[:1]) == [1]
    assert "accounts" not in _tables(con)
    con.execute(
        "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at) "
        "VALUES ('a1', 10, TIMESTAMP '2024-01-01', 1, TIMESTAMP '2024-01-02')"
    )
    con.close()

    with Store.open(path) as store:
        assert _versions(store.con) == [m.version for m in MIGRATIONS]
        assert store.schema_version == SCHEMA_VERSION
        # The view of migration 2 reads the rows written under schema 1.
        assert store.con.execute("SELECT id, acv FROM accounts").fetchall() == [("a1", 10.0)]

    con = duckdb.connect(str(path))
    try:
        assert apply_migrations(con, str(path)) == []
        assert _versions(con) == [m.version for m in MIGRATIONS]
    finally:
        con.close()


def test_a_store_written_by_a_newer_tierline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with Store.open(path):
        pass
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO schema_migrations VALUES (?, 'from the future', TIMESTAMP '2030-01-01')",
        [SCHEMA_VERSION + 1],
    )
    con.close()

    expected = (
        rf"store {path} was written by a newer tierline "
        rf"\(schema {SCHEMA_VERSION + 1}; this version knows up to {SCHEMA_VERSION}\): "
        "upgrade tierline"
    )
    with pytest.raises(StoreError, match=expected):
        Store.open(path)
    con = duckdb.connect(str(path))
    try:
        assert _versions(con) == [*(m.version for m in MIGRATIONS), SCHEMA_VERSION + 1]
    finally:
        con.close()


def test_a_failed_migration_is_rolled_back_and_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "broken.duckdb"
    broken = (
        MIGRATIONS[0],
        Migration(2, "half done", "CREATE TABLE half (x INTEGER); SELECT * FROM no_such_table"),
    )
    con = duckdb.connect(str(path))
    try:
        with pytest.raises(StoreError, match=r"migration 2 \(half done\) failed"):
            apply_migrations(con, str(path), broken)
        assert recorded_version(con) == 1
        assert "half" not in _tables(con)
    finally:
        con.close()


def test_a_migration_may_be_a_function(tmp_path: Path) -> None:
    def add_notes(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE notes (body VARCHAR)")

    con = duckdb.connect(str(tmp_path / "fn.duckdb"))
    try:
        steps = (MIGRATIONS[0], Migration(2, "notes", add_notes))
        assert apply_migrations(con, "fn", steps) == [1, 2]
        assert "notes" in _tables(con)
    finally:
        con.close()


def test_custom_fields_become_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "fields.duckdb"
    fields = [
        FieldDef("technical_team", "boolean"),
        FieldDef("expected_users", "integer"),
        FieldDef("config_hours", "number"),
        FieldDef("region", "string"),
        FieldDef("go_live", "date"),
        FieldDef("kickoff_at", "timestamp"),
        FieldDef("acv", "number", core=True),
    ]
    with Store.open(path, fields) as store:
        columns = store.account_columns()
        assert {name: columns[name] for name in ("technical_team", "expected_users")} == {
            "technical_team": "BOOLEAN",
            "expected_users": "BIGINT",
        }
        assert columns["config_hours"] == "DOUBLE"
        assert columns["region"] == "VARCHAR"
        assert columns["go_live"] == "DATE"
        assert columns["kickoff_at"] == "TIMESTAMP"
        assert [f.name for f in store.fields] == [f.name for f in fields if not f.core]
        # The views select * and so show the columns added after they were created.
        store.con.execute("SELECT technical_team, go_live FROM accounts").fetchall()
        store.con.execute("SELECT kickoff_at FROM accounts_as_of(TIMESTAMP '2030-01-01')")

    with Store.open(path, [*fields, FieldDef("tier_hint", "string")]) as store:
        assert list(store.account_columns())[-2:] == ["kickoff_at", "tier_hint"]

    with pytest.raises(
        StoreError, match=r"'config_hours' is declared integer .* holds it as DOUBLE"
    ):
        Store.open(path, [FieldDef("config_hours", "integer")])


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (FieldDef("Bad-Name", "string"), "lower case letters"),
        (FieldDef("acv", "number"), "is a built-in account column"),
        (FieldDef("loaded_at", "timestamp"), "is a built-in account column"),
    ],
)
def test_bad_custom_field_names_are_refused(tmp_path: Path, field: FieldDef, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Store.open(tmp_path / "bad.duckdb", [field])


def test_store_urls() -> None:
    assert resolve_location("duckdb:///srv/book.duckdb") == "/srv/book.duckdb"
    assert resolve_location("duckdb:///:memory:") == ":memory:"
    assert resolve_location(":memory:") == ":memory:"
    assert resolve_location(Path("rel/book.duckdb")) == "rel/book.duckdb"
    with pytest.raises(StoreError, match="PostgreSQL backend is not available"):
        resolve_location("postgresql://cs@db/book")
    with pytest.raises(StoreError, match="unknown store scheme 'mysql'"):
        resolve_location("mysql://db/book")
    with pytest.raises(StoreError, match="absolute path"):
        resolve_location("duckdb://relative.duckdb")
