"""Segment JSON Lines: track/identify/group calls, account resolution, message_id de-dup."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tierline.errors import IngestError
from tierline.ingest.importer import import_file
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
        import_file(opened, "accounts", shutil.copy(FIXTURES / "accounts.csv", tmp_path))
        yield opened


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


def _events(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(
        "SELECT message_id, account_id, person_id, event, ts, CAST(properties AS VARCHAR) "
        "FROM events ORDER BY message_id"
    ).fetchall()


def test_segment_calls_become_events(store: Store, tmp_path: Path) -> None:
    result = import_file(store, "events", _copy(tmp_path, "segment_calls.jsonl"))
    # 3 identify/group calls are skipped; seg-1 appears twice.
    assert (result.read, result.landed, result.duplicates, result.skipped, result.rejected) == (
        10,
        4,
        1,
        3,
        2,
    )
    assert _events(store) == [
        # The latest group call at or before the event: acc-1 (12:05+02:00 is 10:05 UTC).
        ("seg-1", "acc-1", "u1", "signed_up", datetime(2024, 3, 1, 10, 5), '{"plan":"growth"}'),
        # context.groupId.
        ("seg-2", "acc-2", "u2", "login", datetime(2024, 3, 2, 8, 0), None),
        # u1 joined acc-2 on March 5th.
        ("seg-4", "acc-2", "u1", "report_generated", datetime(2024, 3, 6, 11, 0), '{"pages":3}'),
        ("seg-6", "acc-2", "u2", "page_viewed", datetime(2024, 3, 7, 8, 0), None),
    ]
    assert result.sample_rejects == (
        (5, "unknown account 'acc-404'"),
        (8, "no account for user 'u4' (no context.groupId and no group call)"),
    )
    assert result.rejects_path is not None
    with result.rejects_path.open(newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [r["row"] for r in rejects] == ["5", "8"]
    assert json.loads(rejects[0]["json"])["messageId"] == "seg-3"
    assert json.loads(rejects[1]["json"])["userId"] == "u4"


def test_re_importing_the_same_events_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = _copy(tmp_path, "segment_calls.jsonl")
    import_file(store, "events", path)
    before = _events(store)
    again = import_file(store, "events", path, preset="segment")
    assert (again.landed, again.duplicates, again.rejected) == (0, 5, 2)
    assert _events(store) == before
    batches = store.con.execute(
        "SELECT kind, landed, duplicates, rejected, skipped FROM import_batches ORDER BY id"
    ).fetchall()
    assert batches[-2:] == [("events", 4, 1, 2, 3), ("events", 0, 5, 2, 3)]


def test_an_event_before_any_group_call_takes_the_users_latest_group(
    store: Store, tmp_path: Path
) -> None:
    calls = [
        {"type": "track", "userId": "u9", "event": "login", "timestamp": "2024-01-01T00:00:00Z"},
        {"type": "group", "userId": "u9", "groupId": "acc-1", "timestamp": "2024-02-01T00:00Z"},
        {"type": "group", "userId": "u9", "groupId": "acc-2", "timestamp": "2024-03-01T00:00Z"},
        "{ this line is not JSON",
    ]
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(c if isinstance(c, str) else json.dumps(c) for c in calls) + "\n")
    result = import_file(store, "events", path, preset="segment")
    assert (result.landed, result.skipped, result.rejected) == (1, 2, 1)
    assert result.sample_rejects == ((4, "invalid JSON (each line must be one JSON object)"),)
    ((message_id, account, *_),) = _events(store)
    # No messageId: the key is derived from the event's content, so a re-import adds nothing.
    assert str(message_id).startswith("derived:")
    assert account == "acc-2"
    assert import_file(store, "events", path, preset="segment").landed == 0


def test_identify_and_group_calls_become_people(store: Store, tmp_path: Path) -> None:
    result = import_file(store, "people", _copy(tmp_path, "segment_calls.jsonl"), preset="segment")
    assert (result.landed, result.rejected) == (1, 0)
    row = store.con.execute(
        "SELECT id, account_id, email, title, created_at FROM people"
    ).fetchone()
    assert row == ("u1", "acc-2", "ann@acme.test", "VP Operations", datetime(2024, 3, 1, 10, 0))


def test_segment_imports_only_events_and_people(store: Store, tmp_path: Path) -> None:
    path = _copy(tmp_path, "segment_calls.jsonl")
    with pytest.raises(IngestError, match="preset 'segment' imports events and people, not nps"):
        import_file(store, "nps", path, preset="segment")
