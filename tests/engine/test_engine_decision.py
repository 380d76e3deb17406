"""Explanations by reference: the decisions catalog, rendering as of the assignment, ids,
and the schema 4 migration of a store written with schema 3.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from engine_fixture import AS_OF, CUSTOM_FIELDS, T0, add_account, add_book, make_project, open_store

from tierline.compile import segmentation_decisions
from tierline.engine.assign import assign_accounts, decided_sql
from tierline.engine.decision import decision_case, record_decisions, recorded_explanations
from tierline.engine.explain import explain_account
from tierline.store import MIGRATIONS, SCHEMA_VERSION, Store, apply_migrations


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return add_book(open_store(tmp_path))


def _rows(store: Store, where: str = "TRUE") -> list[tuple[int, str, str, str, object, object]]:
    return [
        (int(i), str(a), str(s), str(src), e, d)
        for i, a, s, src, e, d in store.con.execute(
            "SELECT id, account_id, segmentation, source, explanation, decision_id "
            f"FROM assignments WHERE {where} ORDER BY id"
        ).fetchall()
    ]


def _compiled(store: Store, seg_id: str, as_of: datetime) -> dict[str, str]:
    """The compiled explanation of every account of the book as of ``as_of``."""
    project = make_project()
    seg = project.segmentation(seg_id)
    assert seg is not None
    rows = store.con.execute(decided_sql(seg, project), [as_of, as_of]).fetchall()
    return {str(a): str(e) for a, _, e in rows}


def test_rule_rows_record_a_decision_not_json(store: Store) -> None:
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    rows = _rows(store)
    assert len(rows) == 9
    assert all(e is None and d is not None for *_, e, d in rows)
    catalog = store.con.execute(
        "SELECT policy_version, segmentation, count(*), count(DISTINCT decision) "
        "FROM decisions GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    track = segmentation_decisions(make_project().segmentations[0], make_project())
    leaves = len(track.decisions)
    assert catalog == [("v1", "tier", 4, 4), ("v1", "track", leaves, leaves)]
    # Each row's decision belongs to its segmentation and gives its outcome.
    mismatched = store.con.execute(
        "SELECT count(*) FROM assignments a JOIN decisions d ON d.id = a.decision_id "
        "WHERE d.segmentation <> a.segmentation OR d.policy_version <> a.policy_version "
        "OR (d.outcome IS NOT NULL AND d.outcome <> a.outcome)"
    ).fetchone()
    assert mismatched == (0,)
    # A second run (nothing new) records no decision twice.
    add_account(store, "a6", 7000)
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    again = store.con.execute("SELECT count(*) FROM decisions").fetchone()
    assert again == (4 + len(track.decisions),)


def test_rendered_explanations_are_the_compiled_ones_as_of_the_assignment(
    store: Store,
) -> None:
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    # a3 changes after the assignment: a new version loaded later must not leak into it.
    add_account(store, "a3", 1000, version=2, loaded_at=datetime(2026, 3, 1))
    rows = _rows(store)
    rendered = recorded_explanations(store.con, [i for i, *_ in rows])
    for seg_id in ("track", "tier"):
        compiled = _compiled(store, seg_id, AS_OF)
        mine = {a: rendered[i] for i, a, s, *_ in rows if s == seg_id}
        assert mine == {a: compiled[a] for a in mine}
    a3 = next(i for i, a, s, *_ in rows if (a, s) == ("a3", "track"))
    assert json.loads(str(rendered[a3]))["path"][0]["inputs"] == {"acv": 200000}
    found = explain_account(store, make_project(), "a3")
    track = found.segmentations[0]
    assert track.current is not None and track.decided_by is not None
    assert track.current.explanation == json.loads(str(rendered[a3]))
    assert "acv = 200,000" in "\n".join(track.steps)
    # What the policy says now reads the new version.
    now_path = track.policy_now["path"]
    assert isinstance(now_path, list) and now_path[0]["inputs"] == {"acv": 1000}


def test_book_with_history_uses_the_latest_version_then(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    add_account(store, "h", 5000, version=1, loaded_at=T0)
    add_account(store, "h", 300000, version=2, loaded_at=datetime(2026, 1, 15))
    add_account(store, "h", 1000, version=3, loaded_at=datetime(2026, 3, 1))
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    rows = _rows(store, "segmentation = 'track'")
    rendered = recorded_explanations(store.con, [rows[0][0]])
    explanation = json.loads(str(rendered[rows[0][0]]))
    assert explanation["path"][0]["inputs"] == {"acv": 300000}
    assert {a: str(rendered[i]) for i, a, *_ in rows} == _compiled(store, "track", AS_OF)


def test_reassigned_rows_render_under_the_new_policy(store: Store) -> None:
    assign_accounts(store, make_project("v1"), AS_OF, now=AS_OF)
    later = datetime(2026, 2, 4)
    changed = make_project("v2", q4_acv=100000, enterprise_acv=100000)
    assign_accounts(store, changed, later, reassign=True, now=later)
    moved = _rows(store, "source = 'reassign'")
    assert sorted((a, s) for _, a, s, *_ in moved) == [("a2", "tier"), ("a5", "track")]
    rendered = recorded_explanations(store.con, [i for i, *_ in moved])
    for i, account, seg_id, *_ in moved:
        seg = changed.segmentation(seg_id)
        assert seg is not None
        compiled = store.con.execute(
            f"SELECT explanation FROM ({decided_sql(seg, changed)}) WHERE account_id = ?",
            [later, later, account],
        ).fetchone()
        assert compiled is not None and rendered[i] == compiled[0]
    versions = store.con.execute(
        "SELECT DISTINCT d.policy_version FROM assignments a "
        "JOIN decisions d ON d.id = a.decision_id WHERE a.source = 'reassign'"
    ).fetchall()
    assert versions == [("v2",)]


def test_ids_follow_insertion_and_the_sequence_continues(store: Store) -> None:
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    ids = [i for i, *_ in _rows(store)]
    assert len(set(ids)) == len(ids)
    # A row written with the id default afterwards gets a larger id.
    store.con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
        "assigned_at, source, recorded_at) VALUES ('a1', 'track', 'X', 'v1', ?, 'rule', ?)",
        [AS_OF, AS_OF],
    )
    (latest,) = store.con.execute("SELECT max(id) FROM assignments").fetchone() or (0,)
    newest = store.con.execute(
        "SELECT id FROM assignments WHERE outcome = 'X' AND account_id = 'a1'"
    ).fetchone()
    assert newest == (latest,) and int(latest) > max(ids)
    # And a second bulk run continues after it, its rows all newer.
    add_account(store, "a7", 8000)
    add_account(store, "a8", 9000)
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    fresh = [i for i, a, *_ in _rows(store) if a in ("a7", "a8")]
    assert len(fresh) == 4 and min(fresh) > int(latest)


def test_the_compression_setting_is_restored(store: Store) -> None:
    store.con.execute("SET disabled_compression_methods = 'chimp'")
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    row = store.con.execute("SELECT current_setting('disabled_compression_methods')").fetchone()
    assert row is not None and str(row[0]).lower() == "chimp"


def test_a_recompiled_decision_gets_a_new_catalog_row(store: Store) -> None:
    project = make_project()
    seg = project.segmentations[1]
    compiled = segmentation_decisions(seg, project)
    first = record_decisions(store.con, "v1", seg.id, compiled, AS_OF)
    assert record_decisions(store.con, "v1", seg.id, compiled, AS_OF) == first
    # Same policy version, but code 1 now renders differently (another tierline release).
    other = compiled.decision(2)
    changed = dataclasses.replace(
        compiled,
        decisions=tuple(
            dataclasses.replace(d, explanation=other.explanation) if d.code == 1 else d
            for d in compiled.decisions
        ),
    )
    second = record_decisions(store.con, "v1", seg.id, changed, AS_OF)
    assert second[1] != first[1]
    assert {c: i for c, i in second.items() if c != 1} == {c: i for c, i in first.items() if c != 1}
    assert decision_case({}, "decision") == "CAST(NULL AS BIGINT)"
    assert decision_case({1: 7, 0: 5}, "d.decision") == (
        "CASE d.decision WHEN 0 THEN 5 WHEN 1 THEN 7 END"
    )


def test_recorded_json_and_unknown_ids(store: Store) -> None:
    store.con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, explanation, "
        "policy_version, assigned_at, source, recorded_at) "
        "VALUES ('a1', 'tier', 'LOW', '{\"kind\":\"override\"}', 'v1', ?, 'override', ?)",
        [AS_OF, AS_OF],
    )
    (row_id,) = store.con.execute("SELECT max(id) FROM assignments").fetchone() or (0,)
    found = recorded_explanations(store.con, [int(row_id), 10_000])
    assert found == {int(row_id): '{"kind":"override"}'}
    assert recorded_explanations(store.con, []) == {}


def test_a_schema_3_store_migrates_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, str(path), MIGRATIONS[:3]) == [1, 2, 3]
    con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, explanation, "
        "policy_version, assigned_at, source, recorded_at) VALUES "
        "('a1', 'track', 'SELF_SERVE', '{\"kind\":\"tree\"}', 'v0', ?, 'rule', ?), "
        "('a1', 'track', 'HIGH_TOUCH', NULL, 'v0', ?, 'override', ?)",
        [T0, T0, T0, T0],
    )
    con.close()
    store = Store.open(path, CUSTOM_FIELDS)
    assert store.schema_version == SCHEMA_VERSION
    rows = store.con.execute(
        "SELECT id, outcome, explanation, decision_id FROM assignments ORDER BY id"
    ).fetchall()
    assert rows == [(1, "SELF_SERVE", '{"kind":"tree"}', None), (2, "HIGH_TOUCH", None, None)]
    current = store.con.execute("SELECT id FROM current_assignments").fetchall()
    assert current == [(2,)]
    indexes = store.con.execute(
        "SELECT count(*) FROM duckdb_constraints() "
        "WHERE table_name = 'assignments' AND constraint_type = 'PRIMARY KEY'"
    ).fetchone()
    assert indexes == (0,)
    assert recorded_explanations(store.con, [1]) == {1: '{"kind":"tree"}'}
    # The sequence carries on after the migrated ids.
    add_account(store, "a1", 5000)
    assign_accounts(store, make_project(), AS_OF, now=AS_OF)
    new_ids = store.con.execute("SELECT min(id) FROM assignments WHERE policy_version = 'v1'")
    assert (new_ids.fetchone() or (0,))[0] > 2
    store.close()
