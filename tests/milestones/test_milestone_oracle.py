"""The set-based SQL agrees with the pure-Python reference on random tracks and events."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from milestone_fixture import SEG, T0

from tierline.engine.milestone import milestone_progress, progress_sql, progress_tables
from tierline.engine.milestone_state import (
    REACHED_TABLE,
    clear_milestone_state,
    milestone_state_fresh,
    refresh_milestone_state,
)
from tierline.engine.reference_milestone import RefEvent, evaluate_track, gate_reached_at
from tierline.policy.model import CORE_ACCOUNT_FIELDS, Project, Rule, RuleTable, Segmentation
from tierline.policy.track import Action, Gate, Milestone, StallRule, Track
from tierline.store import Store

EVENTS = ("login", "report_generated", "step_completed")
PEOPLE = (None, "p1", "p2", "p3", "p4")
PROPERTY_VALUES = (1, 2, 3, "3", "plan", True, 3.0, None)

gates = st.builds(
    Gate,
    kind=st.sampled_from(("first", "count", "distinct_users")),
    event=st.sampled_from(EVENTS),
    at_least=st.integers(1, 4),
    properties=st.one_of(
        st.just(()),
        st.tuples(st.tuples(st.just("step"), st.sampled_from(("3", "plan", "true", "2")))),
        st.tuples(
            st.tuples(st.just("step"), st.sampled_from(("3", "plan"))),
            st.tuples(st.just("role"), st.just("admin")),
        ),
    ),
)

properties = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "step": st.sampled_from(PROPERTY_VALUES),
            "role": st.sampled_from(("admin", "user")),
        },
    ).map(json.dumps),
)

events = st.lists(
    st.builds(
        RefEvent,
        person_id=st.sampled_from(PEOPLE),
        event=st.sampled_from(EVENTS),
        ts=st.integers(-48, 24 * 40).map(lambda h: T0 + timedelta(hours=h)),
        properties=properties,
    ),
    max_size=40,
)


@st.composite
def tracks(draw: st.DrawFn) -> Track:
    n = draw(st.integers(1, 5))
    ttfv = draw(st.integers(0, n))  # n: no ttfv milestone
    milestones = tuple(
        Milestone(f"m{i}", draw(gates), due_days=draw(st.integers(0, 30)), ttfv=i == ttfv)
        for i in range(n)
    )
    stall = draw(st.one_of(st.none(), st.integers(1, 20)))
    return track_of(milestones, stall)


def track_of(milestones: tuple[Milestone, ...], stall: int | None = None) -> Track:
    """A level-1 product track ``t`` with these milestones (and a stall rule of N days)."""
    return Track(
        id="t",
        name="T",
        level=1,
        driver="product",
        ttfv_target_days=(1, 2),
        completion_target=(0.5, 0.9),
        milestones=milestones,
        stall=None if stall is None else StallRule(stall, Action("task", "csm")),
    )


def project_of(track: Track) -> Project:
    seg = Segmentation(
        SEG, table=RuleTable(SEG, "first", (Rule("x", "X"),)), tracks=(("X", track.id),)
    )
    return Project(
        root=Path("."),
        name="oracle",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(seg,),
        version="v1",
        tracks=(track,),
    )


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "oracle.duckdb") as s:
        s.con.execute(
            "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at) "
            "VALUES ('a', 1, ?, 1, ?), ('b', 1, ?, 1, ?)",
            [T0, T0 - timedelta(days=9), T0 + timedelta(days=3), T0 - timedelta(days=9)],
        )
        s.con.execute(
            "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
            "assigned_at, source, recorded_at) VALUES ('a', ?, 'X', 'v', ?, 'rule', ?), "
            "('b', ?, 'X', 'v', ?, 'rule', ?)",
            [SEG, T0, T0, SEG, T0 + timedelta(days=3), T0],
        )
        yield s


def load(store: Store, account: str, evs: list[RefEvent], offset: int) -> None:
    if not evs:
        return
    store.con.executemany(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, properties) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            [f"{account}{offset + i}", account, e.person_id, e.event, e.ts, e.properties]
            for i, e in enumerate(evs)
        ],
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    track=tracks(),
    evs_a=events,
    evs_b=events,
    as_of_hours=st.integers(0, 24 * 45),
)
def test_sql_agrees_with_the_reference(
    store: Store, track: Track, evs_a: list[RefEvent], evs_b: list[RefEvent], as_of_hours: int
) -> None:
    store.con.execute("DELETE FROM events")
    load(store, "a", evs_a, 0)
    load(store, "b", evs_b, 1000)
    as_of = T0 + timedelta(hours=as_of_hours)
    milestone_progress(store.con, project_of(track), as_of)
    starts = {"a": T0, "b": T0 + timedelta(days=3)}
    for account, evs in (("a", evs_a), ("b", evs_b)):
        if as_of < starts[account]:
            continue  # not assigned yet as of then
        want = evaluate_track(track, starts[account], evs, as_of)
        got = store.con.execute(
            "SELECT milestone_id, due_at, reached_at, status, is_ttfv FROM milestone_progress "
            "WHERE account_id = ? ORDER BY ord",
            [account],
        ).fetchall()
        assert got == [(w.milestone_id, w.due_at, w.reached_at, w.status, w.is_ttfv) for w in want]
        row = store.con.execute(
            "SELECT ttfv_at, last_progress_at, all_done FROM track_progress WHERE account_id = ?",
            [account],
        ).fetchone()
        reached = [w.reached_at for w in want]
        ttfv = next((w.reached_at for w in want if w.is_ttfv), None)
        last = max([starts[account], *(r for r in reached if r is not None)])
        assert row == (ttfv, last, all(r is not None for r in reached))


def test_reference_gates_on_a_hand_made_timeline() -> None:
    t = [T0 + timedelta(hours=h) for h in range(6)]
    evs = [
        RefEvent("p1", "login", t[3]),
        RefEvent("p1", "login", t[0]),
        RefEvent("p2", "login", t[4]),
        RefEvent(None, "login", t[1]),
        RefEvent("p3", "login", t[5], '{"step": 3}'),
    ]
    assert gate_reached_at(Gate("first", "login"), evs, t[5]) == t[0]
    assert gate_reached_at(Gate("count", "login", at_least=3), evs, t[5]) == t[3]
    assert gate_reached_at(Gate("distinct_users", "login", at_least=3), evs, t[5]) == t[5]
    assert gate_reached_at(Gate("distinct_users", "login", at_least=3), evs, t[4]) is None
    step = Gate("first", "login", properties=(("step", "3"),))
    assert gate_reached_at(step, evs, t[5]) == t[5]
    assert gate_reached_at(Gate("first", "logout"), evs, t[5]) is None


# --- incremental milestone state == full computation ------------------------------------

R0 = T0 + timedelta(days=50)  # batches are received at R0, R0 + 1 h, … (after every ts)
PROGRESS_COLUMNS = (
    "account_id, milestone_id, ord, started_at, due_at, reached_at, status, is_ttfv, "
    "last_progress_at"
)


def load_batch(store: Store, account: str, evs: list[RefEvent], offset: int, at: object) -> None:
    """Insert events received at ``at`` (message ids ``account + offset + i``)."""
    if not evs:
        return
    store.con.executemany(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            [f"{account}{offset + i}", account, e.person_id, e.event, e.ts, e.properties, at]
            for i, e in enumerate(evs)
        ],
    )


def full_progress(store: Store, project: Project, as_of: object) -> list[tuple[object, ...]]:
    """The progress rows of the full scan over every event (the stints already built)."""
    return store.con.execute(
        f"SELECT {PROGRESS_COLUMNS} FROM ({progress_sql(project)}) ORDER BY account_id, ord",
        {"as_of": as_of},
    ).fetchall()


def kept_progress(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(
        f"SELECT {PROGRESS_COLUMNS} FROM milestone_progress ORDER BY account_id, ord"
    ).fetchall()


batch = st.tuples(events, events, st.integers(0, 24 * 45), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=tracks(), second=tracks(), batches=st.lists(batch, min_size=1, max_size=4))
def test_incremental_state_agrees_with_the_full_scan(
    store: Store,
    first: Track,
    second: Track,
    batches: list[tuple[list[RefEvent], list[RefEvent], int, bool]],
) -> None:
    """Batches of events (late ones too: any ts) arrive one by one; after each, a run at a
    random time (before the newest events too, as a backtest would) reads the kept state
    and agrees with the full scan and with the reference; the policy may switch tracks."""
    store.con.execute("DELETE FROM events")
    clear_milestone_state(store.con)
    seen: dict[str, list[RefEvent]] = {"a": [], "b": []}
    starts = {"a": T0, "b": T0 + timedelta(days=3)}
    for n, (evs_a, evs_b, as_of_hours, switch) in enumerate(batches):
        received = R0 + timedelta(hours=n)
        load_batch(store, "a", evs_a, 100 * n, received)
        load_batch(store, "b", evs_b, 100 * n + 50, received)
        seen["a"] += evs_a
        seen["b"] += evs_b
        track = second if switch else first
        project = project_of(track)
        as_of = T0 + timedelta(hours=as_of_hours)
        milestone_progress(store.con, project, as_of)
        assert milestone_state_fresh(store.con, project)
        assert kept_progress(store) == full_progress(store, project, as_of)
        for account in ("a", "b"):
            if as_of < starts[account]:
                continue
            want = evaluate_track(track, starts[account], seen[account], as_of)
            got = store.con.execute(
                "SELECT milestone_id, due_at, reached_at, status, is_ttfv FROM "
                "milestone_progress WHERE account_id = ? ORDER BY ord",
                [account],
            ).fetchall()
            assert got == [
                (w.milestone_id, w.due_at, w.reached_at, w.status, w.is_ttfv) for w in want
            ]


def reached_rows(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(f"SELECT * FROM {REACHED_TABLE} ORDER BY ALL").fetchall()


def test_state_is_rebuilt_when_events_change_behind_the_mark(store: Store) -> None:
    """Deleted events, or events stored with an old received_at, rebuild the kept state;
    events without received_at make runs scan in full."""
    store.con.execute("DELETE FROM events")
    clear_milestone_state(store.con)
    track = track_of(
        (
            Milestone("m0", Gate("count", "login", at_least=2), due_days=5, ttfv=True),
            Milestone("m1", Gate("distinct_users", "login", at_least=2), due_days=9),
        )
    )
    project = project_of(track)
    h = [T0 + timedelta(hours=k) for k in range(10)]
    load_batch(
        store,
        "a",
        [
            RefEvent("p1", "login", h[1]),
            RefEvent("p1", "login", h[3]),
            RefEvent("p2", "login", h[5]),
        ],
        0,
        R0,
    )
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store) == [
        ('["count","login",2,[]]', "a", h[3]),
        ('["distinct_users","login",2,[]]', "a", h[5]),
    ]
    # a late event received later, earlier than both reached times
    load_batch(store, "a", [RefEvent("p3", "login", h[2])], 10, R0 + timedelta(hours=1))
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store) == [
        ('["count","login",2,[]]', "a", h[2]),
        ('["distinct_users","login",2,[]]', "a", h[2]),
    ]
    store.con.execute("DELETE FROM events WHERE message_id = 'a10'")
    assert not milestone_state_fresh(store.con, project)
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store)[0] == ('["count","login",2,[]]', "a", h[3])
    # stored now, but with a received_at before the mark
    load_batch(store, "a", [RefEvent("p4", "login", h[0])], 20, R0 - timedelta(days=1))
    assert not milestone_state_fresh(store.con, project)
    milestone_progress(store.con, project, T0 + timedelta(days=1))
    assert reached_rows(store) == [
        ('["count","login",2,[]]', "a", h[1]),
        ('["distinct_users","login",2,[]]', "a", h[1]),
    ]
    assert kept_progress(store) == full_progress(store, project, T0 + timedelta(days=1))
    before = reached_rows(store)
    store.con.execute("DELETE FROM milestone_state")  # the mark lost: rebuilt, not doubled
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store) == before
    load_batch(store, "a", [RefEvent("p5", "login", h[0])], 30, None)
    assert not refresh_milestone_state(store.con, project)
    assert not progress_tables(store.con, project, T0 + timedelta(days=1))
    assert kept_progress(store) == full_progress(store, project, T0 + timedelta(days=1))


def test_a_late_event_of_a_person_already_kept_moves_their_first_time(store: Store) -> None:
    """distinct_users: a person seen before whose late event is earlier counts from then."""
    store.con.execute("DELETE FROM events")
    clear_milestone_state(store.con)
    gate = Gate("distinct_users", "login", at_least=2)
    track = track_of((Milestone("m0", gate, due_days=5, ttfv=True),))
    project = project_of(track)
    h = [T0 + timedelta(hours=k) for k in range(10)]
    load_batch(store, "a", [RefEvent("p1", "login", h[5]), RefEvent("p2", "login", h[3])], 0, R0)
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store) == [('["distinct_users","login",2,[]]', "a", h[5])]
    load_batch(store, "a", [RefEvent("p1", "login", h[1])], 10, R0 + timedelta(hours=1))
    assert refresh_milestone_state(store.con, project)
    assert reached_rows(store) == [('["distinct_users","login",2,[]]', "a", h[3])]
