"""Account and book status, and the mutual success plan, on the crafted book after runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from run_fixture import make_book

from tierline.engine.plan import describe_touchpoint, success_plan
from tierline.engine.run import run
from tierline.engine.status import account_status, book_status, ttfv_verdict
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.store import Store

AS_OF = datetime(2026, 4, 9)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Store]]:
    project = make_book(tmp_path_factory.mktemp("status") / "pj")
    store = Store.open(project.store_path, project.fields)
    for moment in (
        datetime(2026, 3, 10),
        datetime(2026, 3, 20, 16, 30),
        datetime(2026, 3, 21),
        AS_OF,
    ):
        run(store, project, moment, now=moment)
    yield project, store
    store.close()


def test_account_status_of_a_stalled_guided_account(ran: tuple[Project, Store]) -> None:
    project, store = ran
    st = account_status(store, project, "g1", AS_OF)
    assert (st.track.id, st.source, st.started_at) == (
        "guided",
        "assignment",
        datetime(2026, 3, 2, 14),
    )
    assert st.timezone == "America/New_York"
    assert st.state == "stuck"
    assert st.stalled_since == datetime(2026, 4, 8, 16)
    assert [(m.id, m.due_at, m.reached_at, m.status) for m in st.milestones] == [
        (
            "workspace_configured",
            datetime(2026, 3, 7, 14),
            datetime(2026, 3, 4, 15),
            "done_on_time",
        ),
        ("core_data_imported", datetime(2026, 3, 12, 14), datetime(2026, 3, 6, 15), "done_on_time"),
        ("first_value", datetime(2026, 3, 20, 14), datetime(2026, 3, 25, 16), "done_late"),
        ("workflow_by_3_users", datetime(2026, 4, 1, 14), None, "stuck"),
    ]
    assert [m.ttfv for m in st.milestones] == [False, False, True, False]
    assert st.done == 3 and st.completion == pytest.approx(0.75)
    assert st.ttfv_days == pytest.approx(23 + 2 / 24)
    assert st.ttfv_verdict == "slower"
    assert [(t.touchpoint_id, t.occurrence, t.due_at) for t in st.next_touchpoints] == [
        ("checkin", 3, datetime(2026, 4, 20, 13))
    ]
    assert [(t.rule, t.episode) for t in st.open_tasks] == [
        ("touchpoint:guided/kickoff", "1"),
        ("stall:guided", "2026-03-06"),
        # check-in 1 (due 03-23 13:00) was first seen by the 04-09 run, more than 7 days
        # late: recorded as expired, not an open task
        ("touchpoint:guided/checkin", "2"),
        ("stall:guided", "2026-03-25"),
    ]
    assert st.csm is not None
    assert (st.csm.id, st.csm.name, st.csm.source, st.csm.manager_id) == (
        "csm-lt",
        "Lena Torres",
        "outbox",
        "mgr-1",
    )
    body = st.to_dict()
    assert body["ttfv_target_days"] == [10, 18]
    assert body["state"] == "stuck"


def test_account_status_earlier_shows_the_self_serve_stint(ran: tuple[Project, Store]) -> None:
    project, store = ran
    st = account_status(store, project, "s1", datetime(2026, 3, 15))
    assert st.track.id == "self_serve"
    assert st.state == "behind"
    assert st.ttfv_verdict == "overdue"
    assert {t.touchpoint_id for t in st.next_touchpoints} == {
        "success_stories_email",
        "orientation_call",
        "missing_milestones_outreach",
    }
    assert st.csm is None
    later = account_status(store, project, "s1", AS_OF)
    assert (later.track.id, later.source) == ("tech_touch", "auto_upgrade")
    assert later.onboarding_started_at == datetime(2026, 3, 6, 17)
    assert later.csm is not None and later.csm.id == "csm-ss"


def test_book_status_counts_by_track_and_state(ran: tuple[Project, Store]) -> None:
    project, store = ran
    book = book_status(store, project, AS_OF)
    lines = {line.track_id: line for line in book.tracks}
    assert [line.track_id for line in book.tracks] == [t.id for t in project.tracks]
    assert lines["guided"].states == {"complete": 0, "stuck": 1, "behind": 0, "on_track": 0}
    assert lines["tech_touch"].states["stuck"] == 1
    assert lines["self_serve"].total == 0
    assert lines["guided"].median_ttfv_days == pytest.approx(23 + 2 / 24)
    assert dict(book.totals) == {"complete": 0, "stuck": 2, "behind": 0, "on_track": 0}
    assert (book.enrolled, book.unenrolled) == (2, 0)
    assert book.open_tasks == 7
    assert book.expired_tasks == 1  # g1's check-in 1, past the catch-up window
    assert book.to_dict()["open_tasks"] == 7
    assert book.to_dict()["expired_tasks"] == 1
    assert book.to_dict()["totals"] == {"complete": 0, "stuck": 2, "behind": 0, "on_track": 0}


def test_status_errors(ran: tuple[Project, Store]) -> None:
    project, store = ran
    with pytest.raises(EngineError, match="did you mean 'g1'"):
        account_status(store, project, "g2", AS_OF)
    with pytest.raises(EngineError, match="on no onboarding track"):
        account_status(store, project, "g1", datetime(2026, 3, 5))


def test_plan_markdown(ran: tuple[Project, Store]) -> None:
    project, store = ran
    text = success_plan(store, project, "g1", AS_OF)
    assert text.startswith("# Mutual success plan: Gamma Guided Inc\n")
    for line in (
        "| Account | Gamma Guided Inc (`g1`) |",
        "| Track | Guided Onboarding (CSM-Led) (level 3, CSM-led) |",
        "| Track start | 2026-03-02 |",
        "- **CSM:** Lena Torres <lena@example.com>",
        "- **CS manager:** Mia Grant <mia@example.com>",
        "- **Customer contacts:** ada@gamma.example (VP Operations), bo@gamma.example "
        "(Analyst), cy@gamma.example (Engineer)",
        "- **Target:** first value 10–18 days after the track start, between 2026-03-12 and "
        "2026-03-20.",
        "- **Reached:** 2026-03-25, after 23.1 days (slower than the target).",
        "- **Completion target:** 75%–85%; now 75% (3 of 4 milestones).",
        "| 1 | Workspace configured | Customer | 2026-03-07 | done on time | 2026-03-04 |",
        "| 3 | First report reviewed (first value) | Customer | 2026-03-20 | done late | "
        "2026-03-25 |",
        "| 4 | Primary workflow completed by 3+ users | Customer | 2026-04-01 | stuck (no "
        "progress) | — |",
        "## Before the schedule is set",
    ):
        assert line in text, line
    kickoff = next(row for row in text.splitlines() if row.startswith("| Kickoff |"))
    assert "| Lena Torres (CSM) | 5 business days after the start | 2026-03-09 | — |" in kickoff
    checkin = next(row for row in text.splitlines() if row.startswith("| Checkin |"))
    assert "every 2 weeks after kickoff, until all milestones, for 90 days" in checkin
    assert "| 2026-03-23 | 2026-04-20 |" in checkin


def test_plan_of_a_product_led_track_has_no_csm_sections(ran: tuple[Project, Store]) -> None:
    project, store = ran
    text = success_plan(store, project, "s1", datetime(2026, 3, 15))
    assert "| Track | Self-Serve Onboarding (level 1, product-led) |" in text
    assert "- **CSM:** not assigned yet" in text
    assert "## Before the schedule is set" not in text
    assert "## Business goals" not in text
    outreach = next(row for row in text.splitlines() if row.startswith("| Missing milestones"))
    assert "unless workspace configured and first value and core workflow are done" in outreach


def test_words(ran: tuple[Project, Store]) -> None:
    assert ttfv_verdict(3.0, (7, 14), 3.0) == "faster"
    assert ttfv_verdict(14.0, (7, 14), 30.0) == "within"
    assert ttfv_verdict(None, (7, 14), 10.0) == "pending"
    guided = ran[0].track("guided")
    assert guided is not None
    assert describe_touchpoint(guided.touchpoints[0]) == "5 business days after the start"
