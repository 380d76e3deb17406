"""Product events of the demo book, following an activation curve per account archetype.

Two parts, both vectorised:

- onboarding: five steps per account (``onboarding_step_viewed``, ``step_completed`` with
  ``{"step": n}`` and the step's milestone event); ``stall`` accounts stop at a step and keep
  viewing it;
- usage: an (accounts × days) matrix of expected daily events, shaped by the archetype's
  curve (fast / steady ramp, stall fade, decline after a peak, growth past the plan), drawn
  as Poisson counts and expanded to one row per event with a type drawn per archetype.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierline.demo.accounts import ARCHETYPES, Accounts
from tierline.demo.book import Array, ids, pick, timestamp_array
from tierline.demo.history import People, Revenue
from tierline.demo.localtime import DAY, Clock, business_seconds, weekday
from tierline.demo.vocab import FEATURES, PREMIUM_FEATURES

__all__ = ["EVENTS", "STEP_MILESTONES", "draw_events"]

EVENTS: tuple[str, ...] = (
    "signed_up",
    "login",
    "workspace_configured",
    "data_imported",
    "integration_connected",
    "workflow_completed",
    "report_generated",
    "report_reviewed",
    "teammate_invited",
    "premium_feature_viewed",
    "plan_limit_reached",
    "feature_used",
    "step_completed",
    "onboarding_step_viewed",
)
_E = {name: i for i, name in enumerate(EVENTS)}
STEPS = 5
# The milestone of each onboarding step (step 3 is the integration for accounts needing one).
STEP_MILESTONES: tuple[str, ...] = (
    "workspace_configured",
    "data_imported",
    "teammate_invited",
    "workflow_completed",
    "report_generated",
)

# Mean days between onboarding steps, by archetype (fast, steady, stall, decline, grow).
_STEP_GAP = np.array([0.8, 5.0, 3.0, 2.0, 1.0])
# Ramp-up time constant in days and the plateau level of daily activity, by archetype.
_RAMP = np.array([4.0, 20.0, 10.0, 6.0, 5.0])
_LEVEL = np.array([1.0, 0.75, 1.0, 1.0, 0.9])
_RATE = 0.23  # expected events per day per seat^0.65 at the plateau

# Usage event mix by archetype (rows) over the usage event types (columns).
_USAGE_TYPES = (
    "login",
    "feature_used",
    "workflow_completed",
    "report_generated",
    "report_reviewed",
    "data_imported",
    "teammate_invited",
    "premium_feature_viewed",
    "plan_limit_reached",
    "onboarding_step_viewed",
)
_MIX = np.array(
    [
        [0.28, 0.34, 0.13, 0.10, 0.07, 0.03, 0.01, 0.03, 0.00, 0.01],  # fast
        [0.32, 0.32, 0.12, 0.09, 0.06, 0.03, 0.01, 0.02, 0.00, 0.03],  # steady
        [0.46, 0.22, 0.04, 0.04, 0.02, 0.02, 0.00, 0.01, 0.00, 0.19],  # stall
        [0.40, 0.30, 0.10, 0.08, 0.05, 0.02, 0.00, 0.01, 0.00, 0.04],  # decline
        [0.25, 0.33, 0.13, 0.09, 0.06, 0.03, 0.03, 0.05, 0.03, 0.00],  # grow
    ]
)
_PROPS = (
    *(f'{{"step": {s}}}' for s in range(1, STEPS + 1)),
    *(f'{{"feature": "{f}"}}' for f in FEATURES),
    *(f'{{"feature": "{f}"}}' for f in PREMIUM_FEATURES),
    '{"limit": "seats"}',
)
_P_FEATURE = STEPS
_P_PREMIUM = STEPS + len(FEATURES)
_P_LIMIT = len(_PROPS) - 1


def _curve(accounts: Accounts, revenue: Revenue, days: Array, step_end: Array) -> Array:
    """Expected usage events per account (rows) and day (columns)."""
    arch = accounts.archetype[:, None]
    t = (days[None, :] - accounts.start_day[:, None]).astype(np.float64)
    alive = (t >= 0) & (days[None, :] < revenue.churn_day[:, None])
    level = _LEVEL[arch] * (1.0 - np.exp(-np.maximum(t, 0.0) / _RAMP[arch]))
    age = np.maximum(days[-1] - accounts.start_day, 1)[:, None]
    # stall: activity fades once stuck; decline: fades after a peak; grow: keeps growing.
    stuck = np.maximum(t - step_end[:, None], 0.0)
    level = np.where(arch == 2, level * (0.15 + 0.85 * np.exp(-stuck / 14.0)), level)
    peak = (age * 0.55).astype(np.float64)
    fade = np.exp(-np.maximum(t - peak, 0.0) / 45.0)
    level = np.where(arch == 3, level * (0.08 + 0.92 * fade), level)
    level = np.where(arch == 4, level * np.minimum(1.0 + t / 150.0, 3.0), level)
    weekend = np.where(weekday(days) >= 5, 0.12, 1.0)[None, :]
    rate = _RATE * accounts.seats.astype(np.float64) ** 0.65
    result: Array = np.where(alive, level * weekend * rate[:, None], 0.0)
    return result


def draw_events(
    rng: np.random.Generator,
    accounts: Accounts,
    people: People,
    revenue: Revenue,
    clock: Clock,
) -> pa.Table:
    """All product events of the book, ordered by time, with unique message ids."""
    arch = accounts.archetype
    n = accounts.n
    # Onboarding: step completion days (fractional) after the contract start.
    gaps = rng.exponential(_STEP_GAP[arch][:, None], (n, STEPS))
    step_day = accounts.start_day[:, None] + np.cumsum(gaps, axis=1)
    reached = np.ones((n, STEPS), dtype=bool)
    stall = arch == ARCHETYPES.index("stall")
    reached &= ~(
        stall[:, None] & (np.arange(1, STEPS + 1)[None, :] >= accounts.stall_step[:, None])
    )
    reached &= step_day < np.minimum(clock.as_of_day, revenue.churn_day)[:, None]
    last_done = np.where(reached, step_day, accounts.start_day[:, None]).max(axis=1)

    a_step, s_step = np.nonzero(reached)
    milestone = np.array([_E[m] for m in STEP_MILESTONES])[s_step]
    milestone = np.where(
        (s_step == 2) & accounts.integration[a_step], _E["integration_connected"], milestone
    )
    k = a_step.shape[0]
    parts: list[tuple[Array, Array, Array, Array, Array]] = []
    base_day = np.floor(step_day[a_step, s_step]).astype(np.int64)
    base_sec = business_seconds(rng, k)
    no_props = np.full(k, -1)
    for event, delta, prop in (
        (np.full(k, _E["onboarding_step_viewed"]), -240, s_step),
        (np.full(k, _E["step_completed"]), 0, s_step),
        (milestone, 60, no_props),
    ):
        parts.append((a_step, base_day, base_sec + delta, event, prop))

    # Stalled accounts keep looking at the step they are stuck on.
    stuck = stall & (accounts.start_day < clock.as_of_day)
    views = np.where(stuck, rng.poisson(5.0, n), 0)
    a_view = np.repeat(np.arange(n), views)
    v_day = last_done[a_view] + rng.exponential(12.0, a_view.shape[0])
    parts.append(
        (
            a_view,
            np.floor(v_day).astype(np.int64),
            business_seconds(rng, a_view.shape[0]),
            np.full(a_view.shape[0], _E["onboarding_step_viewed"]),
            accounts.stall_step[a_view] - 1,
        )
    )
    # Sign-up of the first person on the start day.
    started = np.nonzero(accounts.start_day < clock.as_of_day)[0]
    parts.append(
        (
            started,
            accounts.start_day[started],
            business_seconds(rng, started.shape[0]) - 600,
            np.full(started.shape[0], _E["signed_up"]),
            np.full(started.shape[0], -1),
        )
    )
    parts.append(_usage(rng, accounts, revenue, clock, last_done))

    account = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    second = np.concatenate([p[2] for p in parts])
    event = np.concatenate([p[3] for p in parts])
    prop = np.concatenate([p[4] for p in parts])
    return _assemble(rng, accounts, people, revenue, clock, account, day, second, event, prop)


def _usage(
    rng: np.random.Generator,
    accounts: Accounts,
    revenue: Revenue,
    clock: Clock,
    last_done: Array,
) -> tuple[Array, Array, Array, Array, Array]:
    days = np.arange(clock.first_day, clock.as_of_day, dtype=np.int64)
    expected = _curve(accounts, revenue, days, last_done - accounts.start_day)
    counts = rng.poisson(expected)
    row, col = np.nonzero(counts)
    reps = counts[row, col]
    account = np.repeat(row, reps)
    day = np.repeat(days[col], reps)
    total = account.shape[0]
    # One search in the archetypes' cumulative mixes laid end to end (row r shifted by r).
    width = len(_USAGE_TYPES)
    arch = accounts.archetype[account]
    stacked = (np.cumsum(_MIX, axis=1) + np.arange(len(ARCHETYPES))[:, None]).ravel()
    kind = np.searchsorted(stacked, rng.random(total) + arch, side="right") - arch * width
    kind = np.clip(kind, 0, width - 1)
    event = np.array([_E[t] for t in _USAGE_TYPES])[kind]
    feature = rng.integers(0, len(FEATURES), total)
    premium = rng.integers(0, len(PREMIUM_FEATURES), total)
    stall = accounts.archetype[account] == ARCHETYPES.index("stall")
    step = np.where(stall, accounts.stall_step[account] - 1, rng.integers(0, STEPS, total))
    prop = np.full(total, -1, dtype=np.int64)  # -1: no properties, else an index of _PROPS
    prop = np.where(event == _E["feature_used"], _P_FEATURE + feature, prop)
    prop = np.where(event == _E["premium_feature_viewed"], _P_PREMIUM + premium, prop)
    prop = np.where(event == _E["plan_limit_reached"], _P_LIMIT, prop)
    prop = np.where(event == _E["onboarding_step_viewed"], step, prop)
    return account, day, business_seconds(rng, total), event, prop


def _assemble(
    rng: np.random.Generator,
    accounts: Accounts,
    people: People,
    revenue: Revenue,
    clock: Clock,
    account: Array,
    day: Array,
    second: Array,
    event: Array,
    prop: Array,
) -> pa.Table:
    """Times, people, properties and ids of the event rows; drops what falls outside."""
    total = account.shape[0]
    second = np.clip(second, 0, DAY - 1)
    ts = clock.to_utc(accounts.zone[account], day, second)
    # The person: the account's first person for sign-up, else anyone already created.
    pick_rank = np.floor(rng.random(total) * people.count[account]).astype(np.int64)
    person = people.offset[account] + np.where(event == _E["signed_up"], 0, pick_rank)
    person = np.where(people.created_ts[person] > ts, people.offset[account], person)
    ts = np.maximum(ts, people.created_ts[person] + 1)
    churn_ts = np.where(revenue.churn_day < clock.as_of_day, revenue.churn_day * DAY, clock.cutoff)
    keep = ts < np.minimum(churn_ts[account], clock.cutoff)
    account, ts, event, prop, person = (
        account[keep],
        ts[keep],
        event[keep],
        prop[keep],
        person[keep],
    )
    order = np.lexsort((event, person, ts))
    account, ts, event, prop, person = (
        account[order],
        ts[order],
        event[order],
        prop[order],
        person[order],
    )
    total = account.shape[0]
    lag = np.where(
        rng.random(total) < 0.97, rng.exponential(2.0, total), rng.exponential(600.0, total)
    )
    received = ts + np.ceil(lag).astype(np.int64)
    valid = prop >= 0
    return pa.table(
        {
            "message_id": ids("evt-", np.arange(1, total + 1), 8),
            "account_id": accounts.table["id"].take(pa.array(account)),
            "person_id": people.table["id"].take(pa.array(person)),
            "event": pick(EVENTS, event),
            "ts": timestamp_array(ts),
            "properties": pick(_PROPS, np.where(valid, prop, 0), valid),
            "received_at": timestamp_array(received),
        }
    )
