"""Account versions: append-only history, ``accounts`` (latest) and ``accounts_as_of(T)``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tierline.ingest.importer import import_file, import_frame
from tierline.policy.model import FieldDef
from tierline.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"
FIELDS = (
    FieldDef("technical_team", "boolean"),
    FieldDef("config_hours", "number"),
    FieldDef("expected_users", "integer"),
    FieldDef("go_live", "date"),
    FieldDef("region", "string"),
)
JAN = datetime(2024, 1, 1)
JUN = datetime(2024, 6, 1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "book.duckdb", FIELDS) as opened:
        yield opened


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


def _as_of(store: Store, when: str) -> list[tuple[object, ...]]:
    return store.con.execute(
        "SELECT id, acv, plan, version FROM accounts_as_of(CAST(? AS TIMESTAMP)) ORDER BY id",
        [when],
    ).fetchall()


def test_a_changed_account_appends_a_version_and_as_of_reads_the_old_one(
    store: Store, tmp_path: Path
) -> None:
    first = import_file(store, "accounts", _copy(tmp_path, "accounts.csv"), loaded_at=JAN)
    assert (first.landed, first.duplicates, first.rejected) == (2, 0, 0)
    second = import_file(store, "accounts", _copy(tmp_path, "accounts_changed.csv"), loaded_at=JUN)
    assert (second.landed, second.duplicates, second.rejected) == (1, 1, 0)

    history = store.con.execute(
        "SELECT id, version, acv, plan, loaded_at, source FROM account_versions "
        "ORDER BY id, version"
    ).fetchall()
    assert history == [
        ("acc-1", 1, 12000.0, "growth", JAN, "accounts.csv"),
        ("acc-1", 2, 15000.0, "scale", JUN, "accounts_changed.csv"),
        ("acc-2", 1, 48000.0, "enterprise", JAN, "accounts.csv"),
    ]
    latest = store.con.execute("SELECT id, acv, version FROM accounts ORDER BY id").fetchall()
    assert latest == [("acc-1", 15000.0, 2), ("acc-2", 48000.0, 1)]

    assert _as_of(store, "2023-12-31") == []
    assert _as_of(store, "2024-03-01") == [
        ("acc-1", 12000.0, "growth", 1),
        ("acc-2", 48000.0, "enterprise", 1),
    ]
    assert _as_of(store, "2024-06-01") == [
        ("acc-1", 15000.0, "scale", 2),
        ("acc-2", 48000.0, "enterprise", 1),
    ]


def test_re_importing_identical_accounts_adds_no_version(store: Store, tmp_path: Path) -> None:
    path = _copy(tmp_path, "accounts.csv")
    import_file(store, "accounts", path, loaded_at=JAN)
    again = import_file(store, "accounts", path, loaded_at=JUN)
    assert (again.read, again.landed, again.duplicates) == (2, 0, 2)
    (count,) = store.con.execute("SELECT count(*) FROM account_versions").fetchone() or (0,)
    assert count == 2


def test_custom_fields_land_typed(store: Store, tmp_path: Path) -> None:
    import_file(store, "accounts", _copy(tmp_path, "accounts.csv"), loaded_at=JAN)
    rows = store.con.execute(
        "SELECT id, technical_team, config_hours, expected_users, go_live, region, "
        "closed_won_at, currency FROM accounts ORDER BY id"
    ).fetchall()
    assert [r[:6] for r in rows] == [
        ("acc-1", True, 12.5, 40, datetime(2024, 2, 1).date(), "emea"),
        ("acc-2", False, 40.0, 300, datetime(2024, 3, 15).date(), "amer"),
    ]
    # Offsets are converted to UTC; a blank currency is the project's.
    assert rows[1][6] == datetime(2024, 2, 20, 19, 0)
    assert {r[7] for r in rows} == {"USD"}


def test_a_partial_file_keeps_the_other_values_of_the_latest_version(store: Store) -> None:
    import_frame(
        store,
        "accounts",
        pa.table(
            {
                "id": ["a1"],
                "acv": ["9000"],
                "closed_won_at": ["2024-01-05"],
                "plan": ["growth"],
                "region": ["emea"],
            }
        ),
        loaded_at=JAN,
        currency="eur",
    )
    update = pa.table(
        {"id": ["a1", "a1"], "acv": ["9500", "9900"], "closed_won_at": ["2024-01-05"] * 2}
    )
    result = import_frame(store, "accounts", update, loaded_at=JUN)
    # Within one file the last row of an id wins; rows that add no version count as duplicates.
    assert (result.read, result.landed, result.duplicates) == (2, 1, 1)
    row = store.con.execute(
        "SELECT acv, plan, region, currency, version FROM accounts WHERE id = 'a1'"
    ).fetchone()
    assert row == (9900.0, "growth", "emea", "EUR", 2)
