"""Capacity: a batch larger than the free slots, the per-pool report, band capacities."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from csm_fixture import (
    AS_OF,
    add_csm,
    band_table,
    held,
    make_project,
    new_accounts,
    open_store,
    record_candidates,
)

from tierline.engine.csm import PoolCapacity, assign_csms
from tierline.policy.staffing import CapacityFrom, CsmPool, Strategy, band_capacities
from tierline.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


@pytest.mark.parametrize("strategy", ["least_accounts", "least_arr", "round_robin"])
def test_a_batch_larger_than_the_free_slots_is_reported_not_forced(
    store: Store, strategy: Strategy
) -> None:
    pools = (CsmPool("ops", tracks=("guided",)),)
    add_csm(store, "c1", "ops", 3)
    add_csm(store, "c2", "ops", 2)
    add_csm(store, "m1", "ops", 40, role="manager")
    held(store, "c1", 1)
    held(store, "c2", 2)  # full already
    ids = [f"n{i}" for i in range(1, 6)]
    new_accounts(store, ids)
    plan = assign_csms(store.con, make_project(pools, strategy), AS_OF, "stints")
    assert {p.account_id: p.csm_id for p in plan.picks} == {"n1": "c1", "n2": "c1"}
    assert [(u.account_id, u.pool, u.reason) for u in plan.unplaced] == [
        ("n3", "ops", "over_capacity"),
        ("n4", "ops", "over_capacity"),
        ("n5", "ops", "over_capacity"),
    ]
    assert plan.pools == (
        PoolCapacity(
            pool="ops",
            csms=2,
            capacity=5,
            load=3,
            assigned=2,
            free=0,
            utilisation=1.0,
            over_capacity=3,
            hires_needed=2,  # 3 accounts at 2.5 per CSM
        ),
    )
    assert plan.shortfall == {"ops": 3}
    assert max(p.load_after for p in plan.picks) == 3
    rows = store.con.execute("SELECT count(*) FROM csm_candidates").fetchone()
    assert rows == (2,)


def test_no_csm_ever_exceeds_its_capacity_under_a_large_batch(store: Store) -> None:
    pools = (CsmPool("ops", tracks=("guided",)),)
    capacities = {"c1": 7, "c2": 3, "c3": 11, "c4": 0}
    for cid, cap in capacities.items():
        add_csm(store, cid, "ops", cap)
    held(store, "c1", 5)
    held(store, "c3", 2)
    new_accounts(store, [f"n{i:03d}" for i in range(40)])
    plan = assign_csms(store.con, make_project(pools), AS_OF, "stints")
    totals = dict(
        store.con.execute(
            "SELECT csm_id, count(*) FROM ("
            "  SELECT csm_id FROM accounts WHERE csm_id IS NOT NULL"
            "  UNION ALL SELECT csm_id FROM csm_plan WHERE csm_id IS NOT NULL"
            ") GROUP BY csm_id"
        ).fetchall()
    )
    assert totals == {"c1": 7, "c2": 3, "c3": 11}
    assert len(plan.picks) == 2 + 3 + 9
    assert len(plan.unplaced) == 40 - 14
    (report,) = plan.pools
    assert (report.capacity, report.load, report.assigned, report.free) == (21, 7, 14, 0)
    assert report.over_capacity == 26
    assert report.hires_needed == 5  # 26 accounts at the pool's mean 5.25 per CSM


def _band_pools(capacity_from: CapacityFrom) -> tuple[CsmPool, ...]:
    caps = band_capacities(band_table())
    return (
        CsmPool(
            "mid",
            value_bands=("MEDIUM_TOUCH", "LIGHT_TOUCH"),
            capacity_from=capacity_from,
            band_capacity=min(c for _, c in (caps["MEDIUM_TOUCH"], caps["LIGHT_TOUCH"]) if c),
        ),
        CsmPool("digital", value_bands=("SELF_SERVICE",), band_capacity=caps["SELF_SERVICE"][1]),
        CsmPool("high", value_bands=("HIGH_TOUCH",), band_capacity=caps["HIGH_TOUCH"][1]),
    )


def test_capacity_from_value_band_ignores_the_roster(store: Store) -> None:
    add_csm(store, "c1", "mid", 500)
    held(store, "c1", 48)
    new_accounts(store, ["n1", "n2", "n3"], band="MEDIUM_TOUCH")
    plan = assign_csms(store.con, make_project(_band_pools("value_band")), AS_OF, "stints")
    assert [p.account_id for p in plan.picks] == ["n1", "n2"]  # 50 per CSM (seed 003)
    assert plan.pools[0].capacity == 50
    assert plan.shortfall == {"mid": 1}


def test_roster_capacity_wins_else_the_band_max(store: Store) -> None:
    add_csm(store, "c1", "mid", 500)
    add_csm(store, "c2", "mid", None)  # no capacity on the roster: the band's 50
    held(store, "c1", 499)
    held(store, "c2", 49)
    new_accounts(store, ["n1", "n2", "n3", "n4"], band="LIGHT_TOUCH")
    plan = assign_csms(store.con, make_project(_band_pools("roster")), AS_OF, "stints")
    assert {p.account_id: p.csm_id for p in plan.picks} == {"n1": "c2", "n2": "c1"}
    mid = plan.pools[0]
    assert (mid.capacity, mid.load, mid.assigned, mid.free, mid.over_capacity) == (
        550,
        548,
        2,
        0,
        2,
    )


def test_an_unbounded_band_places_everyone(store: Store) -> None:
    add_csm(store, "d1", "digital", None)
    add_csm(store, "d2", "digital", None)
    held(store, "d1", 3)
    new_accounts(store, ["n1", "n2", "n3", "n4"], band="SELF_SERVICE")
    plan = assign_csms(store.con, make_project(_band_pools("roster")), AS_OF, "stints")
    assert {p.account_id: p.csm_id for p in plan.picks} == {
        "n1": "d2",
        "n2": "d2",
        "n3": "d2",
        "n4": "d1",
    }
    digital = plan.pools[1]
    assert (digital.capacity, digital.free, digital.utilisation) == (None, None, None)
    assert digital.over_capacity == 0


def test_a_pool_without_csms_reports_the_hires_it_needs(store: Store) -> None:
    add_csm(store, "c1", "mid", 40)
    new_accounts(store, [f"h{i:02d}" for i in range(30)], band="HIGH_TOUCH")
    plan = assign_csms(store.con, make_project(_band_pools("roster")), AS_OF, "stints")
    assert plan.picks == ()
    high = plan.pools[2]
    assert high == PoolCapacity("high", 0, 0, 0, 0, 0, None, 30, 2)  # 30 at 25 per CSM
    assert [p.pool for p in plan.pools] == ["mid", "digital", "high"]
    assert plan.pools[0] == PoolCapacity("mid", 1, 40, 0, 0, 40, 0.0, 0, 0)


def test_candidates_follow_the_outbox_contract(store: Store) -> None:
    add_csm(store, "c1", "mid", 10)
    new_accounts(store, ["n1"], band="MEDIUM_TOUCH")
    assign_csms(store.con, make_project(_band_pools("roster")), AS_OF, "stints")
    cur = store.con.execute("SELECT * FROM csm_candidates")
    names = [d[0] for d in cur.description]
    assert names == ["rule", "account_id", "episode", "kind", "due_at", "payload"]
    ((rule, account, episode, kind, due_at, payload),) = cur.fetchall()
    assert (rule, account, episode, kind) == (
        "csm:mid",
        "n1",
        "2026-03-02T09:00:00",
        "csm_assignment",
    )
    assert due_at.isoformat() == "2026-03-02T09:00:00"
    assert json.loads(payload) == {
        "to": "c1",
        "csm_id": "c1",
        "csm_name": "C1",
        "pool": "mid",
        "strategy": "least_accounts",
        "track_id": "guided",
        "value_band": "MEDIUM_TOUCH",
        "seq": 1,
        "load_after": 1,
        "capacity": 10,
    }
    assert record_candidates(store) == 1
    assign_csms(store.con, make_project(_band_pools("roster")), AS_OF, "stints")
    assert record_candidates(store) == 0  # a second run adds nothing
