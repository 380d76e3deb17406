"""Tickets, NPS responses and billing events of the demo book, driven by each archetype."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierline.demo.accounts import Accounts
from tierline.demo.book import Array, ids, pick, timestamp_array
from tierline.demo.history import People, Revenue
from tierline.demo.localtime import DAY, Clock, business_seconds
from tierline.demo.vocab import NPS_COMMENTS, TICKET_SUBJECTS

__all__ = ["draw_billing", "draw_nps", "draw_tickets"]

# Per archetype (fast, steady, stall, decline, grow).
_TICKETS_PER_MONTH = np.array([0.12, 0.15, 0.35, 0.30, 0.18])
_NPS_MEAN = np.array([9.1, 8.4, 6.6, 5.6, 9.3])
_FAILS_PER_MONTH = np.array([0.010, 0.015, 0.030, 0.045, 0.010])
_DOWNGRADE_P = np.array([0.01, 0.04, 0.20, 0.40, 0.00])
_PRIORITIES = ("low", "normal", "high", "urgent")
_PRIORITY_P = np.array([0.25, 0.50, 0.20, 0.05])


def _lifetime(accounts: Accounts, revenue: Revenue, clock: Clock) -> tuple[Array, Array]:
    """First and one-past-last day each account is a live customer (empty if not started)."""
    end = np.minimum(revenue.churn_day, clock.as_of_day)
    start = np.minimum(accounts.start_day, end)
    return start, end


def _spread(
    rng: np.random.Generator, count: Array, start: Array, end: Array
) -> tuple[Array, Array]:
    """``count[a]`` uniform days in ``[start[a], end[a])`` per account: (account, day)."""
    account = np.repeat(np.arange(count.shape[0]), count)
    span = (end - start)[account]
    day = start[account] + np.floor(rng.random(account.shape[0]) * span).astype(np.int64)
    return account, day


def _seconds(
    rng: np.random.Generator, accounts: Accounts, clock: Clock, account: Array, day: Array
) -> Array:
    ts = clock.to_utc(accounts.zone[account], day, business_seconds(rng, account.shape[0]))
    result: Array = np.minimum(np.maximum(ts, accounts.won_ts[account] + 1), clock.cutoff - 1)
    return result


def _person(rng: np.random.Generator, people: People, account: Array, ts: Array) -> Array:
    rank = np.floor(rng.random(account.shape[0]) * people.count[account]).astype(np.int64)
    person = people.offset[account] + rank
    result: Array = np.where(people.created_ts[person] > ts, people.offset[account], person)
    return result


def draw_tickets(
    rng: np.random.Generator,
    accounts: Accounts,
    people: People,
    revenue: Revenue,
    clock: Clock,
) -> pa.Table:
    """Support tickets: more for stalled, declining and technical accounts."""
    start, end = _lifetime(accounts, revenue, clock)
    months = (end - start) / 30.4
    rate = _TICKETS_PER_MONTH[accounts.archetype] * (1.0 + 0.5 * accounts.integration)
    rate = rate * np.sqrt(np.maximum(accounts.seats, 1) / 10.0)
    account, day = _spread(rng, rng.poisson(rate * months), start, end)
    opened = _seconds(rng, accounts, clock, account, day)
    order = np.lexsort((account, opened))
    account, opened = account[order], opened[order]
    n = int(account.shape[0])
    hours = rng.lognormal(np.log(18.0), 1.1, n)
    closed = opened + (hours * 3600).astype(np.int64)
    done = closed < clock.cutoff
    status = np.where(done, 0, np.where(rng.random(n) < 0.6, 1, 2))
    return pa.table(
        {
            "id": ids("tkt-", np.arange(1, n + 1), 6),
            "account_id": accounts.table["id"].take(pa.array(account)),
            "person_id": _person_ids(rng, people, account, opened),
            "opened_at": timestamp_array(opened),
            "closed_at": timestamp_array(closed, done),
            "priority": pick(_PRIORITIES, rng.choice(4, size=n, p=_PRIORITY_P)),
            "status": pick(("closed", "open", "pending"), status),
            "subject": pick(TICKET_SUBJECTS, rng.integers(0, len(TICKET_SUBJECTS), n)),
        }
    )


def _person_ids(rng: np.random.Generator, people: People, account: Array, ts: Array) -> pa.Array:
    result: pa.Array = people.table["id"].take(pa.array(_person(rng, people, account, ts)))
    return result


def draw_nps(
    rng: np.random.Generator,
    accounts: Accounts,
    people: People,
    revenue: Revenue,
    clock: Clock,
) -> pa.Table:
    """NPS responses: a survey each quarter after the first month, a few people answer."""
    start, end = _lifetime(accounts, revenue, clock)
    first = np.minimum(start + 30, end)
    surveys = np.maximum(0, (end - first) // 90 + (end > first))
    responders = 0.25 * np.minimum(people.count, 4)
    account, day = _spread(rng, rng.poisson(surveys * responders), first, end)
    ts = _seconds(rng, accounts, clock, account, day)
    order = np.lexsort((account, ts))
    account, ts = account[order], ts[order]
    n = int(account.shape[0])
    score = np.clip(np.round(rng.normal(_NPS_MEAN[accounts.archetype[account]], 1.6)), 0, 10)
    group = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
    sizes = np.array([len(g) for g in NPS_COMMENTS])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    comment = offsets[group] + np.floor(rng.random(n) * sizes[group]).astype(np.int64)
    flat = tuple(c for g in NPS_COMMENTS for c in g)
    return pa.table(
        {
            "id": ids("nps-", np.arange(1, n + 1), 6),
            "account_id": accounts.table["id"].take(pa.array(account)),
            "person_id": _person_ids(rng, people, account, ts),
            "score": pa.array(score.astype(np.int32)),
            "responded_at": timestamp_array(ts),
            "comment": pick(flat, comment, rng.random(n) < 0.4),
        }
    )


def draw_billing(
    rng: np.random.Generator, accounts: Accounts, revenue: Revenue, clock: Clock
) -> pa.Table:
    """Payment failures (most recovered), downgrade requests, cancellation inquiries, upgrades."""
    start, end = _lifetime(accounts, revenue, clock)
    arch = accounts.archetype
    monthly = np.round(accounts.acv / 12.0, 2)
    months = (end - start) / 30.4
    parts: list[tuple[Array, Array, Array, Array]] = []  # account, ts, kind, amount

    a_fail, d_fail = _spread(rng, rng.poisson(_FAILS_PER_MONTH[arch] * months), start, end)
    t_fail = _seconds(rng, accounts, clock, a_fail, d_fail)
    parts.append((a_fail, t_fail, np.zeros_like(a_fail), monthly[a_fail]))
    back = t_fail + (rng.uniform(1, 8, int(a_fail.shape[0])) * DAY).astype(np.int64)
    recovered = (rng.random(int(a_fail.shape[0])) < 0.75) & (back < clock.cutoff)
    a_rec = a_fail[recovered]
    parts.append((a_rec, back[recovered], np.ones_like(a_rec), monthly[a_rec]))

    late = np.maximum(start, end - 120)
    ask = (rng.random(accounts.n) < _DOWNGRADE_P[arch]) & (end - start > 60)
    a_down, d_down = _spread(rng, ask.astype(np.int64), late, end)
    t_down = _seconds(rng, accounts, clock, a_down, d_down)
    parts.append((a_down, t_down, np.full_like(a_down, 2), np.zeros(a_down.shape[0])))

    churned = revenue.churn_day < clock.as_of_day
    inquire = (churned & (rng.random(accounts.n) < 0.7)) | (
        ~churned & (arch == 3) & (rng.random(accounts.n) < 0.25)
    )
    before = np.maximum(start, end - 60)
    a_inq, d_inq = _spread(rng, (inquire & (end > start)).astype(np.int64), before, end)
    t_inq = _seconds(rng, accounts, clock, a_inq, d_inq)
    parts.append((a_inq, t_inq, np.full_like(a_inq, 3), np.zeros(a_inq.shape[0])))

    a_up = np.nonzero(revenue.expand_day < clock.as_of_day)[0]
    t_up = _seconds(rng, accounts, clock, a_up, revenue.expand_day[a_up])
    parts.append((a_up, t_up, np.full_like(a_up, 4), revenue.expand_amount[a_up]))

    account = np.concatenate([p[0] for p in parts])
    ts = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    amount = np.concatenate([p[3] for p in parts])
    order = np.lexsort((kind, account, ts))
    account, ts, kind, amount = account[order], ts[order], kind[order], amount[order]
    n = int(account.shape[0])
    kinds = (
        "payment_failed",
        "payment_recovered",
        "downgrade_request",
        "cancellation_inquiry",
        "upgrade",
    )
    return pa.table(
        {
            "id": ids("bil-", np.arange(1, n + 1), 6),
            "account_id": accounts.table["id"].take(pa.array(account)),
            "kind": pick(kinds, kind),
            "ts": timestamp_array(ts),
            "amount": pa.array(amount.astype(np.float64), mask=np.isin(kind, (2, 3))),
        }
    )
