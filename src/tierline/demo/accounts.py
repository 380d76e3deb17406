"""Accounts of the demo book: ACV, size-correlated custom fields, archetypes, the CSM roster.

Everything is drawn for all accounts at once with numpy; per-archetype and per-plan
parameters are looked up by index arrays, never by looping over accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierline.demo.book import Array, date_array, ids, pick, timestamp_array
from tierline.demo.localtime import ZONE_WEIGHTS, ZONES, Clock, business_seconds
from tierline.demo.vocab import (
    COMPANY_FIRST,
    COMPANY_SECOND,
    COMPANY_SUFFIX,
    FIRST_NAMES,
    LAST_NAMES,
)

__all__ = [
    "ARCHETYPES",
    "PLANS",
    "POOLS",
    "Accounts",
    "draw_accounts",
    "roster",
]

# How an account's product usage unfolds after it starts.
ARCHETYPES: tuple[str, ...] = ("fast", "steady", "stall", "decline", "grow")
_ARCHETYPE_P = np.array([0.22, 0.30, 0.20, 0.13, 0.15])

PLANS: tuple[str, ...] = ("starter", "growth", "business", "enterprise")
_PLAN_FLOOR = np.array([0.0, 5_000.0, 25_000.0, 100_000.0])
_SEAT_PRICE = np.array([300.0, 450.0, 600.0, 800.0])

# CSM pools by seed 003's value bands: (name, ACV floor, capacity, loaded cost).
POOLS: tuple[tuple[str, float, int, float], ...] = (
    ("self_service", 0.0, 600, 95_000.0),
    ("light_touch", 10_000.0, 65, 110_000.0),
    ("medium_touch", 50_000.0, 40, 130_000.0),
    ("high_touch", 100_000.0, 20, 150_000.0),
)
_MANAGER_SPAN = 8
_MANAGER_COST = 190_000.0

ACV_MIN, ACV_MAX = 1_000.0, 500_000.0
_ACV_MEDIAN, _ACV_SIGMA = 9_000.0, 1.35
DAYS_BACK = 730


@dataclass(frozen=True)
class Accounts:
    """The drawn accounts as arrays (index = account number), plus their table."""

    n: int
    acv: Array
    size: Array  # standardised log ACV
    zone: Array
    won_day: Array
    won_ts: Array
    start_day: Array
    renewal_day: Array
    archetype: Array
    stall_step: Array
    seats: Array
    seat_limit: Array
    plan: Array
    pool: Array
    technical: Array
    integration: Array
    expected_users: Array
    table: pa.Table


def _sigmoid(x: Array) -> Array:
    result: Array = 1.0 / (1.0 + np.exp(-x))
    return result


def draw_accounts(rng: np.random.Generator, n: int, clock: Clock) -> Accounts:
    """Draw ``n`` accounts closed-won over the last two years before the clock's as-of day."""
    number = np.arange(1, n + 1)
    acv = np.exp(rng.normal(np.log(_ACV_MEDIAN), _ACV_SIGMA, n))
    acv = np.round(np.clip(acv, ACV_MIN, ACV_MAX) / 100.0) * 100.0
    size = (np.log(acv) - np.log(_ACV_MEDIAN)) / _ACV_SIGMA

    zone = rng.choice(len(ZONES), size=n, p=np.array(ZONE_WEIGHTS) / sum(ZONE_WEIGHTS))
    # More deals closed recently than two years ago: a growing company.
    back = np.floor((1.0 - rng.beta(1.4, 1.0, n)) * DAYS_BACK).astype(np.int64)
    won_day = clock.as_of_day - 1 - back
    won_ts = clock.to_utc(zone, won_day, business_seconds(rng, n))
    late = won_ts >= clock.cutoff
    won_day = np.where(late, won_day - 1, won_day)
    won_ts = np.where(late, won_ts - 86_400, won_ts)
    start_day = won_day + rng.integers(0, 10, n)

    archetype = rng.choice(len(ARCHETYPES), size=n, p=_ARCHETYPE_P)
    stall_step = rng.integers(2, 5, n)  # stuck at onboarding step 2, 3 or 4

    plan = np.searchsorted(_PLAN_FLOOR, acv, side="right") - 1
    seat_limit = np.maximum(3, np.round(acv / _SEAT_PRICE[plan])).astype(np.int64)
    grow = archetype == ARCHETYPES.index("grow")
    use = np.where(grow, rng.uniform(1.05, 1.6, n), rng.uniform(0.4, 1.0, n))
    seats = np.maximum(1, np.ceil(seat_limit * use)).astype(np.int64)
    expected_users = np.maximum(1, np.round(seat_limit * rng.uniform(0.7, 1.15, n)))

    technical = rng.random(n) < _sigmoid(-0.2 + 1.3 * size)
    integration = rng.random(n) < _sigmoid(-2.0 + 1.7 * size + 0.5 * technical)
    migration = rng.random(n) < _sigmoid(-2.4 + 1.3 * size)
    custom = rng.random(n) < _sigmoid(-1.9 + 1.5 * size)
    configuration = integration | migration | custom | (rng.random(n) < _sigmoid(-0.4 + size))
    mean_hours = -0.4 + 0.9 * size + 0.7 * custom + 0.5 * integration + 0.3 * migration
    hours = np.exp(rng.normal(mean_hours, 0.6))
    config_hours = np.where(configuration, np.round(np.clip(hours, 0.25, 400) * 4) / 4, 0.0)
    stakeholders = np.clip(1 + rng.poisson(0.5 * np.exp(0.8 * size)), 1, 15)

    pool = np.searchsorted(np.array([p[1] for p in POOLS]), acv, side="right") - 1
    renewal_day = _renewal_day(start_day, clock.as_of_day)
    table = pa.table(
        {
            "id": ids("acc-", number, 5),
            "name": _company_names(rng, n),
            "acv": pa.array(acv),
            "currency": pa.array(np.full(n, "USD")),
            "closed_won_at": timestamp_array(won_ts),
            "contract_start": date_array(start_day),
            "renewal_date": date_array(renewal_day),
            "plan": pick(PLANS, plan),
            "seats": pa.array(seats.astype(np.int32)),
            "seat_limit": pa.array(seat_limit.astype(np.int32)),
            "timezone": pick(ZONES, zone),
            "csm_id": _assign_csms(pool),
            "technical_team": pa.array(technical),
            "needs_integration": pa.array(integration),
            "needs_migration": pa.array(migration),
            "custom_config": pa.array(custom),
            "needs_configuration": pa.array(configuration),
            "config_hours": pa.array(config_hours),
            "expected_users": pa.array(expected_users.astype(np.int64)),
            "stakeholders": pa.array(stakeholders.astype(np.int64)),
        }
    )
    return Accounts(
        n=n,
        acv=acv,
        size=size,
        zone=zone,
        won_day=won_day,
        won_ts=won_ts,
        start_day=start_day,
        renewal_day=renewal_day,
        archetype=archetype,
        stall_step=stall_step,
        seats=seats,
        seat_limit=seat_limit,
        plan=plan,
        pool=pool,
        technical=technical,
        integration=integration,
        expected_users=expected_users.astype(np.int64),
        table=table,
    )


def _renewal_day(start_day: Array, as_of_day: int) -> Array:
    """The next yearly anniversary of the contract start on or after the as-of day."""
    terms = np.maximum(1, np.ceil((as_of_day - start_day) / 365.0)).astype(np.int64)
    result: Array = start_day + 365 * terms
    return result


def _company_names(rng: np.random.Generator, n: int) -> pa.Array:
    first = pick(COMPANY_FIRST, rng.integers(0, len(COMPANY_FIRST), n))
    second = pick(COMPANY_SECOND, rng.integers(0, len(COMPANY_SECOND), n))
    suffix = pick(COMPANY_SUFFIX, rng.integers(0, len(COMPANY_SUFFIX), n))
    result: pa.Array = pc.binary_join_element_wise(first, second, suffix, " ")
    return result


def _pool_sizes(pool: Array) -> Array:
    """CSMs per pool: enough to keep each at about 85 % of its capacity."""
    counts = np.bincount(pool, minlength=len(POOLS))
    capacity = np.array([p[2] for p in POOLS])
    result: Array = np.where(counts > 0, np.ceil(counts / (0.85 * capacity)), 0).astype(np.int64)
    return result


def _assign_csms(pool: Array) -> pa.Array:
    """Each account's CSM: round robin over its pool's CSMs, in account order."""
    sizes = _pool_sizes(pool)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = np.argsort(pool, kind="stable")
    rank = np.empty_like(order)
    starts = np.concatenate([[0], np.cumsum(np.bincount(pool, minlength=len(POOLS)))[:-1]])
    rank[order] = np.arange(pool.shape[0]) - starts[pool[order]]
    csm = first[pool] + rank % np.maximum(sizes[pool], 1)
    return ids("csm-", csm + 1, 3)


def roster(rng: np.random.Generator, accounts: Accounts) -> pa.Table:
    """The CSM roster: CSMs per pool (sized by seed 003's ratios) and their managers."""
    sizes = _pool_sizes(accounts.pool)
    n_csm = int(sizes.sum())
    pool = np.repeat(np.arange(len(POOLS)), sizes)
    n_mgr = max(1, int(np.ceil(n_csm / _MANAGER_SPAN)))
    n_all = n_csm + n_mgr
    number = np.arange(1, n_all + 1)
    is_mgr = number > n_csm
    first = rng.integers(0, len(FIRST_NAMES), n_all)
    last = rng.integers(0, len(LAST_NAMES), n_all)
    name = pc.binary_join_element_wise(pick(FIRST_NAMES, first), pick(LAST_NAMES, last), " ")
    local = pc.binary_join_element_wise(
        pc.utf8_lower(pick(FIRST_NAMES, first)), pc.utf8_lower(pick(LAST_NAMES, last)), "."
    )
    email = pc.binary_join_element_wise(local, ids("", number, 3), "@acme-saas.example", "")
    cost_base = np.concatenate([np.array([p[3] for p in POOLS])[pool], np.full(n_mgr, 0.0)])
    cost = np.round(np.where(is_mgr, _MANAGER_COST, cost_base) * rng.uniform(0.9, 1.1, n_all), -2)
    capacity = np.concatenate([np.array([p[2] for p in POOLS])[pool], np.zeros(n_mgr)])
    pool_name = pick(
        (*(p[0] for p in POOLS), "management"),
        np.concatenate([pool, np.full(n_mgr, len(POOLS))]),
    )
    manager = n_csm + 1 + (np.arange(n_all) % n_mgr)
    manager_id = pc.if_else(pa.array(is_mgr), pa.scalar(None, pa.string()), ids("csm-", manager, 3))
    return pa.table(
        {
            "id": ids("csm-", number, 3),
            "name": name,
            "email": email,
            "pool": pool_name,
            "capacity": pa.array(capacity.astype(np.int32)),
            "loaded_cost": pa.array(cost),
            "role": pick(("csm", "manager"), is_mgr.astype(np.int64)),
            "manager_id": manager_id,
        }
    )
