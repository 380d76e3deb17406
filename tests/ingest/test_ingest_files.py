"""Importing every kind from CSV, Parquet and JSON Lines: good rows land, bad rows are rejected."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest

from tierline.errors import IngestError
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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "book.duckdb", FIELDS) as opened:
        yield opened


@pytest.fixture
def book(store: Store, tmp_path: Path) -> Store:
    """A store holding the accounts acc-1 and acc-2."""
    assert import_file(store, "accounts", _copy(tmp_path, "accounts.csv")).landed == 2
    return store


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("kind", "landed", "rejects", "stored"),
    [
        (
            "people",
            2,
            [(3, "unknown account 'acc-404'")],
            "SELECT id, account_id, title FROM people ORDER BY id",
        ),
        (
            "tickets",
            2,
            [(3, "missing opened_at")],
            "SELECT id, priority, status, closed_at IS NULL FROM tickets ORDER BY id",
        ),
        (
            "nps",
            1,
            [
                (2, "score must be between 0 and 10 (got 11)"),
                (3, "invalid score '4.5' (expected a whole number)"),
            ],
            "SELECT id, score FROM nps",
        ),
        (
            "billing",
            2,
            [(3, "invalid ts 'yesterday' (expected a timestamp)")],
            "SELECT id, kind, amount FROM billing ORDER BY id",
        ),
        (
            "arr",
            2,
            [(3, "arr must be >= 0 (got -5.0)")],
            "SELECT account_id, month, arr FROM arr ORDER BY month",
        ),
        (
            "csms",
            2,
            [(3, "role must be csm or manager (got 'intern')")],
            "SELECT id, role, capacity, loaded_cost FROM csms ORDER BY id",
        ),
    ],
)
def test_each_kind_lands_good_rows_and_rejects_bad_ones(
    book: Store,
    tmp_path: Path,
    kind: str,
    landed: int,
    rejects: list[tuple[int, str]],
    stored: str,
) -> None:
    path = _copy(tmp_path, f"{kind}.csv")
    result = import_file(book, kind, path)
    assert (result.read, result.landed, result.rejected) == (3, landed, len(rejects))
    assert not result.ok
    assert list(result.sample_rejects) == rejects
    assert result.rejects_path == tmp_path / f"{kind}.csv.rejects.csv"
    report = _rejects(result.rejects_path)
    with path.open(newline="") as handle:
        original = list(csv.DictReader(handle))
    for (row, reason), line in zip(rejects, report, strict=True):
        assert (int(line["row"]), line["reason"]) == (row, reason)
        assert {k: v for k, v in line.items() if k not in ("row", "reason")} == original[row - 1]
    assert len(book.con.execute(stored).fetchall()) == landed
    EXPECTED_ROWS[kind](book.con.execute(stored).fetchall())


def _people(rows: list[tuple[object, ...]]) -> None:
    assert rows == [("p-1", "acc-1", "VP Operations"), ("p-2", "acc-2", "Chief Technology Officer")]


def _tickets(rows: list[tuple[object, ...]]) -> None:
    # Aliases (ticket_id, created_at) are read; priority and status are lower-cased.
    assert rows == [("t-1", "high", "closed", False), ("t-2", "normal", "open", True)]


def _nps(rows: list[tuple[object, ...]]) -> None:
    assert rows == [("n-1", 9)]


def _billing(rows: list[tuple[object, ...]]) -> None:
    assert rows == [("b-1", "payment_failed", 1000.0), ("b-2", "downgrade_request", None)]


def _arr(rows: list[tuple[object, ...]]) -> None:
    # Months are the first day of the month, whatever day the file names.
    assert rows == [("acc-1", date(2024, 1, 1), 12000.0), ("acc-1", date(2024, 2, 1), 12000.0)]


def _csms(rows: list[tuple[object, ...]]) -> None:
    assert rows == [("c-1", "csm", 20, 150000.0), ("m-1", "manager", None, 210000.0)]


EXPECTED_ROWS = {
    "people": _people,
    "tickets": _tickets,
    "nps": _nps,
    "billing": _billing,
    "arr": _arr,
    "csms": _csms,
}


def test_a_clean_import_removes_a_stale_reject_file(book: Store, tmp_path: Path) -> None:
    path = tmp_path / "nps.csv"
    path.write_text("id,account_id,score,responded_at\nn-1,acc-1,12,2024-04-01\n")
    assert import_file(book, "nps", path).rejected == 1
    assert (tmp_path / "nps.csv.rejects.csv").is_file()
    path.write_text("id,account_id,score,responded_at\nn-1,acc-1,10,2024-04-01\n")
    fixed = import_file(book, "nps", path)
    assert (fixed.landed, fixed.rejected, fixed.rejects_path) == (1, 0, None)
    assert not (tmp_path / "nps.csv.rejects.csv").exists()


def test_every_failed_check_of_a_row_is_its_reason(book: Store, tmp_path: Path) -> None:
    path = tmp_path / "weird.csv"
    path.write_text("row,reason,id,account_id,score,responded_at\n7,x,,acc-9,eleven,\n")
    result = import_file(book, "nps", path)
    assert result.rejected == 1
    (line,) = _rejects(tmp_path / "weird.csv.rejects.csv")
    assert line["reason"] == (
        "missing id; invalid score 'eleven' (expected a whole number); missing responded_at; "
        "unknown account 'acc-9'"
    )
    # The file's own "row" and "reason" columns are kept, renamed.
    assert (line["row"], line["row_original"], line["reason_original"]) == ("1", "7", "x")


def test_parquet_inputs_keep_their_types(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["acc-1", "acc-2"],
            "acv": [12000.0, -1.0],
            "closed_won_at": pa.array(
                [datetime(2024, 1, 10, 9, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "seats": pa.array([25, 3], pa.int32()),
            "technical_team": [True, None],
            "config_hours": [12.5, 1.0],
            "go_live": [date(2024, 2, 1), None],
        }
    )
    path = tmp_path / "accounts.parquet"
    pa_parquet.write_table(table, path)
    result = import_file(store, "accounts", path)
    assert (result.landed, result.rejected) == (1, 1)
    assert result.sample_rejects == ((2, "acv must be >= 0 (got -1.0)"),)
    row = store.con.execute(
        "SELECT id, acv, closed_won_at, seats, technical_team, config_hours, go_live FROM accounts"
    ).fetchone()
    assert row == ("acc-1", 12000.0, datetime(2024, 1, 10, 9), 25, True, 12.5, date(2024, 2, 1))
    assert (tmp_path / "accounts.parquet.rejects.csv").is_file()


def test_parquet_events_with_nested_properties(book: Store, tmp_path: Path) -> None:
    events = pa.table(
        {
            "message_id": ["p-1", "p-2"],
            "account_id": ["acc-1", "acc-2"],
            "event": ["step_completed", "login"],
            "ts": ["2024-03-01T09:00:00Z", "2024-03-01T10:00:00-05:00"],
            "properties": [{"step": 2}, {"step": None}],
        }
    )
    path = tmp_path / "events.parquet"
    pa_parquet.write_table(events, path)
    result = import_file(book, "events", path)
    assert (result.landed, result.rejected) == (2, 0)
    rows = book.con.execute(
        "SELECT message_id, ts, CAST(properties->>'$.step' AS INTEGER) FROM events ORDER BY 1"
    ).fetchall()
    assert rows == [("p-1", datetime(2024, 3, 1, 9), 2), ("p-2", datetime(2024, 3, 1, 15), None)]


def test_json_lines_events(book: Store, tmp_path: Path) -> None:
    path = _copy(tmp_path, "events.jsonl")
    received = datetime(2024, 3, 2, 12, 0)
    result = import_file(book, "events", path, loaded_at=received)
    assert (result.read, result.landed, result.rejected) == (4, 2, 2)
    rows = book.con.execute(
        "SELECT message_id, person_id, CAST(properties AS VARCHAR), received_at FROM events "
        "ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("e-1", "p-1", '{"device":"web"}', received),
        ("e-2", "p-2", None, received),
    ]
    report = _rejects(tmp_path / "events.jsonl.rejects.csv")
    assert [(r["row"], r["reason"]) for r in report] == [
        ("3", "invalid ts 'not a time' (expected a timestamp)"),
        ("4", "invalid JSON (each line must be one JSON object)"),
    ]
    # The original keys as columns, and the line itself.
    assert report[0]["message_id"] == "e-3"
    assert json.loads(report[0]["line"])["ts"] == "not a time"
    assert report[1]["line"] == "not json at all"
    again = import_file(book, "events", path)
    assert (again.landed, again.duplicates) == (0, 2)


def test_a_mapping_renames_file_columns(book: Store, tmp_path: Path) -> None:
    path = tmp_path / "renamed.csv"
    pa_csv.write_csv(
        pa.table({"Customer": ["acc-1"], "Month Start": ["2024-03-01"], "Run rate": ["$9,000"]}),
        path,
    )
    mapping = {"Customer": "account_id", "Run rate": "arr"}
    with pytest.raises(IngestError, match=r"arr need the column month; .*'Month Start'.*--map"):
        import_file(book, "arr", path, mapping=mapping)
    result = import_file(book, "arr", path, mapping={**mapping, "Month Start": "month"})
    assert (result.landed, result.rejected, result.ignored_columns) == (1, 0, ())
    rows = book.con.execute("SELECT account_id, month, arr FROM arr").fetchall()
    assert rows == [("acc-1", date(2024, 3, 1), 9000.0)]


def test_an_in_memory_table_imports_too(book: Store, tmp_path: Path) -> None:
    rejects = tmp_path / "frame.rejects.csv"
    result = import_frame(
        book,
        "billing",
        {
            "id": ["b-1", "b-2"],
            "account_id": ["acc-1", "acc-3"],
            "kind": ["refund"] * 2,
            "ts": ["2024-01-01"] * 2,
        },
        rejects_path=rejects,
    )
    assert (result.landed, result.rejected, result.rejects_path) == (1, 1, rejects)
    assert _rejects(rejects)[0]["reason"] == "unknown account 'acc-3'"


def test_errors_that_stop_an_import(store: Store, tmp_path: Path) -> None:
    accounts = _copy(tmp_path, "accounts.csv")
    with pytest.raises(IngestError, match=r"unknown kind 'acount'.*did you mean 'accounts'"):
        import_file(store, "acount", accounts)
    with pytest.raises(IngestError, match=r"missing\.csv: no such file"):
        import_file(store, "accounts", tmp_path / "missing.csv")
    with pytest.raises(IngestError, match=r"cannot tell the format from the extension '\.xlsx'"):
        import_file(store, "accounts", tmp_path / "book.xlsx")
    with pytest.raises(IngestError, match="the file has no column 'Acct'"):
        import_file(store, "accounts", accounts, mapping={"Acct": "id"})
    with pytest.raises(IngestError, match=r"accounts have no field 'nmae'.*did you mean 'name'"):
        import_file(store, "accounts", accounts, mapping={"name": "nmae"})
    bare = tmp_path / "bare.csv"
    bare.write_text("name,amount\nAcme,10\n")
    with pytest.raises(IngestError, match="accounts need the columns id, acv, closed_won_at"):
        import_file(store, "accounts", bare)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,id\n1,2\n")
    with pytest.raises(IngestError, match="the header names 'id' twice"):
        import_file(store, "accounts", twice)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestError, match="the file is empty"):
        import_file(store, "accounts", empty)
    assert store.con.execute("SELECT count(*) FROM import_batches").fetchall() == [(0,)]
