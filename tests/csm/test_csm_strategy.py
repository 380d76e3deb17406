"""Each pick strategy on a crafted roster, with the exact CSM every account gets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from csm_fixture import (
    AS_OF,
    add_csm,
    held,
    make_project,
    new_accounts,
    open_store,
    record_candidates,
)

from tierline.engine.csm import CsmPlan, assign_csms
from tierline.policy.staffing import CsmPool, Strategy
from tierline.store import Store

POOL = (CsmPool("ops", tracks=("guided", "high_touch", "enterprise_ps")),)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


def picks(plan: CsmPlan) -> dict[str, str]:
    return {p.account_id: p.csm_id for p in plan.picks}


def run(store: Store, strategy: Strategy) -> CsmPlan:
    return assign_csms(store.con, make_project(POOL, strategy), AS_OF, "stints")


def test_least_accounts_fills_the_lightest_book_first(store: Store) -> None:
    add_csm(store, "c1", "ops", 5)
    add_csm(store, "c2", "ops", 5)
    add_csm(store, "c3", "ops", 5)
    add_csm(store, "a0", "ops", 50, role="manager")  # lowest id, most room: never picked
    held(store, "c1", 2)
    held(store, "c3", 1)
    new_accounts(store, ["n1", "n2", "n3", "n4"])
    plan = run(store, "least_accounts")
    # Loads 2/0/1: n1 → c2 (1), n2 → c2 (2, id breaks the tie with c3), n3 → c3, n4 → c1.
    assert picks(plan) == {"n1": "c2", "n2": "c2", "n3": "c3", "n4": "c1"}
    assert [p.seq for p in plan.picks] == [1, 2, 3, 4]
    assert {p.account_id: p.load_after for p in plan.picks} == {
        "n1": 1,
        "n2": 2,
        "n3": 2,
        "n4": 3,
    }
    assert plan.unplaced == ()


def test_least_accounts_counts_earlier_outbox_assignments(store: Store) -> None:
    add_csm(store, "c1", "ops", 5)
    add_csm(store, "c2", "ops", 5)
    new_accounts(store, ["n1"])
    assert picks(run(store, "least_accounts")) == {"n1": "c1"}
    assert record_candidates(store) == 1
    # n1 is c1's now (the outbox says so; the book does not yet): n2 goes to c2.
    new_accounts(store, ["n2"])
    second = run(store, "least_accounts")
    assert picks(second) == {"n2": "c2"}
    assert second.pools[0].load == 1
    assert record_candidates(store) == 1
    assert run(store, "least_accounts").picks == ()


def test_least_arr_reads_the_latest_arr_else_acv(store: Store) -> None:
    for cid in ("c1", "c2", "c3"):
        add_csm(store, cid, "ops", 10)
    held(store, "c1", 1, acv=50_000)  # but its ARR history says 5,000 now
    held(store, "c2", 3, acv=10_000)  # 30,000
    held(store, "c3", 1, acv=20_000)  # 20,000
    store.con.execute(
        "INSERT INTO arr (account_id, month, arr) VALUES ('c1-held-000', ?, 60000), "
        "('c1-held-000', ?, 5000), ('c1-held-000', ?, 99000)",
        [date(2026, 1, 1), date(2026, 3, 1), date(2026, 5, 1)],  # May is after the as-of
    )
    new_accounts(store, ["n1"], acv=1_000)
    plan = run(store, "least_arr")
    assert picks(plan) == {"n1": "c1"}


def test_least_arr_gives_the_largest_accounts_to_the_lightest_books(store: Store) -> None:
    for cid in ("c1", "c2", "c3"):
        add_csm(store, cid, "ops", 10)
    held(store, "c1", 1, acv=50_000)
    held(store, "c2", 3, acv=10_000)
    new_accounts(store, ["n3"], acv=10_000)
    new_accounts(store, ["n2"], acv=20_000)
    new_accounts(store, ["n1"], acv=40_000)
    # Books 50k / 30k / 0; the mean new account is 23,333, so c3's slots project to
    # 0, 23k, 47k; c2's to 30k, 53k; c1's to 50k: n1 (40k) → c3, n2 (20k) → c3, n3 → c2.
    plan = run(store, "least_arr")
    assert picks(plan) == {"n1": "c3", "n2": "c3", "n3": "c2"}
    assert [p.account_id for p in plan.picks] == ["n1", "n2", "n3"]


def test_round_robin_rotates_by_id_and_continues_from_the_last_pick(store: Store) -> None:
    add_csm(store, "c3", "ops", 10)
    add_csm(store, "c1", "ops", 10)
    add_csm(store, "c2", "ops", 1)
    add_csm(store, "b0", "ops", 10, role="manager")
    new_accounts(store, ["a1", "a2"])
    first = run(store, "round_robin")
    assert picks(first) == {"a1": "c1", "a2": "c2"}
    assert record_candidates(store) == 2
    # The last pick was c2 (now full): the rotation goes on at c3, then c1, skipping c2.
    new_accounts(store, ["b1", "b2", "b3", "b4"])
    second = run(store, "round_robin")
    assert picks(second) == {"b1": "c3", "b2": "c1", "b3": "c3", "b4": "c1"}
    assert [p.seq for p in second.picks] == [3, 4, 5, 6]
    assert record_candidates(store) == 4
    new_accounts(store, ["d1", "d2"])
    third = run(store, "round_robin")
    assert picks(third) == {"d1": "c3", "d2": "c1"}


def test_round_robin_wraps_after_the_highest_id(store: Store) -> None:
    for cid in ("c1", "c2", "c3"):
        add_csm(store, cid, "ops", 10)
    new_accounts(store, ["a1", "a2", "a3"])
    assert picks(run(store, "round_robin")) == {"a1": "c1", "a2": "c2", "a3": "c3"}
    record_candidates(store)
    new_accounts(store, ["b1", "b2", "b3", "b4"])
    assert picks(run(store, "round_robin")) == {"b1": "c1", "b2": "c2", "b3": "c3", "b4": "c1"}


@pytest.mark.parametrize("strategy", ["least_accounts", "least_arr", "round_robin"])
def test_managers_never_get_accounts(store: Store, strategy: Strategy) -> None:
    add_csm(store, "a-manager", "ops", 100, role="manager")
    add_csm(store, "c1", "ops", 2)
    new_accounts(store, ["n1", "n2", "n3"], acv=5_000)
    plan = run(store, strategy)
    assert set(picks(plan).values()) == {"c1"}
    assert [(u.account_id, u.reason) for u in plan.unplaced] == [("n3", "over_capacity")]
    assert plan.pools[0].csms == 1


@pytest.mark.parametrize("strategy", ["least_accounts", "least_arr", "round_robin"])
def test_a_pool_of_managers_only_places_nobody(store: Store, strategy: Strategy) -> None:
    add_csm(store, "m1", "ops", 100, role="manager")
    new_accounts(store, ["n1", "n2"])
    plan = run(store, strategy)
    assert plan.picks == ()
    assert [(u.account_id, u.pool, u.reason) for u in plan.unplaced] == [
        ("n1", "ops", "over_capacity"),
        ("n2", "ops", "over_capacity"),
    ]
    assert plan.pools[0].csms == 0
    assert plan.pools[0].capacity == 0


@pytest.mark.parametrize("strategy", ["least_accounts", "least_arr", "round_robin"])
def test_results_are_deterministic(tmp_path: Path, strategy: Strategy) -> None:
    """The same book in another insertion order gives the same plan and candidates."""
    ids = [f"n{i:02d}" for i in range(12)]
    plans = []
    candidates = []
    for name, order in (("one", ids), ("two", list(reversed(ids)))):
        folder = tmp_path / name
        folder.mkdir()
        store = open_store(folder)
        for cid in ["c1", "c2", "c3"] if name == "one" else ["c3", "c2", "c1"]:
            add_csm(store, cid, "ops", 5)
        held(store, "c2", 2, acv=30_000)
        for aid in order:
            new_accounts(store, [aid], acv=1_000.0 * (1 + int(aid[1:]) % 4))
        store.con.execute("UPDATE stints SET started_at = TIMESTAMP '2026-03-02 09:00'")
        plan = run(store, strategy)
        again = run(store, strategy)
        assert again == plan
        plans.append(plan)
        candidates.append(store.con.execute("SELECT * FROM csm_candidates").fetchall())
        store.close()
    assert plans[0] == plans[1]
    assert candidates[0] == candidates[1]
    assert len(plans[0].picks) == 12
