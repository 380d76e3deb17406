"""Assignment on a real DuckDB store: idempotence, as-of, preview and reassign."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from engine_fixture import AS_OF, T0, add_account, add_book, add_person, make_project, open_store

from tierline.engine.assign import assign_accounts
from tierline.engine.override import approve_override, request_override
from tierline.errors import UsageError
from tierline.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return add_book(open_store(tmp_path))


def _count(store: Store, where: str = "TRUE") -> int:
    row = store.con.execute(f"SELECT count(*) FROM assignments WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def _current(store: Store, seg: str) -> dict[str, str]:
    rows = store.con.execute(
        "SELECT account_id, outcome FROM current_assignments WHERE segmentation = ?", [seg]
    ).fetchall()
    return {str(a): str(o) for a, o in rows}


def test_assign_twice_adds_nothing(store: Store) -> None:
    first = assign_accounts(store, make_project(), AS_OF)
    track = first.segmentation("track")
    assert track.assigned_count == 5
    assert {o.outcome: o.count for o in track.assigned} == {
        "SELF_SERVE": 2,
        "GUIDED_ONBOARDING": 1,
        "ENTERPRISE_PS": 1,
        "HIGH_TOUCH": 1,
    }
    assert _current(store, "track")["a2"] == "GUIDED_ONBOARDING"  # NULL team → assume less
    total = _count(store)
    assert total == 9  # tier leaves a4 unassigned
    second = assign_accounts(store, make_project(), AS_OF)
    assert _count(store) == total
    assert second.segmentation("track").assigned_count == 0
    assert not second.written
    rows = store.con.execute(
        "SELECT DISTINCT source, policy_version, assigned_at FROM assignments"
    ).fetchall()
    assert rows == [("rule", "v1", AS_OF)]
    # a new account: the next run's book holds it (and a4, unassigned in tier) alone
    add_account(store, "a9", 5000)
    third = assign_accounts(store, make_project(), AS_OF)
    assert {o.outcome: o.count for o in third.segmentation("track").assigned} == {"SELF_SERVE": 1}
    assert third.segmentation("tier").unassigned_count == 1
    assert _count(store) == total + 2  # a9 in both segmentations (track, tier)


def test_unassigned_are_reported_not_written(store: Store) -> None:
    report = assign_accounts(store, make_project(), AS_OF)
    tier = report.segmentation("tier")
    assert [(u.reason, u.count, u.examples) for u in tier.unassigned] == [
        ("no rule matches", 1, ("a4",))
    ]
    assert _count(store, "account_id = 'a4' AND segmentation = 'tier'") == 0
    again = assign_accounts(store, make_project(), AS_OF)
    assert again.segmentation("tier").unassigned_count == 1
    payload = again.to_dict()
    assert payload["mode"] == "assign"


def test_as_of_respects_account_versions(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    # Version 1 (loaded Jan 1): small. Version 2 (loaded Mar 1): large.
    add_account(store, "v", 5000, version=1, loaded_at=T0)
    add_account(
        store, "v", 300000, version=2, loaded_at=datetime(2026, 3, 1), needs_integration=True
    )
    # Closed-won only in April: not in the book as of March.
    add_account(store, "late", 5000, closed_won_at=datetime(2026, 4, 1))
    report = assign_accounts(store, make_project(), datetime(2026, 2, 1))
    assert report.segmentation("track").assigned_count == 1
    assert _current(store, "track") == {"v": "SELF_SERVE"}
    # A later run keeps v's assignment (it has one) and adds the late account.
    assign_accounts(store, make_project(), datetime(2026, 5, 1))
    assert _current(store, "track") == {"v": "SELF_SERVE", "late": "SELF_SERVE"}


def test_as_of_uses_the_version_loaded_then(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    add_account(store, "v", 5000, version=1, loaded_at=T0)
    add_account(
        store, "v", 300000, version=2, loaded_at=datetime(2026, 3, 1), needs_integration=True
    )
    assign_accounts(store, make_project(), datetime(2026, 3, 2))
    assert _current(store, "track") == {"v": "ENTERPRISE_PS"}


def test_preview_after_policy_change_lists_moves(store: Store) -> None:
    assign_accounts(store, make_project("v1"), AS_OF)
    before = _count(store)
    # v2: Q4's ACV threshold drops to 100k, so a5 (120k, integration) moves up.
    changed = make_project("v2", q4_acv=100000, enterprise_acv=100000)
    plain = assign_accounts(store, changed, AS_OF)
    assert plain.segmentation("track").move_count == 1  # pending, not applied
    assert _count(store) == before
    preview = assign_accounts(store, changed, AS_OF, preview=True)
    moves = [
        (m.from_outcome, m.to_outcome, m.count, m.examples)
        for m in preview.segmentation("track").moves
    ]
    assert moves == [("HIGH_TOUCH", "ENTERPRISE_PS", 1, ("a5",))]
    tier_moves = {
        (m.from_outcome, m.to_outcome): m.count for m in preview.segmentation("tier").moves
    }
    assert tier_moves == {("HIGH_TOUCH", "TECH_TOUCH"): 1}
    assert _count(store) == before
    assert not preview.written
    assert preview.to_dict()["mode"] == "preview"
    with pytest.raises(UsageError):
        assign_accounts(store, changed, AS_OF, preview=True, reassign=True)


def test_reassign_records_moves_and_skips_overrides(store: Store) -> None:
    add_person(store, "carol", "csm", "mona")
    add_person(store, "mona", "manager")
    v1 = make_project("v1")
    assign_accounts(store, v1, AS_OF)
    req = request_override(
        store,
        v1,
        "a5",
        "SELF_SERVE",
        "Customer is a reseller and onboards itself.",
        "carol",
        segmentation="tier",
        now=datetime(2026, 2, 2),
    )
    approve_override(store, v1, req.id, "mona", now=datetime(2026, 2, 3))
    changed = make_project("v2", q4_acv=100000, enterprise_acv=100000)
    report = assign_accounts(store, changed, datetime(2026, 2, 4), reassign=True)
    track = report.segmentation("track")
    assert [(m.from_outcome, m.to_outcome, m.count) for m in track.moves] == [
        ("HIGH_TOUCH", "ENTERPRISE_PS", 1)
    ]
    assert _current(store, "track")["a5"] == "ENTERPRISE_PS"
    tier = report.segmentation("tier")
    # a2 moves HIGH_TOUCH → TECH_TOUCH; a5 (overridden to SELF_SERVE) is kept.
    assert [(m.from_outcome, m.to_outcome) for m in tier.moves] == [("HIGH_TOUCH", "TECH_TOUCH")]
    assert [(m.from_outcome, m.examples) for m in tier.kept_by_override] == [
        ("SELF_SERVE", ("a5",))
    ]
    assert _current(store, "tier")["a5"] == "SELF_SERVE"
    assert _current(store, "tier")["a2"] == "TECH_TOUCH"
    rows = store.con.execute(
        "SELECT account_id, segmentation, policy_version FROM assignments "
        "WHERE source = 'reassign' ORDER BY ALL"
    ).fetchall()
    assert rows == [("a2", "tier", "v2"), ("a5", "track", "v2")]
    audit = store.con.execute(
        'SELECT account_id, "before", "after" FROM audit_log WHERE action = \'reassign\' '
        "ORDER BY account_id"
    ).fetchall()
    assert audit == [("a2", "HIGH_TOUCH", "TECH_TOUCH"), ("a5", "HIGH_TOUCH", "ENTERPRISE_PS")]
    # A second reassign under the same policy moves nothing more.
    again = assign_accounts(store, changed, datetime(2026, 2, 5), reassign=True)
    assert again.segmentation("track").move_count == 0
    assert again.segmentation("tier").move_count == 0


def test_ids_follow_the_accounts_not_the_order_duckdb_wrote_them(tmp_path: Path) -> None:
    # Two stores with the same book get the same ids, account by account: each
    # segmentation's new rows are numbered in account id order, without gaps for the
    # accounts it leaves unassigned (a4 in tier), and the next ids continue after them.
    ids = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        store = add_book(open_store(tmp_path / name))
        assign_accounts(store, make_project(), AS_OF)
        rows = store.con.execute(
            "SELECT segmentation, account_id, id FROM assignments ORDER BY id"
        ).fetchall()
        ids.append(rows)
        for seg in {s for s, _, _ in rows}:
            mine = [(a, i) for s, a, i in rows if s == seg]
            assert [a for a, _ in mine] == sorted(a for a, _ in mine)
            assert [i for _, i in mine] == list(range(mine[0][1], mine[0][1] + len(mine)))
        store.close()
    assert ids[0] == ids[1]
    assert len(ids[0]) == 9
    assert [i for _, _, i in ids[0]] == list(range(ids[0][0][2], ids[0][0][2] + 9))
