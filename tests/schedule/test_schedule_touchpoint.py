"""Touchpoint schedules (engine/touchpoint.py) over crafted enrollments and milestone progress.

``track_enrollments`` and ``milestone_progress`` are created here with hand-written rows (the
contract of /work/notes/issue5.md), so every expected due time is exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from schedule_fixture import Reach, Stint, book, schedule_project, ts

from tierline.engine import touchpoint
from tierline.engine.touchpoint import (
    CANDIDATE_COLUMNS,
    CANDIDATES_TABLE,
    FULL_SCHEDULE_TABLE,
    MAX_OCCURRENCES,
    SCHEDULE_TABLE,
    UPCOMING_TABLE,
    candidate_sql,
    materialise_touchpoints,
    schedule_sql,
    touchpoint_depths,
    upcoming_sql,
)
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.policy.track import Action, Gate, Milestone, Offset, Touchpoint, Track

NY = "America/New_York"
BERLIN = "Europe/Berlin"


def _milestones(*ids: str) -> tuple[Milestone, ...]:
    return tuple(
        Milestone(id=m, gate=Gate("first", m), due_days=7 * (i + 1), ttfv=i == 0)
        for i, m in enumerate(ids)
    )


def _task(text: str) -> Action:
    return Action(kind="task", to="csm", text=text)


GUIDED = Track(
    id="guided",
    name="Guided",
    level=3,
    driver="csm",
    ttfv_target_days=(7, 14),
    completion_target=(0.65, 0.8),
    milestones=_milestones("m1", "m2", "m3"),
    touchpoints=(
        Touchpoint(
            "kickoff", _task("Kickoff call with draft success plan"), due=Offset(5, "business_days")
        ),
        Touchpoint(
            "plan",
            Action(kind="task", to="csm", template="implementation_plan"),
            due=Offset(5, "business_days"),
            after="kickoff",
        ),
        Touchpoint(
            "checkin", _task("Biweekly check-in"), every=Offset(2, "weeks"), until="all milestones"
        ),
        Touchpoint(
            "steering", _task("Steering"), every=Offset(2, "weeks"), for_=Offset(90, "days")
        ),
        Touchpoint("review", _task("Weekly review"), every=Offset(1, "weeks"), until="m2"),
        Touchpoint("warmup", _task("Warm-up"), every=Offset(1, "weeks"), for_=Offset(14, "days")),
        Touchpoint("pulse", _task("Pulse"), every=Offset(12, "hours"), for_=Offset(2, "days")),
        Touchpoint("daily", _task("Daily"), every=Offset(1, "days"), for_=Offset(365, "days")),
    ),
)

SELF_SERVE = Track(
    id="self_serve",
    name="Self-serve",
    level=1,
    driver="product",
    ttfv_target_days=(14, 21),
    completion_target=(0.85, 1.0),
    milestones=_milestones("workspace", "first_value", "invited"),
    touchpoints=(
        Touchpoint(
            "outreach",
            Action(kind="email", to="champion", template="missing_milestones"),
            due=Offset(14, "days"),
            unless=("workspace", "first_value"),
        ),
        Touchpoint(
            "orientation", _task("Optional orientation call"), due=Offset(2, "weeks"), optional=True
        ),
        Touchpoint(
            "nudge",
            Action(kind="email", to="champion", template="nudge"),
            due=Offset(3, "days"),
            after="outreach",
        ),
    ),
)


def project(*tracks: Track, timezone: str = BERLIN) -> Project:
    return schedule_project(tracks or (GUIDED, SELF_SERVE), timezone)


Row = tuple[str, str, str, str, datetime, str]


def candidates(con: duckdb.DuckDBPyConnection, proj: Project, as_of: str) -> list[Row]:
    materialise_touchpoints(con, proj, ts(as_of))
    cols = ", ".join(CANDIDATE_COLUMNS)
    rows = con.execute(
        f"SELECT {cols} FROM {CANDIDATES_TABLE} ORDER BY account_id, rule, due_at"
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], str(r[5])) for r in rows]


def due(rows: Sequence[Row], account: str, touchpoint: str) -> list[tuple[str, datetime]]:
    """(episode, due_at) of one account's touchpoint, in due order."""
    return [(r[2], r[4]) for r in rows if r[1] == account and r[0].rsplit("/", 1)[1] == touchpoint]


def upcoming(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, datetime]]:
    rows = con.execute(
        f"SELECT account_id, touchpoint_id, episode, due_at FROM {UPCOMING_TABLE}"
    ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


# --- one-off and chained touches, business days, time zones -----------------------------


def test_kickoff_five_business_days_after_a_thursday_signing_and_the_chained_plan() -> None:
    # Thu 2026-02-05 10:00 EST → kickoff Thu 2026-02-12 10:00 EST; the plan 5 business
    # days after the kickoff, Thu 2026-02-19 10:00 EST.
    con = book([("g1", "guided", "2026-02-05 15:00:00", None, NY)])
    rows = candidates(con, project(), "2026-02-20 00:00:00")
    assert due(rows, "g1", "kickoff") == [("1", ts("2026-02-12 15:00:00"))]
    assert due(rows, "g1", "plan") == [("1", ts("2026-02-19 15:00:00"))]
    kickoff = next(r for r in rows if r[0] == "touchpoint:guided/kickoff")
    assert kickoff[3] == "task"
    assert json.loads(kickoff[5]) == {
        "optional": False,
        "text": "Kickoff call with draft success plan",
        "to": "csm",
        "touchpoint": "kickoff",
        "track": "guided",
    }
    plan = next(r for r in rows if r[0] == "touchpoint:guided/plan")
    assert json.loads(plan[5])["template"] == "implementation_plan"


def test_business_days_across_the_us_dst_change_keep_local_time() -> None:
    # Thu 2026-03-05 10:00 EST; clocks change Sun 03-08 → Thu 03-12 10:00 EDT = 14:00 UTC.
    con = book([("g2", "guided", "2026-03-05 15:00:00", None, NY)])
    rows = candidates(con, project(), "2026-03-20 00:00:00")
    assert due(rows, "g2", "kickoff") == [("1", ts("2026-03-12 14:00:00"))]
    assert due(rows, "g2", "plan") == [("1", ts("2026-03-19 14:00:00"))]
    # biweekly from the start, local 10:00 kept: 03-19 10:00 EDT
    assert due(rows, "g2", "checkin") == [("1", ts("2026-03-19 14:00:00"))]


def test_europe_berlin_and_the_project_time_zone_fallback() -> None:
    # Thu 2026-03-26 09:00 CET; EU summer time from 03-29 → Thu 04-02 09:00 CEST = 07:00 UTC.
    con = book(
        [
            ("g3", "guided", "2026-03-26 08:00:00", None, BERLIN),
            ("g7", "guided", "2026-03-26 08:00:00", None, None),  # project zone: Berlin
        ]
    )
    rows = candidates(con, project(timezone=BERLIN), "2026-04-03 00:00:00")
    assert due(rows, "g3", "kickoff") == [("1", ts("2026-04-02 07:00:00"))]
    assert due(rows, "g7", "kickoff") == [("1", ts("2026-04-02 07:00:00"))]


# --- repeating touches: until, for, hours, the cap --------------------------------------


def test_biweekly_checkins_stop_once_all_milestones_are_done() -> None:
    # Mon 2026-01-05 09:00 EST. g4 completes on 02-10; g5 never reaches m3.
    done = [
        ("g4", "guided", "m1", "2026-01-10 12:00:00"),
        ("g4", "guided", "m2", "2026-01-20 10:00:00"),
        ("g4", "guided", "m3", "2026-02-10 12:00:00"),
        ("g5", "guided", "m1", "2026-01-10 12:00:00"),
        ("g5", "guided", "m2", "2026-01-20 10:00:00"),
    ]
    con = book(
        [
            ("g4", "guided", "2026-01-05 14:00:00", None, NY),
            ("g5", "guided", "2026-01-05 14:00:00", None, NY),
        ],
        done,
    )
    rows = candidates(con, project(), "2026-04-01 00:00:00")
    assert due(rows, "g4", "checkin") == [
        ("1", ts("2026-01-19 14:00:00")),
        ("2", ts("2026-02-02 14:00:00")),
    ]
    assert due(rows, "g5", "checkin") == [
        ("1", ts("2026-01-19 14:00:00")),
        ("2", ts("2026-02-02 14:00:00")),
        ("3", ts("2026-02-16 14:00:00")),
        ("4", ts("2026-03-02 14:00:00")),
        ("5", ts("2026-03-16 13:00:00")),  # 09:00 EDT
        ("6", ts("2026-03-30 13:00:00")),
    ]
    # `until: m2` (reached 01-20 10:00): weekly reviews on 01-12 and 01-19 only
    assert due(rows, "g4", "review") == [
        ("1", ts("2026-01-12 14:00:00")),
        ("2", ts("2026-01-19 14:00:00")),
    ]
    nxt = upcoming(con)
    assert ("g4", "checkin") not in nxt
    assert nxt[("g5", "checkin")] == ("7", ts("2026-04-13 13:00:00"))


def test_for_bounds_a_repetition_inclusively() -> None:
    # Thu 2026-02-05 10:00 EST: every 2 weeks for 90 days → days 14 … 84 (98 > 90)
    con = book([("g1", "guided", "2026-02-05 15:00:00", None, NY)])
    rows = candidates(con, project(), "2026-12-31 00:00:00")
    assert due(rows, "g1", "steering") == [
        ("1", ts("2026-02-19 15:00:00")),
        ("2", ts("2026-03-05 15:00:00")),
        ("3", ts("2026-03-19 14:00:00")),
        ("4", ts("2026-04-02 14:00:00")),
        ("5", ts("2026-04-16 14:00:00")),
        ("6", ts("2026-04-30 14:00:00")),
    ]
    # every week for 14 days: day 14 itself is inside the bound
    assert due(rows, "g1", "warmup") == [
        ("1", ts("2026-02-12 15:00:00")),
        ("2", ts("2026-02-19 15:00:00")),
    ]
    # every 12 hours for 2 days: absolute hours
    assert [d for _, d in due(rows, "g1", "pulse")] == [
        ts("2026-02-06 03:00:00"),
        ts("2026-02-06 15:00:00"),
        ts("2026-02-07 03:00:00"),
        ts("2026-02-07 15:00:00"),
    ]
    # every day for 365 days: capped at MAX_OCCURRENCES, then nothing more is scheduled
    daily = due(rows, "g1", "daily")
    assert len(daily) == MAX_OCCURRENCES == 60
    assert daily[-1] == ("60", ts("2026-04-06 14:00:00"))
    assert ("g1", "daily") not in upcoming(con)
    assert ("g1", "steering") not in upcoming(con)


# --- unless ---------------------------------------------------------------------------------

SELF_STINTS: list[Stint] = [
    (a, "self_serve", "2026-03-02 15:00:00", None, NY) for a in ("s1", "s2", "s3", "s4")
]
SELF_REACHED: list[Reach] = [
    ("s1", "self_serve", "workspace", "2026-03-05 12:00:00"),
    ("s1", "self_serve", "first_value", "2026-03-16 12:00:00"),  # day 14, before 14:00
    ("s2", "self_serve", "workspace", "2026-03-05 12:00:00"),
    ("s2", "self_serve", "first_value", "2026-03-17 12:00:00"),  # day 15
    ("s3", "self_serve", "workspace", "2026-03-05 12:00:00"),  # first value never
    ("s4", "self_serve", "workspace", "2026-03-05 12:00:00"),
    ("s4", "self_serve", "first_value", "2026-03-16 14:00:00"),  # exactly at the due time
]


def test_unless_cancels_the_day_14_outreach_only_when_reached_by_then() -> None:
    # Mon 2026-03-02 10:00 EST + 14 days → Mon 03-16 10:00 EDT = 14:00 UTC
    con = book(SELF_STINTS, SELF_REACHED)
    rows = candidates(con, project(), "2026-03-20 00:00:00")
    outreach = ts("2026-03-16 14:00:00")
    assert due(rows, "s1", "outreach") == []
    assert due(rows, "s2", "outreach") == [("1", outreach)]
    assert due(rows, "s3", "outreach") == [("1", outreach)]
    assert due(rows, "s4", "outreach") == []
    # the nudge counts from the outreach, so it goes with it
    assert due(rows, "s1", "nudge") == []
    assert due(rows, "s2", "nudge") == [("1", ts("2026-03-19 14:00:00"))]
    # the optional orientation call is scheduled for everyone, flagged optional
    assert [due(rows, a, "orientation") for a in ("s1", "s2")] == [[("1", outreach)]] * 2
    row = next(r for r in rows if r[0] == "touchpoint:self_serve/orientation")
    assert json.loads(row[5])["optional"] is True
    email = next(r for r in rows if r[0] == "touchpoint:self_serve/outreach")
    assert email[3] == "email"
    assert json.loads(email[5]) == {
        "optional": False,
        "template": "missing_milestones",
        "to": "champion",
        "touchpoint": "outreach",
        "track": "self_serve",
    }
    cancelled = con.execute(
        f"SELECT account_id FROM {SCHEDULE_TABLE} WHERE cancelled ORDER BY account_id"
    ).fetchall()
    assert cancelled == [("s1",), ("s4",)]


def test_milestones_reached_after_as_of_do_not_count() -> None:
    # As of 03-16 13:00, s2's first value (03-17) and s4's (03-16 14:00) lie in the future.
    con = book(SELF_STINTS, SELF_REACHED)
    candidates(con, project(), "2026-03-16 13:00:00")
    nxt = upcoming(con)
    outreach = ("1", ts("2026-03-16 14:00:00"))
    assert nxt[("s2", "outreach")] == outreach
    assert nxt[("s4", "outreach")] == outreach
    assert ("s1", "outreach") not in nxt  # reached at 12:00, before as_of and the due time
    assert nxt[("s2", "nudge")] == ("1", ts("2026-03-19 14:00:00"))


# --- as_of, episodes, stints --------------------------------------------------------------


def test_candidates_only_up_to_as_of() -> None:
    con = book([("g1", "guided", "2026-02-05 15:00:00", None, NY)])
    kickoff = ts("2026-02-12 15:00:00")
    before = candidates(con, project(), "2026-02-12 14:59:59")
    assert due(before, "g1", "kickoff") == []
    assert upcoming(con)[("g1", "kickoff")] == ("1", kickoff)
    assert upcoming(con)[("g1", "plan")] == ("1", ts("2026-02-19 15:00:00"))
    at = candidates(con, project(), "2026-02-12 15:00:00")
    assert due(at, "g1", "kickoff") == [("1", kickoff)]
    assert ("g1", "kickoff") not in upcoming(con)
    assert all(r[4] <= kickoff for r in at)


def test_episodes_are_deterministic_and_grow_monotonically() -> None:
    con = book(
        [
            ("g1", "guided", "2026-02-05 15:00:00", None, NY),
            ("g5", "guided", "2026-01-05 14:00:00", None, NY),
            *SELF_STINTS,
        ],
        SELF_REACHED,
    )
    proj = project()
    seen: dict[tuple[str, str, str], datetime] = {}
    previous: set[tuple[str, str, str]] = set()
    day = ts("2026-01-06 00:00:00")
    while day <= ts("2026-05-01 00:00:00"):
        rows = candidates(con, proj, day.isoformat(sep=" "))
        again = candidates(con, proj, day.isoformat(sep=" "))
        assert rows == again
        keys = {(r[0], r[1], r[2]) for r in rows}
        assert len(keys) == len(rows)
        assert previous <= keys
        for r in rows:
            assert seen.setdefault((r[0], r[1], r[2]), r[4]) == r[4]
            assert r[4] <= day
        previous = keys
        day += timedelta(days=9)
    # occurrences are numbered 1, 2, … in due order
    checkins = [e for (rule, acct, e) in previous if acct == "g5" and rule.endswith("/checkin")]
    assert sorted(checkins, key=int) == [str(n) for n in range(1, len(checkins) + 1)]


def test_ended_stints_keep_touches_due_before_they_ended_and_a_reentry_numbers_anew() -> None:
    con = book(
        [
            ("r1", "guided", "2026-01-05 14:00:00", "2026-01-20 00:00:00", NY),  # Mon 09:00
            ("r1", "self_serve", "2026-01-20 00:00:00", "2026-02-02 14:00:00", NY),
            ("r1", "guided", "2026-02-02 14:00:00", None, NY),  # Mon 09:00 EST
        ]
    )
    rows = candidates(con, project(), "2026-02-10 00:00:00")
    # self-serve's day-14 touches (02-03) fell after that stint ended: none
    assert {r[0].split("/")[0] for r in rows} == {"touchpoint:guided"}
    # the first guided stint keeps its episodes; the re-entry numbers anew
    assert due(rows, "r1", "kickoff") == [
        ("1", ts("2026-01-12 14:00:00")),
        ("s2-1", ts("2026-02-09 14:00:00")),
    ]
    assert due(rows, "r1", "plan") == [("1", ts("2026-01-19 14:00:00"))]
    assert due(rows, "r1", "review") == [
        ("1", ts("2026-01-12 14:00:00")),
        ("2", ts("2026-01-19 14:00:00")),
        ("s2-1", ts("2026-02-09 14:00:00")),
    ]
    daily = due(rows, "r1", "daily")
    first = [d for e, d in daily if not e.startswith("s2-")]
    assert len(first) == 14
    assert first[-1] == ts("2026-01-19 14:00:00")  # 01-20 14:00 is after the stint ended
    # only the current stint has next touchpoints
    nxt = upcoming(con)
    assert ("r1", "kickoff") not in nxt
    assert nxt[("r1", "plan")] == ("s2-1", ts("2026-02-16 14:00:00"))
    current = con.execute(
        f"SELECT DISTINCT substr(episode, 1, 3) FROM {SCHEDULE_TABLE} ORDER BY 1"
    ).fetchall()
    assert current == [("s2-",)]


def test_touches_due_before_an_upgrade_are_emitted_when_no_run_saw_them() -> None:
    # Self-serve from Mon 2026-03-02 16:00 UTC; the day-14 upgrade at 17:00 ends the stint
    # one hour after the day-14 touches fell due (16:00). The nudge (3 days later) is lost.
    stint = ("u1", "self_serve", "2026-03-02 16:00:00", None, "UTC")
    seen = candidates(book([stint]), project(), "2026-03-16 16:30:00")
    ended = book(
        [
            (*stint[:3], "2026-03-16 17:00:00", "UTC"),
            ("u1", "guided", "2026-03-16 17:00:00", None, "UTC"),
        ]
    )
    later = candidates(ended, project(), "2026-04-30 00:00:00")
    day14 = ts("2026-03-16 16:00:00")
    assert due(later, "u1", "outreach") == [("1", day14)]
    assert due(later, "u1", "orientation") == [("1", day14)]
    assert due(later, "u1", "nudge") == []
    # the same keys and rows a run while the stint was current produced
    assert [r for r in later if "self_serve" in r[0]] == seen
    assert ("u1", "nudge") not in upcoming(ended)


TRIAL = Track(
    id="trial",
    name="Trial",
    level=1,
    driver="product",
    ttfv_target_days=(1, 7),
    completion_target=(0.4, 0.6),
    milestones=(
        Milestone("setup", Gate("first", "setup_done", properties=(("plan", "pro"),)), 7),
        Milestone("team", Gate("distinct_users", "login", at_least=3), 14),
        Milestone("volume", Gate("count", "report", at_least=2), 21),
    ),
    touchpoints=(
        Touchpoint("check", _task("Check"), due=Offset(3, "days"), unless=("setup",)),
        Touchpoint("each_day", _task("Daily"), every=Offset(1, "days"), until="team"),
        Touchpoint("wrap", _task("Wrap"), every=Offset(1, "days"), until="all milestones"),
        Touchpoint("vol", _task("Volume"), every=Offset(1, "days"), unless=("volume",)),
    ),
)


def test_an_ended_stints_until_and_unless_read_its_tracks_gates_over_the_events() -> None:
    # Trial from Mon 2026-03-02 00:00 UTC, upgraded to guided on 03-10 00:00.
    con = book(
        [
            ("t1", "trial", "2026-03-02 00:00:00", "2026-03-10 00:00:00", "UTC"),
            ("t1", "guided", "2026-03-10 00:00:00", None, "UTC"),
            ("t2", "trial", "2026-03-02 00:00:00", "2026-03-10 00:00:00", "UTC"),
            ("t2", "guided", "2026-03-10 00:00:00", None, "UTC"),
        ]
    )
    events = [
        # setup: only the "pro" plan counts (reached 03-06, after the check fell due)
        ("t1", "setup_done", "p1", "2026-03-02 12:00:00", '{"plan": "free"}'),
        ("t1", "setup_done", "p1", "2026-03-06 00:00:00", '{"plan": "pro"}'),
        # team: the third distinct person, 03-06 12:00 (the third login is p2's)
        ("t1", "login", "p1", "2026-03-03 01:00:00", "{}"),
        ("t1", "login", "p1", "2026-03-03 05:00:00", "{}"),
        ("t1", "login", "p2", "2026-03-04 01:00:00", "{}"),
        ("t1", "login", None, "2026-03-04 02:00:00", "{}"),
        ("t1", "login", "p3", "2026-03-06 12:00:00", "{}"),
        # volume: the second report, 03-07 06:00
        ("t1", "report", "p1", "2026-03-04 06:00:00", "{}"),
        ("t1", "report", "p2", "2026-03-07 06:00:00", "{}"),
        # t2: set up in time; a second report only after as_of
        ("t2", "setup_done", "q1", "2026-03-03 12:00:00", '{"plan": "pro"}'),
        ("t2", "report", "q1", "2026-03-03 06:00:00", "{}"),
        ("t2", "report", "q1", "2026-03-20 06:00:00", "{}"),
    ]
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
    rows = candidates(con, project(GUIDED, TRIAL), "2026-03-12 00:00:00")

    def days(account: str, touchpoint: str) -> list[int]:
        return [d.day for _, d in due(rows, account, touchpoint)]

    assert due(rows, "t1", "check") == [("1", ts("2026-03-05 00:00:00"))]
    assert days("t1", "each_day") == [3, 4, 5, 6]  # until team (03-06 12:00)
    assert days("t1", "wrap") == [3, 4, 5, 6, 7]  # until all done (03-07 06:00)
    assert days("t1", "vol") == [3, 4, 5, 6, 7]  # cancelled from 03-08 on
    cancelled = con.execute(
        f"SELECT count(*) FROM {FULL_SCHEDULE_TABLE} WHERE account_id = 't1' "
        "AND touchpoint_id = 'vol' AND cancelled"
    ).fetchall()
    assert cancelled == [(2,)]  # 03-08, 03-09; nothing on or after the 03-10 upgrade
    assert due(rows, "t2", "check") == []
    assert days("t2", "each_day") == list(range(3, 10))  # nobody logged in: until the end
    assert days("t2", "vol") == list(range(3, 10))
    assert {r[0].split("/")[0] for r in rows if r[1] == "t1"} == {
        "touchpoint:trial",
        "touchpoint:guided",
    }


def test_one_statement_selects_match_the_materialised_tables() -> None:
    con = book([("g5", "guided", "2026-01-05 14:00:00", None, NY), *SELF_STINTS], SELF_REACHED)
    proj = project()
    params = {"as_of": ts("2026-03-20 00:00:00")}
    direct = sorted(con.execute(candidate_sql(proj), params).fetchall())
    later = sorted(con.execute(upcoming_sql(proj), params).fetchall())
    run = materialise_touchpoints(con, proj, params["as_of"])
    assert direct == sorted(con.execute(f"SELECT * FROM {CANDIDATES_TABLE}").fetchall())
    assert later == sorted(con.execute(f"SELECT * FROM {UPCOMING_TABLE}").fetchall())
    assert (run.candidates, run.upcoming) == (len(direct), len(later))
    assert run.scheduled >= run.candidates + run.upcoming
    columns = [d[0] for d in con.execute(candidate_sql(proj), params).description]
    assert tuple(columns) == CANDIDATE_COLUMNS


def test_no_tracks_and_no_enrollments_give_empty_relations() -> None:
    con = book([])
    run = materialise_touchpoints(con, project(), ts("2026-03-01 00:00:00"))
    assert (run.scheduled, run.candidates, run.upcoming) == (0, 0, 0)
    bare = schedule_project((), "UTC")
    assert con.execute(schedule_sql(bare), {"as_of": ts("2026-03-01")}).fetchall() == []


# --- errors --------------------------------------------------------------------------------


def test_missing_inputs_and_unknown_zones_are_engine_errors() -> None:
    with pytest.raises(EngineError, match="milestone progress first"):
        materialise_touchpoints(duckdb.connect(), project(), ts("2026-03-01 00:00:00"))
    con = book([("z1", "guided", "2026-02-05 15:00:00", None, "Mars/Olympus")])
    with pytest.raises(EngineError, match="Mars/Olympus"):
        materialise_touchpoints(con, project(), ts("2026-03-01 00:00:00"))


def test_anchor_depths_and_cycles() -> None:
    assert touchpoint_depths(GUIDED)["plan"] == 1
    assert touchpoint_depths(SELF_SERVE) == {"outreach": 0, "orientation": 0, "nudge": 1}
    loop = Track(
        id="loop",
        name="Loop",
        level=1,
        driver="csm",
        ttfv_target_days=(1, 2),
        completion_target=(0.5, 0.6),
        milestones=_milestones("a", "b", "c"),
        touchpoints=(
            Touchpoint("x", _task("x"), due=Offset(1, "days"), after="y"),
            Touchpoint("y", _task("y"), due=Offset(1, "days"), after="x"),
        ),
    )
    with pytest.raises(EngineError, match="cycle"):
        touchpoint_depths(loop)
    dangling = Track(
        id="dangling",
        name="Dangling",
        level=1,
        driver="csm",
        ttfv_target_days=(1, 2),
        completion_target=(0.5, 0.6),
        milestones=_milestones("a", "b", "c"),
        touchpoints=(Touchpoint("x", _task("x"), due=Offset(1, "days"), after="nowhere"),),
    )
    with pytest.raises(EngineError, match="nowhere"):
        schedule_sql(project(dangling))
    unknown = Track(
        id="unknown",
        name="Unknown",
        level=1,
        driver="csm",
        ttfv_target_days=(1, 2),
        completion_target=(0.5, 0.6),
        milestones=_milestones("a", "b", "c"),
        touchpoints=(Touchpoint("x", _task("x"), every=Offset(1, "weeks"), until="zz"),),
    )
    with pytest.raises(EngineError, match="'zz'"):
        schedule_sql(project(unknown))


# --- the seed pack's tracks --------------------------------------------------------------


def test_the_seed_pack_schedules_its_touchpoints() -> None:
    from tierline.policy.load import load_project

    seed = load_project(Path(__file__).resolve().parents[2] / "src" / "tierline" / "packs" / "seed")
    tracks = {t.id for t in seed.tracks}
    assert {"self_serve", "guided", "high_touch"} <= tracks
    # Thu 2026-03-05 10:00 EST for every track
    con = book([(f"{t}_a", t, "2026-03-05 15:00:00", None, NY) for t in sorted(tracks)])
    rows = candidates(con, seed, "2026-04-30 00:00:00")
    # guided: kickoff within 5 business days; biweekly check-ins from the kickoff
    assert due(rows, "guided_a", "kickoff") == [("1", ts("2026-03-12 14:00:00"))]
    assert due(rows, "guided_a", "checkin")[:2] == [
        ("1", ts("2026-03-26 14:00:00")),
        ("2", ts("2026-04-09 14:00:00")),
    ]
    # high-touch: the implementation plan 5 business days after the kickoff
    assert due(rows, "high_touch_a", "implementation_plan") == [("1", ts("2026-03-19 14:00:00"))]
    # self-serve: welcome email 24 hours after activation; day-14 outreach (nothing reached)
    assert due(rows, "self_serve_a", "welcome_email") == [("1", ts("2026-03-06 15:00:00"))]
    assert due(rows, "self_serve_a", "missing_milestones_outreach") == [
        ("1", ts("2026-03-19 14:00:00"))
    ]


def test_a_big_book_is_scheduled_in_batches_with_the_same_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stints = [("g5", "guided", "2026-01-05 14:00:00", None, NY), *SELF_STINTS]
    con = book(stints, SELF_REACHED)
    proj = project()
    as_of = ts("2026-03-20 00:00:00")
    whole = materialise_touchpoints(con, proj, as_of)
    every = sorted(con.execute(f"SELECT * FROM {FULL_SCHEDULE_TABLE}").fetchall())
    picked = sorted(con.execute(f"SELECT * FROM {CANDIDATES_TABLE}").fetchall())
    monkeypatch.setattr(touchpoint, "SCHEDULE_BATCH", 1)  # a batch per (hash of an) account
    batched = materialise_touchpoints(con, proj, as_of)
    assert sorted(con.execute(f"SELECT * FROM {FULL_SCHEDULE_TABLE}").fetchall()) == every
    assert sorted(con.execute(f"SELECT * FROM {CANDIDATES_TABLE}").fetchall()) == picked
    assert batched == whole and whole.candidates > 0
