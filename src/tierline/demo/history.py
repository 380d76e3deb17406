"""ARR history (24 months: renewals, churn, expansion) and the people of each account."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierline.demo.accounts import ARCHETYPES, Accounts
from tierline.demo.book import Array, date_array, ids, pick, timestamp_array
from tierline.demo.localtime import Clock, business_seconds
from tierline.demo.vocab import FIRST_NAMES, LAST_NAMES, TITLES

__all__ = ["MONTHS", "People", "Revenue", "draw_people", "draw_revenue"]

MONTHS = 24
# Per archetype (ARCHETYPES order): churn probability at renewal, renewal multiplier range.
_CHURN = np.array([0.04, 0.08, 0.30, 0.45, 0.02])
_RENEW_LOW = np.array([1.00, 0.95, 0.85, 0.60, 1.10])
_RENEW_HIGH = np.array([1.20, 1.10, 1.00, 0.95, 1.50])
_NEVER = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Revenue:
    """ARR history and the revenue moments other tables follow."""

    table: pa.Table
    churn_day: Array  # the day an account churned, or a day far in the future
    renewal_day: Array  # the day of its first renewal when it happened, else far future
    expand_day: Array  # the day of a mid-term expansion, else far future
    expand_amount: Array


@dataclass(frozen=True)
class People:
    """People of all accounts; ``offset[a]`` is the row of account ``a``'s first person."""

    table: pa.Table
    account: Array
    offset: Array
    count: Array
    created_day: Array
    created_ts: Array


def _day_to_month(day: Array) -> Array:
    result: Array = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return result


def _month_to_day(month: Array) -> Array:
    result: Array = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return result


def draw_revenue(rng: np.random.Generator, accounts: Accounts, clock: Clock) -> Revenue:
    """Monthly ARR per account for the 24 months up to the as-of month."""
    n = accounts.n
    arch = accounts.archetype
    anniversary = accounts.start_day + 365
    renewed = anniversary < clock.as_of_day
    churned = renewed & (rng.random(n) < _CHURN[arch])
    multiplier = rng.uniform(_RENEW_LOW[arch], _RENEW_HIGH[arch])
    grow = arch == ARCHETYPES.index("grow")
    expand_at = accounts.start_day + rng.integers(90, 330, n)
    expanded = grow & (expand_at < clock.as_of_day) & ~(churned & (expand_at >= anniversary))
    expansion = rng.uniform(0.15, 0.5, n)

    last_month = _day_to_month(np.array([clock.as_of_day]))[0]
    months = last_month - MONTHS + 1 + np.arange(MONTHS)
    start_month = _day_to_month(accounts.start_day)
    renew_month = np.where(renewed, _day_to_month(anniversary), _NEVER)
    expand_month = np.where(expanded, _day_to_month(expand_at), _NEVER)

    m = months[None, :]
    value = np.broadcast_to(accounts.acv[:, None], (n, MONTHS)).copy()
    value = np.where(m >= expand_month[:, None], value * (1.0 + expansion[:, None]), value)
    after_renewal = m >= renew_month[:, None]
    value = np.where(after_renewal, value * multiplier[:, None], value)
    value = np.where(after_renewal & churned[:, None], 0.0, value)
    active = m >= start_month[:, None]
    row, col = np.nonzero(active)
    table = pa.table(
        {
            "account_id": accounts.table["id"].take(pa.array(row)),
            "month": date_array(_month_to_day(months[col])),
            "arr": pa.array(np.round(value[row, col], 2)),
        }
    )
    return Revenue(
        table=table,
        churn_day=np.where(churned, anniversary, _NEVER),
        renewal_day=np.where(renewed, anniversary, _NEVER),
        expand_day=np.where(expanded, expand_at, _NEVER),
        expand_amount=np.where(expanded, np.round(accounts.acv * expansion, 2), 0.0),
    )


def _sigmoid(x: Array) -> Array:
    result: Array = 1.0 / (1.0 + np.exp(-x))
    return result


def draw_people(rng: np.random.Generator, accounts: Accounts, clock: Clock) -> People:
    """Contacts and users of each account, with titles (more executives in big accounts)."""
    lam = 0.8 + 1.3 * np.sqrt(accounts.expected_users)
    count = np.clip(1 + rng.poisson(lam), 1, 150).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    total = int(count.sum())
    account = np.repeat(np.arange(accounts.n), count)
    rank = np.arange(total) - offset[account]

    big = _sigmoid(accounts.size)[account]
    p_c = 0.04 + 0.05 * big
    p_vp = 0.06 + 0.09 * big
    p_dir = np.full(total, 0.10)
    p_mgr = np.full(total, 0.20)
    cum = np.cumsum(np.stack([p_c, p_vp, p_dir, p_mgr]), axis=0)
    level = (rng.random(total)[None, :] > cum).sum(axis=0)
    sizes = np.array([len(t) for t in TITLES])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    title_index = starts[level] + np.floor(rng.random(total) * sizes[level]).astype(np.int64)
    flat_titles = tuple(t for group in TITLES for t in group)

    first = rng.integers(0, len(FIRST_NAMES), total)
    last = rng.integers(0, len(LAST_NAMES), total)
    domain = pc.utf8_lower(pc.replace_substring_regex(accounts.table["name"], r"\s+\S+$", ""))
    domain = pc.replace_substring(domain, " ", "")
    local = pc.binary_join_element_wise(
        pc.utf8_lower(pick(FIRST_NAMES, first)), pc.utf8_lower(pick(LAST_NAMES, last)), "."
    )
    email = pc.binary_join_element_wise(
        local, ids("", rank + 1, 1), "@", domain.take(pa.array(account)), ".example", ""
    )

    zone = accounts.zone[account]
    later = np.where(accounts.archetype == ARCHETYPES.index("grow"), 120.0, 12.0)[account]
    day = accounts.start_day[account] + np.floor(rng.exponential(later)).astype(np.int64)
    day = np.minimum(day, clock.as_of_day - 1)
    ts = clock.to_utc(zone, day, business_seconds(rng, total))
    won = accounts.won_ts[account]
    ts = np.where(rank == 0, won, np.maximum(ts, won + 60))
    ts = np.minimum(ts, clock.cutoff - 1)
    day = np.where(rank == 0, accounts.won_day[account], day)

    table = pa.table(
        {
            "id": ids("per-", np.arange(1, total + 1), 6),
            "account_id": accounts.table["id"].take(pa.array(account)),
            "email": email,
            "title": pick(flat_titles, title_index),
            "created_at": timestamp_array(ts),
        }
    )
    return People(table, account, offset, count, day, ts)
