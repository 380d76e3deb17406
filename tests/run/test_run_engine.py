"""engine.run on a crafted book and the seed pack: exact actions and dates, idempotence, dry run."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from run_fixture import make_book, outbox_table, table_count

from tierline.engine.outbox import append_candidates, idempotency_key, outbox_rows
from tierline.engine.run import run
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.store import Store

# Runs at these times (UTC). 03-20 16:30 falls between the self-serve day-14 touches
# (16:00 UTC = 12:00 EDT) and the day-14 upgrade (17:00 UTC, 24 h × 14 after signing).
RUN_TIMES = (
    datetime(2026, 3, 3),
    datetime(2026, 3, 10),
    datetime(2026, 3, 20, 16, 30),
    datetime(2026, 3, 21),
    datetime(2026, 3, 26),
    datetime(2026, 4, 9),
    datetime(2026, 4, 21),
)

EXPECTED: list[tuple[str, str, str, str, datetime]] = [
    # g1's CSM, from the light_touch pool (band LIGHT_TOUCH), due at the stint start
    ("csm:light_touch", "g1", "2026-03-02T14:00:00", "csm_assignment", datetime(2026, 3, 2, 14)),
    # 24 hours after signing (absolute time)
    ("touchpoint:self_serve/welcome_email", "s1", "1", "email", datetime(2026, 3, 7, 17)),
    # 5 business days after Monday 09:00 EST = next Monday 09:00 local, now EDT = 13:00 UTC
    ("touchpoint:guided/kickoff", "g1", "1", "task", datetime(2026, 3, 9, 13)),
    # 3 calendar days after Friday 12:00 EST = Monday 12:00 EDT = 16:00 UTC
    (
        "touchpoint:self_serve/feature_highlights_email",
        "s1",
        "1",
        "email",
        datetime(2026, 3, 9, 16),
    ),
    ("touchpoint:self_serve/use_case_ideas_email", "s1", "1", "email", datetime(2026, 3, 13, 16)),
    # no milestone since 03-06 15:00: stalled 14 days later, episode = the stall's start date
    ("stall:guided", "g1", "2026-03-06", "task", datetime(2026, 3, 20, 15)),
    # first value and core workflow missing at day 14 → the outreach is not cancelled
    (
        "touchpoint:self_serve/missing_milestones_outreach",
        "s1",
        "1",
        "task",
        datetime(2026, 3, 20, 16),
    ),
    ("touchpoint:self_serve/orientation_call", "s1", "1", "task", datetime(2026, 3, 20, 16)),
    ("touchpoint:self_serve/success_stories_email", "s1", "1", "email", datetime(2026, 3, 20, 16)),
    # first value missed at day 14 → tech-touch, with a pooled CSM
    (
        "csm:self_service",
        "s1",
        "2026-03-20T17:00:00",
        "csm_assignment",
        datetime(2026, 3, 20, 17),
    ),
    ("upgrade:self_serve", "s1", "2026-03-20T17:00:00", "tier_change", datetime(2026, 3, 20, 17)),
    # biweekly check-ins counted from the kickoff's due time, in local time
    ("touchpoint:guided/checkin", "g1", "1", "task", datetime(2026, 3, 23, 13)),
    # tech-touch stint from 03-20 17:00 without progress (the carried milestone is older)
    ("stall:tech_touch", "s1", "2026-03-20", "task", datetime(2026, 4, 3, 17)),
    ("touchpoint:guided/checkin", "g1", "2", "task", datetime(2026, 4, 6, 13)),
    # first value on 03-25 16:00 ended the first stall; a second one starts there
    ("stall:guided", "g1", "2026-03-25", "task", datetime(2026, 4, 8, 16)),
    # tech-touch's own rule: first value missed at its day 30 → guided (no second CSM)
    ("upgrade:tech_touch", "s1", "2026-04-19T17:00:00", "tier_change", datetime(2026, 4, 19, 17)),
    # check-in 3 (04-20 13:00 UTC) is not due: the third distinct person (04-20 10:00)
    # completed the last milestone before it
]


@pytest.fixture
def book(tmp_path: Path) -> Project:
    return make_book(tmp_path / "pj")


def test_crafted_timeline_exact_actions(book: Project) -> None:
    added: list[int] = []
    with Store.open(book.store_path, book.fields) as store:
        for moment in RUN_TIMES:
            added.append(run(store, book, moment, now=moment).added)
        assert outbox_table(store) == EXPECTED
        assert added == [1, 3, 5, 2, 1, 3, 1]
        payloads = {(a.rule, a.account_id): a.payload for a in outbox_rows(store.con, "TRUE", [])}
        assert payloads[("csm:light_touch", "g1")]["csm_id"] == "csm-lt"
        assert payloads[("csm:light_touch", "g1")]["csm_name"] == "Lena Torres"
        assert payloads[("csm:self_service", "s1")]["csm_id"] == "csm-ss"
        upgrade = payloads[("upgrade:self_serve", "s1")]
        assert (upgrade["from_track"], upgrade["to_track"]) == ("self_serve", "tech_touch")
        assert payloads[("touchpoint:guided/kickoff", "g1")]["to"] == "csm"
        assert payloads[("stall:guided", "g1")]["template"] == "stall_outreach"
        rows = store.con.execute(
            "SELECT source, assigned_at, json_extract_string(explanation, '$.track') "
            "FROM assignments WHERE account_id = 's1' AND segmentation = 'onboarding_track' "
            "ORDER BY assigned_at"
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("rule", datetime(2026, 3, 10), None),  # s1 signed 03-06: the 03-10 run
            ("auto_upgrade", datetime(2026, 3, 20, 17), "tech_touch"),
            ("auto_upgrade", datetime(2026, 4, 19, 17), "guided"),
        ]


def test_keys_are_the_documented_hash(book: Project) -> None:
    with Store.open(book.store_path, book.fields) as store:
        run(store, book, datetime(2026, 3, 10))
        rows = store.con.execute(
            "SELECT idempotency_key, rule, account_id, episode, status, due_at FROM outbox"
        ).fetchall()
    assert rows
    cutoff = datetime(2026, 3, 3)  # 7 days (the seed pack's catch-up window) before as_of
    for key, rule, account, episode, status, due in rows:
        assert key == idempotency_key(rule, account, episode)
        assert len(key) == 32
        assert status == ("expired" if due < cutoff else "pending")
    assert {r[4] for r in rows} == {"pending", "expired"}


def test_run_twice_adds_nothing(book: Project) -> None:
    moment = datetime(2026, 4, 21)
    with Store.open(book.store_path, book.fields) as store:
        first = run(store, book, moment)
        assignments = table_count(store, "assignments")
        second = run(store, book, moment)
        assert first.added > 0
        assert second.added == 0
        assert second.by_kind == ()
        assert second.actions == ()
        assert table_count(store, "outbox") == first.added
        assert table_count(store, "assignments") == assignments
        assert not first.in_the_past and not second.in_the_past
        runs = store.con.execute("SELECT run_id, counts FROM runs ORDER BY started_at").fetchall()
        earlier = run(store, book, datetime(2026, 3, 10))
    assert earlier.added == 0
    assert earlier.later_decisions == moment  # the first run's assignments
    assert [r[0] for r in runs] == [first.run_id, second.run_id]
    assert json.loads(runs[0][1])["added"] == first.added
    assert json.loads(runs[1][1])["added"] == 0


def test_a_run_leaves_its_csm_picks_kept(book: Project) -> None:
    """The run folds the picks it appended into ``csm_picks``: the next run reads them kept."""
    with Store.open(book.store_path, book.fields) as store:
        run(store, book, datetime(2026, 4, 21))
        con = store.con
        picks = con.execute(
            "SELECT account_id, json_extract_string(payload, '$.csm_id') FROM outbox "
            "WHERE kind = 'csm_assignment' ORDER BY account_id"
        ).fetchall()
        kept = con.execute("SELECT account_id, csm_id FROM csm_picks ORDER BY account_id")
        assert picks and kept.fetchall() == picks
        top = con.execute("SELECT max(seq) FROM outbox").fetchall()
        assert con.execute("SELECT mark, folded FROM csm_picks_state").fetchall() == [
            (top[0][0], len(picks))
        ]


def test_dry_run_writes_nothing_and_matches_the_real_run(book: Project) -> None:
    moment = datetime(2026, 4, 21)
    with Store.open(book.store_path, book.fields) as store:
        dry = run(store, book, moment, dry_run=True, limit=None)
        for table in ("outbox", "runs", "assignments", "audit_log", "override_requests"):
            assert table_count(store, table) == 0, table
        real = run(store, book, moment, limit=None)
        assert dry.dry_run and not real.dry_run
        assert dry.added == real.added == len(real.actions) > 0
        assert [a.idempotency_key for a in dry.actions] == [a.idempotency_key for a in real.actions]
        assert [a.payload for a in dry.actions] == [a.payload for a in real.actions]
        assert dry.by_rule == real.by_rule
        again = run(store, book, moment, dry_run=True)
    assert again.added == 0


def test_report_counts_agree_with_the_outbox(book: Project) -> None:
    with Store.open(book.store_path, book.fields) as store:
        report = run(store, book, datetime(2026, 3, 21), limit=2)
        kinds = dict(
            store.con.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall()
        )
    assert dict(report.by_kind) == kinds
    assert sum(n for _, _, n in report.by_rule) == report.added
    assert len(report.actions) == 2
    assert report.upgrades == 1
    assert report.csm_assigned == 2
    assert dict(report.assigned)["onboarding_track"] == 2
    body = report.to_dict()
    assert body["added"] == report.added
    assert len(body["actions"]) == 2  # type: ignore[arg-type]


def test_negative_limit_is_refused(book: Project) -> None:
    with Store.open(book.store_path, book.fields) as store, pytest.raises(EngineError):
        run(store, book, datetime(2026, 3, 21), limit=-1)


def test_append_candidates_dedupes_within_a_batch(tmp_path: Path) -> None:
    with Store.open(tmp_path / "o.duckdb") as store:
        con = store.con
        con.execute(
            "CREATE TABLE cand AS SELECT * FROM (VALUES "
            "('r', 'a', '1', 'task', TIMESTAMP '2026-01-02', '{\"n\": 2}'), "
            "('r', 'a', '1', 'task', TIMESTAMP '2026-01-01', '{\"n\": 1}'), "
            "('r', 'a', NULL, 'task', TIMESTAMP '2026-01-01', '{}'), "
            "('r', 'b', '1', 'email', NULL, NULL)"
            ") AS v(rule, account_id, episode, kind, due_at, payload)"
        )
        when = datetime(2026, 1, 3)
        assert append_candidates(con, "cand", run_id="x", policy_version="v", created_at=when) == 2
        assert append_candidates(con, "cand", run_id="y", policy_version="v", created_at=when) == 0
        rows = outbox_rows(con)
        with pytest.raises(EngineError):
            append_candidates(con, "cand; DROP", run_id="z", policy_version="v", created_at=when)
    assert [(r.account_id, r.payload) for r in rows] == [("a", {"n": 1}), ("b", {})]
    assert rows[0].idempotency_key == idempotency_key("r", "a", "1")
