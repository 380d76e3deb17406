"""The earlier picks kept in the store (``csm_picks``): folded run by run, equal to a full read.

A run reads each account's latest CSM assignment from the outbox. For the store's own
outbox the picks are kept in ``csm_picks`` and only the outbox rows added since the last
call are folded in; these tests hold the kept picks, and the plans made from them, to a
full read of the outbox after every step, including rows written behind the engine's back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from csm_fixture import AS_OF, add_account, add_csm, make_project, new_accounts, open_store

from tierline.engine.csm import KEPT_STATE, KEPT_TABLE, CsmPlan, assign_csms
from tierline.engine.outbox import append_candidates, ensure_outbox, key_no_sql
from tierline.policy.model import Project
from tierline.policy.staffing import CsmPool
from tierline.store import Store

POOLS = (CsmPool("ops", tracks=("guided",)),)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        add_csm(s, "c1", "ops", 10)
        add_csm(s, "c2", "ops", 10)
        add_csm(s, "c3", "ops", 10)
        ensure_outbox(s.con)
        yield s


def _full_read(store: Store) -> list[tuple[object, ...]]:
    """Each account's latest pick, read from the whole outbox as a test oracle."""
    return store.con.execute(
        "SELECT account_id, json_extract_string(payload, '$.csm_id'), "
        "json_extract_string(payload, '$.pool'), "
        "CAST(json_extract_string(payload, '$.seq') AS BIGINT), seq FROM outbox "
        "WHERE kind = 'csm_assignment' "
        "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY seq DESC) = 1 "
        "ORDER BY account_id"
    ).fetchall()


def _kept(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(f"SELECT * FROM {KEPT_TABLE} ORDER BY account_id").fetchall()


def _plan(store: Store, project: Project, outbox: str = "outbox") -> CsmPlan:
    return assign_csms(store.con, project, AS_OF, "stints", outbox=outbox)


def _record(store: Store) -> int:
    return append_candidates(
        store.con,
        "csm_candidates",
        run_id="r",
        policy_version="v",
        created_at=AS_OF,
    )


def _same_as_a_full_read(store: Store, project: Project) -> CsmPlan:
    """Plan from the kept picks; the plan from a copy of the outbox (read in full) agrees."""
    kept = _plan(store, project)
    assert _kept(store) == _full_read(store)
    store.con.execute("CREATE OR REPLACE TEMP VIEW outbox_copy AS SELECT * FROM outbox")
    full = _plan(store, project, outbox="outbox_copy")
    assert full == kept
    return kept


def _insert_pick(store: Store, account: str, csm: str, seq: int, episode: str) -> None:
    """A CSM assignment written to the outbox by hand (a manager's re-pick, say)."""
    payload = json.dumps({"to": csm, "csm_id": csm, "pool": "ops", "seq": seq})
    store.con.execute(
        "INSERT INTO outbox (idempotency_key, rule, account_id, episode, kind, due_at, payload, "
        "created_at, run_id, policy_version, status, key_no) VALUES "
        "($key, 'csm:ops', $account, $episode, 'csm_assignment', $at, $payload, $at, 'hand', "
        f"'v', 'pending', {key_no_sql('$key')})",
        {
            "key": f"hand-{account}-{episode}",
            "account": account,
            "episode": episode,
            "at": AS_OF,
            "payload": payload,
        },
    )


def test_kept_picks_follow_the_outbox_and_equal_a_full_read(store: Store) -> None:
    project = make_project(POOLS)
    new_accounts(store, ["a1", "a2", "a3", "a4"])
    first = _same_as_a_full_read(store, project)
    assert [p.csm_id for p in first.picks] == ["c1", "c2", "c3", "c1"]
    assert _record(store) == 4
    # the next call folds the four picks in: nobody is picked twice, the loads count them
    second = _same_as_a_full_read(store, project)
    assert second.picks == ()
    assert second.pools[0].load == 4
    assert [r[0] for r in _kept(store)] == ["a1", "a2", "a3", "a4"]
    state = store.con.execute(f"SELECT mark, folded FROM {KEPT_STATE}").fetchall()
    top = store.con.execute("SELECT max(seq) FROM outbox").fetchall()
    assert state == [(top[0][0], 4)]

    # two more accounts: picked against the folded loads, then folded in turn
    new_accounts(store, ["b1", "b2"])
    third = _same_as_a_full_read(store, project)
    assert [(p.account_id, p.csm_id) for p in third.picks] == [("b1", "c2"), ("b2", "c3")]
    assert _record(store) == 2
    _same_as_a_full_read(store, project)
    assert store.con.execute(f"SELECT folded FROM {KEPT_STATE}").fetchall() == [(6,)]


def test_a_later_pick_for_the_same_account_replaces_the_kept_one(store: Store) -> None:
    project = make_project(POOLS)
    new_accounts(store, ["a1", "a2"])
    _plan(store, project)
    _record(store)
    _plan(store, project)
    _insert_pick(store, "a1", "c3", 9, "2026-03-20T00:00:00")
    after = _same_as_a_full_read(store, project)
    assert dict((r[0], r[1]) for r in _kept(store)) == {"a1": "c3", "a2": "c2"}
    loads = {p.pool: p.load for p in after.pools}
    assert loads == {"ops": 2}


def test_rows_removed_below_the_mark_rebuild_the_kept_picks(store: Store) -> None:
    project = make_project(POOLS)
    new_accounts(store, ["a1", "a2", "a3"])
    _plan(store, project)
    _record(store)
    _plan(store, project)
    assert len(_kept(store)) == 3
    store.con.execute("DELETE FROM outbox WHERE account_id = 'a2'")
    # the count below the mark no longer matches: rebuilt from the whole outbox
    after = _same_as_a_full_read(store, project)
    assert [r[0] for r in _kept(store)] == ["a1", "a3"]
    assert [(p.account_id, p.csm_id) for p in after.picks] == [("a2", "c2")]


def test_a_rolled_back_run_leaves_the_kept_picks_as_they_were(store: Store) -> None:
    project = make_project(POOLS)
    new_accounts(store, ["a1"])
    _plan(store, project)
    _record(store)
    before = _kept(store)
    store.con.execute("BEGIN TRANSACTION")
    _insert_pick(store, "a1", "c2", 5, "2026-03-21T00:00:00")
    _plan(store, project)
    assert dict((r[0], r[1]) for r in _kept(store)) == {"a1": "c2"}
    store.con.execute("ROLLBACK")
    assert _kept(store) == before
    _same_as_a_full_read(store, project)


def test_other_outboxes_are_read_in_full_and_nothing_is_kept(store: Store) -> None:
    project = make_project(POOLS)
    new_accounts(store, ["a1"])
    store.con.execute("DROP TABLE outbox")
    columns = "account_id VARCHAR, kind VARCHAR, payload VARCHAR, seq BIGINT"
    store.con.execute(f"CREATE TABLE scratch_outbox ({columns})")
    add_account(store, "zz")
    _insert_scratch = "INSERT INTO scratch_outbox VALUES ('zz', 'csm_assignment', ?, 1)"
    store.con.execute(_insert_scratch, [json.dumps({"csm_id": "c1", "pool": "ops", "seq": 1})])
    plan = _plan(store, project, outbox="scratch_outbox")
    assert [p.csm_id for p in plan.picks] == ["c2"]  # c1 holds zz in the scratch outbox
    kept = store.con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [KEPT_TABLE]
    ).fetchall()
    assert kept == [(0,)]
    assert isinstance(plan.as_of, datetime)
