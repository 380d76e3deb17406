"""The set-based picks equal a one-account-at-a-time reference (a pure-Python test oracle).

Random rosters (some capacities unbounded, some CSMs full, managers in the pool) and random
batches: least_accounts and round_robin must match the sequential rule exactly, including
who is left over capacity; least_arr must give a single new account to the lightest book.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
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

from tierline.engine.csm import assign_csms
from tierline.policy.staffing import CsmPool, Strategy
from tierline.store import Store

POOL = (CsmPool("ops", tracks=("guided",)),)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


def _roster(store: Store, rng: random.Random) -> tuple[dict[str, int | None], dict[str, int]]:
    """Random CSMs (id → capacity, None = unbounded) and their loads; managers too."""
    capacity: dict[str, int | None] = {}
    load: dict[str, int] = {}
    for i in rng.sample(range(100), rng.randint(1, 6)):
        cid = f"c{i:02d}"
        cap = rng.choice([None, 0, 1, 2, 3, 5, 8])
        n = rng.randint(0, 6) if cap is None else rng.randint(0, cap + 1)
        add_csm(store, cid, "ops", cap)
        held(store, cid, n)
        capacity[cid], load[cid] = cap, n
    add_csm(store, "b-manager", "ops", None, role="manager")
    return capacity, load


def _sequential(
    capacity: dict[str, int | None],
    load: dict[str, int],
    accounts: list[str],
    strategy: Strategy,
    last: str | None,
) -> dict[str, str | None]:
    load = dict(load)
    ids = sorted(capacity)
    out: dict[str, str | None] = {}
    for account in accounts:
        free = [c for c in ids if capacity[c] is None or load[c] < (capacity[c] or 0)]
        if not free:
            out[account] = None
            continue
        if strategy == "least_accounts":
            pick = min(free, key=lambda c: (load[c], c))
        else:
            after = [c for c in free if last is not None and c > last]
            pick = after[0] if after else free[0]
            last = pick
        load[pick] += 1
        out[account] = pick
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("strategy", ["least_accounts", "round_robin"])
def test_batches_match_the_sequential_rule(store: Store, strategy: Strategy, seed: int) -> None:
    rng = random.Random(seed)
    capacity, load = _roster(store, rng)
    last: str | None = None
    for batch in range(2):
        accounts = [f"n{batch}-{i:02d}" for i in range(rng.randint(1, 25))]
        new_accounts(store, accounts)
        plan = assign_csms(store.con, make_project(POOL, strategy), AS_OF, "stints")
        expected = _sequential(capacity, load, accounts, strategy, last)
        got: dict[str, str | None] = {p.account_id: p.csm_id for p in plan.picks}
        got.update({u.account_id: None for u in plan.unplaced})
        assert got == expected, (seed, batch)
        assert plan.pools[0].over_capacity == sum(v is None for v in expected.values())
        for cid in expected.values():
            if cid is not None:
                load[cid] += 1
                last = cid
        record_candidates(store)
        # The unplaced stay in need: drop them so that the next batch starts afresh.
        store.con.execute(
            "DELETE FROM stints WHERE account_id NOT IN (SELECT account_id FROM outbox)"
        )


@pytest.mark.parametrize("seed", range(6))
def test_least_arr_gives_one_new_account_to_the_lightest_book(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    capacity: dict[str, int] = {}
    arr: dict[str, float] = {}
    for i in rng.sample(range(100), rng.randint(1, 6)):
        cid = f"c{i:02d}"
        n = rng.randint(0, 4)
        capacity[cid] = rng.randint(0, 5)
        add_csm(store, cid, "ops", capacity[cid])
        acv = float(rng.choice([1_000, 5_000, 20_000]))
        held(store, cid, n, acv=acv)
        arr[cid] = n * acv
        capacity[cid] -= n  # the places left
    for step in range(4):
        aid = f"n{step}"
        new_accounts(store, [aid], acv=3_000)
        plan = assign_csms(store.con, make_project(POOL, "least_arr"), AS_OF, "stints")
        free = [c for c in capacity if capacity[c] > 0]
        if not free:
            assert plan.picks == () and plan.unplaced[0].account_id == aid
            store.con.execute("DELETE FROM stints WHERE account_id = ?", [aid])
            continue
        best = min(free, key=lambda c: (arr[c], c))
        assert [(p.account_id, p.csm_id) for p in plan.picks] == [(aid, best)]
        record_candidates(store)
        arr[best] += 3_000
        capacity[best] -= 1
