"""Incremental runs equal full runs on random timelines (hypothesis).

A random book on the seed pack (accounts of every onboarding track, a CSM roster that may
be full, events that arrive late or on time, new account versions) is run at random times,
one store incrementally and one in full (see ``incremental_fixture``); after every run the
outbox, assignments, override requests and audit log must be identical. Events are stored
when they are received (before the first run at or after their ``received_at``), as an
importer would; some arrive days after they happened. After some arrivals the incremental
store folds them into its rollups and milestone state at once, as ``tierline import events``
does (:func:`tierline.engine.fold.fold_events`): where the folding happens must not change
what a run decides.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incremental_fixture import twin
from run_fixture import CSMS, LOADED, make_project

from tierline.engine.fold import fold_events
from tierline.store import Store

START = datetime(2026, 3, 2)
# (acv, technical_team, needs_integration, expected_users): self-serve, guided, high touch,
# enterprise with professional services
PROFILES = (
    (5000.0, False, False, 3),
    (40000.0, False, False, 40),
    (120000.0, True, True, 50),
    (200000.0, True, True, 400),
)
EVENTS = (
    "workspace_configured",
    "data_imported",
    "report_reviewed",
    "workflow_completed",
    "teammate_invited",
    "login",
)
ZONES = (None, "Europe/Berlin", "America/Los_Angeles")


@dataclass(frozen=True)
class Event:
    account: int
    person: int
    name: str
    at: timedelta  # after START
    delay: timedelta  # received after it happened


@dataclass(frozen=True)
class Change:
    account: int
    zone: str | None
    staffed: bool  # the book names a CSM from now on


accounts = st.lists(
    st.tuples(st.sampled_from(range(len(PROFILES))), st.integers(0, 20 * 24)),
    min_size=1,
    max_size=4,
)
events = st.lists(
    st.builds(
        Event,
        account=st.integers(0, 3),
        person=st.integers(0, 3),
        name=st.sampled_from(EVENTS),
        at=st.integers(-3 * 24, 70 * 24).map(lambda h: timedelta(hours=h)),
        delay=st.one_of(
            st.just(timedelta(minutes=5)),
            st.integers(1, 6 * 24).map(lambda h: timedelta(hours=h)),
        ),
    ),
    max_size=40,
)
runs = st.lists(
    st.tuples(
        # hours after the previous run (before it, for a run in the past)
        st.one_of(st.integers(0, 3 * 24), st.integers(0, 20 * 24)),
        st.sampled_from(("run", "run", "run", "run", "dry", "change", "past")),
        st.builds(Change, st.integers(0, 3), st.sampled_from(ZONES), st.booleans()),
        st.booleans(),  # fold the arrivals on the incremental store, as an import does
    ),
    min_size=2,
    max_size=10,
)


def _book(store: Store, profiles: list[tuple[int, int]], capacity: int) -> None:
    con = store.con
    for n, (profile, signed_h) in enumerate(profiles):
        acv, technical, integration, users = PROFILES[profile]
        con.execute(
            "INSERT INTO account_versions (id, name, acv, closed_won_at, technical_team, "
            "needs_integration, needs_migration, custom_config, expected_users, version, "
            "loaded_at, source) VALUES (?, ?, ?, ?, ?, ?, false, false, ?, 1, ?, 'test')",
            [
                f"a{n}",
                f"A{n}",
                acv,
                START + timedelta(hours=signed_h),
                technical,
                integration,
                users,
                LOADED,
            ],
        )
    for cid, name, email, pool, cap, role, manager in CSMS:
        con.execute(
            "INSERT INTO csms (id, name, email, pool, capacity, loaded_cost, role, manager_id) "
            "VALUES (?, ?, ?, ?, ?, 120000, ?, ?)",
            [cid, name, email, pool, capacity if cap is not None else None, role, manager],
        )


def _arrive(store: Store, todo: list[tuple[int, Event]], moment: datetime, count: int) -> None:
    for n, e in todo:
        if e.account >= count:
            continue
        store.con.execute(
            "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                f"e{n}",
                f"a{e.account}",
                f"p{e.account}-{e.person}",
                e.name,
                START + e.at,
                json.dumps({}),
                START + e.at + e.delay,
            ],
        )


def _change(store: Store, change: Change, moment: datetime) -> None:
    aid = f"a{change.account}"
    con = store.con
    cols = [str(r[0]) for r in con.execute("SELECT * FROM account_versions LIMIT 0").description]
    keep = [c for c in cols if c not in ("version", "loaded_at", "timezone", "csm_id")]
    con.execute(
        f"INSERT INTO account_versions ({', '.join(keep)}, timezone, csm_id, version, loaded_at) "
        f"SELECT {', '.join(keep)}, ?, ?, version + 1, ? FROM accounts WHERE id = ?",
        [change.zone, "csm-lt" if change.staffed else None, moment, aid],
    )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    profiles=accounts,
    happenings=events,
    schedule=runs,
    capacity=st.sampled_from((0, 1, 80)),
)
def test_incremental_runs_equal_full_runs(
    profiles: list[tuple[int, int]],
    happenings: list[Event],
    schedule: list[tuple[int, str, Change, bool]],
    capacity: int,
) -> None:
    with tempfile.TemporaryDirectory(prefix="tierline-inc-") as folder:
        root = Path(folder)
        project = make_project(root / "pj")
        with Store.open(project.store_path, project.fields) as store:
            _book(store, profiles, capacity)
        waiting = sorted(enumerate(happenings), key=lambda p: p[1].at + p[1].delay)
        with twin(project, root) as pair:
            moment = START
            for hours, what, change, fold in schedule:
                step = timedelta(hours=hours)
                moment = moment - step if what == "past" else moment + step
                due = [p for p in waiting if START + p[1].at + p[1].delay <= moment]
                waiting = [p for p in waiting if START + p[1].at + p[1].delay > moment]
                pair.both(lambda s, d=due, m=moment: _arrive(s, d, m, len(profiles)))
                if fold:
                    fold_events(pair.inc.con, project)
                if what == "change" and change.account < len(profiles):
                    pair.both(lambda s, c=change, m=moment: _change(s, c, m))
                if what == "dry":
                    pair.run(moment, dry_run=True)
                else:
                    pair.run(moment)
