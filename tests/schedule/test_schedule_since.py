"""A schedule for "recent" accounts (only touches due after a moment) keeps every such touch.

An incremental run asks the touchpoint schedule of the accounts it woke only for the touches
due after the previous run (``schedule_sql(..., recent=...)`` with ``$since``): their ended
stints are left out and their repeating touches start near ``since``. Every occurrence due
after ``since`` must be exactly the one the whole schedule has: same episode, due time,
cancellation. Checked over random cadences (hours, days, business days, weeks), offsets,
``for`` windows, anchors, time zones with daylight saving changes, stints and moments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schedule_fixture import book, schedule_project

from tierline.engine.touchpoint import schedule_sql
from tierline.policy.track import Action, Gate, Milestone, Offset, Touchpoint, Track

UNITS = ("hours", "days", "business_days", "weeks")
ZONES = ("America/New_York", "Europe/Berlin", "UTC", "Australia/Sydney")
BASE = datetime(2026, 1, 1)


def _track(cadences: list[tuple[str, int, int | None, int | None]]) -> Track:
    """A track: a one-off kickoff, then one repeating touch per cadence (some after it)."""
    touches = [
        Touchpoint("kickoff", Action(kind="task", to="csm", text="k"), due=Offset(3, "days"))
    ]
    for n, (unit, every, due, window) in enumerate(cadences):
        touches.append(
            Touchpoint(
                f"t{n}",
                Action(kind="task", to="csm", text=f"t{n}"),
                every=Offset(every, unit),  # type: ignore[arg-type]
                due=None if due is None else Offset(due, "days"),
                for_=None if window is None else Offset(window, "days"),
                after="kickoff" if n % 2 else "start",
            )
        )
    # a touch anchored on a repeating one: the anchor's first occurrence must stay
    touches.append(
        Touchpoint(
            "late", Action(kind="task", to="csm", text="l"), due=Offset(2, "days"), after="t0"
        )
    )
    return Track(
        id="tr",
        name="Track",
        level=1,
        driver="csm",
        ttfv_target_days=(1, 2),
        completion_target=(0.5, 0.9),
        milestones=(Milestone(id="m1", gate=Gate("first", "m1"), due_days=7, ttfv=True),),
        touchpoints=tuple(touches),
    )


cadence = st.tuples(
    st.sampled_from(UNITS),
    st.one_of(st.integers(1, 3), st.integers(1, 10)),
    st.one_of(st.none(), st.integers(0, 20)),
    st.one_of(st.none(), st.integers(1, 400)),
)
stint = st.tuples(
    st.integers(0, 60 * 24),  # start, hours after BASE
    st.one_of(st.none(), st.integers(1, 60 * 24)),  # length in hours (None: current)
    st.sampled_from(ZONES),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cadences=st.lists(cadence, min_size=1, max_size=4),
    stints=st.lists(stint, min_size=1, max_size=4),
    since_h=st.one_of(st.integers(0, 10 * 24), st.integers(0, 200 * 24)),
    gap_h=st.integers(0, 10 * 24),
)
# an hourly anchor whose first occurrence is a day before ``since``: its dependent is after it
@example(cadences=[("hours", 1, None, None)], stints=[(0, None, "UTC")], since_h=30, gap_h=72)
def test_recent_accounts_keep_every_touch_after_since(
    cadences: list[tuple[str, int, int | None, int | None]],
    stints: list[tuple[int, int | None, str]],
    since_h: int,
    gap_h: int,
) -> None:
    project = schedule_project((_track(cadences),), "America/New_York")
    since = BASE + timedelta(hours=since_h)
    as_of = since + timedelta(hours=gap_h)
    con = book([])  # no stints, no milestones reached, no events
    con.execute("CREATE TEMP TABLE recent AS SELECT 'a' AS account_id")
    # one account's stints in sequence on the same track (re-entered: episodes s<k>-<n>)
    at = BASE
    for start_h, length_h, zone in sorted(stints, key=lambda s: s[0]):
        begin = max(at, BASE + timedelta(hours=start_h))
        end = None if length_h is None else begin + timedelta(hours=length_h)
        con.execute(
            "INSERT INTO track_enrollments VALUES ('a', 'tr', 1, ?, ?, 'assignment', ?)",
            [begin, end, zone],
        )
        if end is None:
            break
        at = end
    columns = "account_id, rule, episode, occurrence, due_at, cancelled, is_current"
    whole = con.execute(
        f"SELECT {columns} FROM ({schedule_sql(project)}) WHERE due_at > CAST($since AS TIMESTAMP)",
        {"as_of": as_of, "since": since},
    ).fetchall()
    part = con.execute(
        f"SELECT {columns} FROM ({schedule_sql(project, recent='recent')}) "
        "WHERE due_at > CAST($since AS TIMESTAMP)",
        {"as_of": as_of, "since": since},
    ).fetchall()
    assert sorted(part) == sorted(whole)
