"""Backtests replay into a scratch store and equal a loop of runs on a copy of the book."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from run_fixture import make_book, outbox_table, table_count

from tierline.engine.backtest import backtest, parse_step, step_times
from tierline.engine.run import run
from tierline.errors import UsageError
from tierline.store import Store

START = datetime(2026, 3, 6, 23, 59, 59)
END = datetime(2026, 3, 22, 23, 59, 59)
DAY = timedelta(days=1)
STEP = 2 * DAY  # every other day keeps the test fast; the replay is the same at any step

Row = tuple[str, str, str, str, str, datetime | None, str]


def _rows(store: Store) -> list[Row]:
    rows = store.con.execute(
        "SELECT r.as_of, o.idempotency_key, o.rule, o.account_id, o.episode, o.due_at, "
        "CAST(o.payload AS VARCHAR) FROM outbox AS o JOIN runs AS r USING (run_id) "
        "ORDER BY o.seq"
    ).fetchall()
    return [
        (f"{a:%Y-%m-%d}", str(k), str(r), str(c), str(e), d, str(p)) for a, k, r, c, e, d, p in rows
    ]


def test_backtest_equals_a_loop_of_runs_on_a_copy(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    copy = tmp_path / "loop.duckdb"
    shutil.copy(project.store_path, copy)
    with Store.open(copy, project.fields) as loop:
        for moment in step_times(START, END, STEP):
            run(loop, project, moment, now=moment, backtest=True)
        expected = _rows(loop)
        expected_outbox = outbox_table(loop)
    kept = tmp_path / "kept.duckdb"
    with Store.open(project.store_path, project.fields) as store:
        report = backtest(store, project, START, END, step=STEP, scratch=kept)
        # the real store is untouched: no actions, no assignments, no runs
        for table in ("outbox", "runs", "assignments", "audit_log"):
            assert table_count(store, table) == 0, table
    assert len(report.steps) == 9
    assert [s.as_of for s in report.steps] == step_times(START, END, STEP)
    timeline = [
        (f"{s.as_of:%Y-%m-%d}", a.idempotency_key) for s in report.steps for a in s.report.actions
    ]
    assert timeline == [(r[0], r[1]) for r in expected]
    assert report.added == len(expected) == 11
    assert report.scratch == kept
    with Store.open(kept, project.fields) as replica:
        assert _rows(replica) == expected
        assert outbox_table(replica) == expected_outbox
        flags = replica.con.execute("SELECT DISTINCT backtest FROM runs").fetchall()
    assert flags == [(True,)]
    per_day = {f"{s.as_of:%m-%d}": s.report.added for s in report.steps if s.report.added}
    # the first run catches up g1's CSM; on 03-20 the day-14 upgrade (17:00 UTC) precedes
    # the run, yet the self-serve touches due at 16:00, before the stint ended, are emitted
    assert per_day == {"03-06": 1, "03-08": 1, "03-10": 2, "03-14": 1, "03-20": 6}
    assert report.by_kind() == {"email": 4, "csm_assignment": 2, "task": 4, "tier_change": 1}
    day14 = {
        (a.rule, a.episode, a.due_at)
        for s in report.steps
        for a in s.report.actions
        if a.account_id == "s1" and a.due_at == datetime(2026, 3, 20, 16, 0)
    }
    assert day14 == {
        ("touchpoint:self_serve/missing_milestones_outreach", "1", datetime(2026, 3, 20, 16, 0)),
        ("touchpoint:self_serve/orientation_call", "1", datetime(2026, 3, 20, 16, 0)),
        ("touchpoint:self_serve/success_stories_email", "1", datetime(2026, 3, 20, 16, 0)),
    }


Touch = tuple[str, str, str, str, str, datetime, str]


def _touches(store: Store) -> dict[Touch, str]:
    """The touchpoint rows of the outbox but their status → their status."""
    rows = store.con.execute(
        "SELECT idempotency_key, rule, account_id, episode, kind, due_at, "
        "CAST(payload AS VARCHAR), status FROM outbox WHERE rule LIKE 'touchpoint:%'"
    ).fetchall()
    return {
        (str(k), str(r), str(a), str(e), str(n), d, str(p)): str(s)
        for k, r, a, e, n, d, p, s in rows
    }


def test_a_daily_backtest_and_one_run_at_its_end_emit_the_same_touches(tmp_path: Path) -> None:
    # s1 is upgraded on 03-20 at 17:00, one hour after its day-14 touches fell due
    project = make_book(tmp_path / "pj")
    first, last = datetime(2026, 3, 12, 23, 59, 59), datetime(2026, 3, 22, 23, 59, 59)
    kept = tmp_path / "daily.duckdb"
    with Store.open(project.store_path, project.fields) as store:
        backtest(store, project, first, last, step=DAY, scratch=kept)
        run(store, project, last, now=last)
        once = _touches(store)
    with Store.open(kept, project.fields) as replica:
        daily = _touches(replica)
    # the same keys and rows; they differ only in status: the daily runs record each touch
    # on its day (within the catch-up window, pending), the one late run expires those due
    # more than 7 days before it (the first daily run, on 03-12, would expire what was due
    # before 03-05 23:59:59: no touch here)
    assert daily.keys() == once.keys()
    assert set(daily.values()) == {"pending"}
    cutoff = last - timedelta(days=7)
    assert once == {row: "expired" if row[5] < cutoff else "pending" for row in once}
    assert sorted(r[1] for r, s in once.items() if s == "expired") == [
        "touchpoint:guided/kickoff",
        "touchpoint:self_serve/feature_highlights_email",
        "touchpoint:self_serve/use_case_ideas_email",
        "touchpoint:self_serve/welcome_email",
    ]
    assert {r[1] for r in once if r[2] == "s1"} >= {
        "touchpoint:self_serve/missing_milestones_outreach",
        "touchpoint:self_serve/orientation_call",
    }


def test_backtest_scratch_is_removed_and_the_json_shape(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    with Store.open(project.store_path, project.fields) as store:
        report = backtest(
            store, project, datetime(2026, 3, 6), datetime(2026, 3, 10), step=2 * DAY, limit=1
        )
        assert table_count(store, "outbox") == 0
    assert report.scratch is None
    assert [s.as_of.day for s in report.steps] == [6, 8, 10]
    body = report.to_dict()
    assert body["step_seconds"] == 2 * 86400
    steps = body["steps"]
    assert isinstance(steps, list)
    assert [len(s["actions"]) for s in steps] == [1, 1, 1]
    assert [s["added"] for s in steps] == [1, 1, 2]
    assert not list(tmp_path.glob("**/backtest.duckdb"))


def test_keep_refuses_an_existing_file(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    taken = tmp_path / "taken.duckdb"
    taken.write_text("x")
    with Store.open(project.store_path, project.fields) as store, pytest.raises(UsageError):
        backtest(store, project, START, END, scratch=taken)


def test_steps_and_ranges() -> None:
    assert parse_step("1d") == DAY
    assert parse_step(" 12h ") == timedelta(hours=12)
    assert parse_step("2W") == timedelta(weeks=2)
    for bad in ("0d", "1m", "d", "-1d", ""):
        with pytest.raises(UsageError):
            parse_step(bad)
    assert step_times(START, START, DAY) == [START]
    assert len(step_times(START, START + 10 * DAY + timedelta(hours=1), DAY)) == 11
    with pytest.raises(UsageError):
        step_times(END, START, DAY)
    with pytest.raises(UsageError):
        step_times(START, START + timedelta(days=5000), DAY)
