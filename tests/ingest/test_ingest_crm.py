"""CRM presets on small real exports: Salesforce Opportunities and HubSpot deals."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tierline.errors import IngestError
from tierline.ingest.importer import import_file
from tierline.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "book.duckdb") as opened:
        yield opened


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


def _accounts(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(
        "SELECT id, name, acv, currency, closed_won_at FROM accounts ORDER BY id"
    ).fetchall()


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_salesforce_won_deals_become_accounts(store: Store, tmp_path: Path) -> None:
    export = _copy(tmp_path, "salesforce_opportunities.csv")
    result = import_file(
        store,
        "accounts",
        export,
        preset="salesforce",
        stage_map={"Signed - Enterprise": "Closed Won"},
    )
    # Closed Lost and an open Negotiation/Review deal are skipped, not rejected.
    assert (result.read, result.landed, result.skipped, result.rejected) == (6, 3, 2, 1)
    assert result.duplicates == 0
    assert result.ignored_columns == ("Id", "Name")
    assert _accounts(store) == [
        ("0011", "Acme Corp", 12500.0, "USD", datetime(2024, 3, 14)),
        ("0012", "Globex", 48000.0, "USD", datetime(2024, 4, 2)),
        ("0016", "Stark Industries", 75000.0, "EUR", datetime(2024, 5, 1)),
    ]
    # The won deal with a blank CloseDate is rejected with its row number and reason.
    assert result.sample_rejects == ((4, "missing closed_won_at"),)
    assert result.rejects_path == tmp_path / "salesforce_opportunities.csv.rejects.csv"
    (reject,) = _rejects(result.rejects_path)
    assert reject["row"] == "4"
    assert reject["reason"] == "missing closed_won_at"
    assert reject["AccountId"] == "0014"
    assert reject["Amount"] == "$30,000.00"
    assert reject["CloseDate"] == ""
    (source,) = store.con.execute("SELECT DISTINCT source FROM accounts").fetchone() or ("",)
    assert source == "salesforce:salesforce_opportunities.csv"


def test_salesforce_without_the_stage_map_skips_the_relabelled_stage(
    store: Store, tmp_path: Path
) -> None:
    result = import_file(
        store, "accounts", _copy(tmp_path, "salesforce_opportunities.csv"), preset="salesforce"
    )
    assert (result.landed, result.skipped, result.rejected) == (2, 3, 1)
    assert [row[0] for row in _accounts(store)] == ["0011", "0016"]


def test_salesforce_is_won_flag_alone(store: Store, tmp_path: Path) -> None:
    result = import_file(
        store, "accounts", _copy(tmp_path, "salesforce_iswon.csv"), preset="salesforce"
    )
    assert (result.read, result.landed, result.skipped, result.rejected) == (3, 2, 1, 0)
    assert result.rejects_path is None
    assert not (tmp_path / "salesforce_iswon.csv.rejects.csv").exists()
    assert _accounts(store) == [
        ("0021", None, 1200.0, "USD", datetime(2024, 1, 31)),
        ("0023", None, 2000.0, "USD", datetime(2024, 2, 15)),
    ]


def test_hubspot_deals_with_a_custom_pipeline_stage(store: Store, tmp_path: Path) -> None:
    result = import_file(
        store,
        "accounts",
        _copy(tmp_path, "hubspot_deals.csv"),
        preset="hubspot",
        mapping={"stage:contractsigned": "closedwon"},
    )
    assert (result.read, result.landed, result.skipped, result.rejected) == (6, 3, 2, 1)
    assert result.ignored_columns == ("pipeline",)
    assert _accounts(store) == [
        ("9001", "Acme - New Business", 12500.0, "USD", datetime(2024, 3, 14, 15, 30)),
        # "48,000.50" is an amount; +02:00 is converted to UTC.
        ("9002", "Globex - Enterprise", 48000.5, "USD", datetime(2024, 4, 2, 7, 0)),
        ("9006", "Pied Piper", 1250.0, "USD", datetime(2024, 6, 30)),
    ]
    assert result.rejects_path is not None
    (reject,) = _rejects(result.rejects_path)
    assert (reject["row"], reject["hs_object_id"]) == ("4", "9004")
    assert reject["reason"] == "invalid acv 'twelve thousand' (expected an amount)"


def test_hubspot_stage_map_argument_and_reimport(store: Store, tmp_path: Path) -> None:
    path = _copy(tmp_path, "hubspot_deals.csv")
    import_file(
        store, "accounts", path, preset="hubspot", stage_map={"ContractSigned": "closedwon"}
    )
    again = import_file(
        store, "accounts", path, preset="hubspot", stage_map={"contractsigned": "closedwon"}
    )
    assert (again.landed, again.duplicates, again.skipped, again.rejected) == (0, 3, 2, 1)


def test_preset_errors(store: Store, tmp_path: Path) -> None:
    export = _copy(tmp_path, "salesforce_opportunities.csv")
    with pytest.raises(
        IngestError, match=r"unknown preset 'salesfroce'.*did you mean 'salesforce'"
    ):
        import_file(store, "accounts", export, preset="salesfroce")
    with pytest.raises(IngestError, match="preset 'hubspot' imports accounts, not events"):
        import_file(store, "events", export, preset="hubspot")
    with pytest.raises(
        IngestError, match="stage map needs --preset salesforce or --preset hubspot"
    ):
        import_file(store, "accounts", export, stage_map={"Signed": "Closed Won"})
    plain = tmp_path / "deals.csv"
    plain.write_text("AccountId,Amount,CloseDate\n1,10,2024-01-01\n")
    with pytest.raises(IngestError, match="needs a deal stage column"):
        import_file(store, "accounts", plain, preset="salesforce")
