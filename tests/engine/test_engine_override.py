"""Override requests and decisions: the rules, the audit log and override_stats."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from engine_fixture import add_account, add_person, make_project, open_store

from tierline.engine.assign import assign_accounts
from tierline.engine.override import (
    OverrideRequest,
    approve_override,
    list_overrides,
    override_stats,
    reject_override,
    request_override,
)
from tierline.errors import AuthError, EngineError, UsageError
from tierline.policy.model import Project
from tierline.store import Store

REASON = "Customer runs a complex SSO integration with their ERP."
T1 = datetime(2026, 2, 2, 9, 30)
T2 = datetime(2026, 2, 3, 10, 0)


@pytest.fixture
def project() -> Project:
    return make_project()


@pytest.fixture
def store(tmp_path: Path, project: Project) -> Store:
    s = open_store(tmp_path)
    add_account(s, "acme", 5000)
    add_account(s, "beta", 50000, technical_team=False)
    add_account(s, "gamma", 120000, needs_integration=True)
    add_person(s, "carol", "csm", "mona")
    add_person(s, "dave", "csm", "mona")
    add_person(s, "mona", "manager")
    add_person(s, "max", "manager")
    assign_accounts(s, project, datetime(2026, 2, 1))
    return s


def ask(
    store: Store,
    project: Project,
    account: str,
    to: str,
    reason: str,
    by: str,
    segmentation: str | None = "track",
    now: datetime | None = None,
) -> OverrideRequest:
    """request_override in the tree segmentation unless told otherwise."""
    return request_override(
        store, project, account, to, reason, by, segmentation=segmentation, now=now
    )


def _current(store: Store, account: str, seg: str) -> tuple[str, str]:
    row = store.con.execute(
        "SELECT outcome, source FROM current_assignments WHERE account_id = ? AND segmentation = ?",
        [account, seg],
    ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def test_request_and_approve_becomes_current(store: Store, project: Project) -> None:
    req = ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol", now=T1)
    assert (req.status, req.segmentation, req.from_outcome) == ("pending", "track", "SELF_SERVE")
    assert [r.id for r in list_overrides(store, pending=True)] == [req.id]
    done = approve_override(store, project, req.id, "mona", note="Agreed.", now=T2)
    assert (done.status, done.decided_by, done.decided_at) == ("approved", "mona", T2)
    assert _current(store, "acme", "track") == ("HIGH_TOUCH", "override")
    assert list_overrides(store, pending=True) == ()
    row = store.con.execute(
        "SELECT explanation, override_id FROM current_assignments WHERE account_id = 'acme' "
        "AND segmentation = 'track'"
    ).fetchone()
    assert row is not None
    explanation = json.loads(str(row[0]))
    assert explanation["approved_by"] == "mona"
    assert row[1] == req.id


def test_audit_log_rows(store: Store, project: Project) -> None:
    a = ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol", now=T1)
    approve_override(store, project, a.id, "mona", now=T2)
    b = ask(
        store, project, "beta", "SELF_SERVE", "They have done this twice before.", "dave", now=T1
    )
    reject_override(store, project, b.id, "max", note="Not enough evidence.", now=T2)
    rows = store.con.execute(
        'SELECT "at", actor, action, account_id, segmentation, "before", "after", reason '
        "FROM audit_log ORDER BY id"
    ).fetchall()
    assert rows == [
        (T1, "carol", "override_requested", "acme", "track", "SELF_SERVE", "HIGH_TOUCH", REASON),
        (T2, "mona", "override_approved", "acme", "track", "SELF_SERVE", "HIGH_TOUCH", REASON),
        (
            T1,
            "dave",
            "override_requested",
            "beta",
            "track",
            "GUIDED_ONBOARDING",
            "SELF_SERVE",
            "They have done this twice before.",
        ),
        (
            T2,
            "max",
            "override_rejected",
            "beta",
            "track",
            "GUIDED_ONBOARDING",
            "GUIDED_ONBOARDING",
            "They have done this twice before.",
        ),
    ]
    assert _current(store, "beta", "track") == ("GUIDED_ONBOARDING", "rule")


@pytest.mark.parametrize("reason", ["", "because", "Needs more hands on."[:15], "a" * 30])
def test_reason_must_be_a_sentence(store: Store, project: Project, reason: str) -> None:
    with pytest.raises(EngineError, match="at least a sentence"):
        ask(store, project, "acme", "HIGH_TOUCH", reason, "carol")
    assert list_overrides(store) == ()


def test_unknown_outcome_account_and_person(store: Store, project: Project) -> None:
    with pytest.raises(EngineError, match="did you mean 'HIGH_TOUCH'"):
        ask(store, project, "acme", "HIGH_TOUCHH", REASON, "carol", segmentation="track")
    with pytest.raises(EngineError, match="unknown outcome 'PLATINUM'"):
        ask(store, project, "acme", "PLATINUM", REASON, "carol", segmentation=None)
    only_tree = ask(store, project, "acme", "ENTERPRISE_PS", REASON, "carol", segmentation=None)
    assert only_tree.segmentation == "track"
    with pytest.raises(UsageError, match="several segmentations"):
        ask(store, project, "acme", "SELF_SERVE", REASON, "carol", segmentation=None)
    with pytest.raises(EngineError, match=r"unknown segmentation 'trak'.*did you mean 'track'"):
        ask(store, project, "acme", "SELF_SERVE", REASON, "carol", segmentation="trak")
    with pytest.raises(EngineError, match="did you mean 'acme'"):
        ask(store, project, "acmee", "HIGH_TOUCH", REASON, "carol")
    with pytest.raises(EngineError, match="not in the csms roster; did you mean 'carol'"):
        ask(store, project, "acme", "HIGH_TOUCH", REASON, "caro")
    with pytest.raises(EngineError, match="already SELF_SERVE"):
        ask(store, project, "acme", "SELF_SERVE", REASON, "carol", segmentation="track")


def test_one_pending_request_per_account(store: Store, project: Project) -> None:
    ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol")
    with pytest.raises(EngineError, match="already has pending override request #1"):
        ask(store, project, "acme", "ENTERPRISE_PS", REASON, "dave")


def test_only_managers_approve(store: Store, project: Project) -> None:
    req = ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol")
    with pytest.raises(AuthError, match="only a person with the manager role"):
        approve_override(store, project, req.id, "dave")
    with pytest.raises(EngineError, match="not in the csms roster"):
        approve_override(store, project, req.id, "nobody")
    assert list_overrides(store)[0].status == "pending"
    assert _current(store, "acme", "track") == ("SELF_SERVE", "rule")


def test_nobody_approves_their_own_request(store: Store, project: Project) -> None:
    req = ask(store, project, "acme", "HIGH_TOUCH", REASON, "mona")
    with pytest.raises(AuthError, match="nobody decides their own request"):
        approve_override(store, project, req.id, "mona")
    approve_override(store, project, req.id, "max")
    assert _current(store, "acme", "track") == ("HIGH_TOUCH", "override")


def test_a_decision_is_final(store: Store, project: Project) -> None:
    req = ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol")
    reject_override(store, project, req.id, "mona", now=T2)
    with pytest.raises(EngineError, match="already rejected by mona"):
        approve_override(store, project, req.id, "max")
    with pytest.raises(EngineError, match="already rejected"):
        reject_override(store, project, req.id, "max")
    with pytest.raises(EngineError, match="#99 does not exist"):
        approve_override(store, project, 99, "max")
    count = store.con.execute("SELECT count(*) FROM override_decisions").fetchone()
    assert count == (1,)


def test_override_stats_direction(store: Store, project: Project) -> None:
    up = ask(store, project, "acme", "HIGH_TOUCH", REASON, "carol")
    approve_override(store, project, up.id, "mona")
    down = ask(store, project, "gamma", "SELF_SERVE", REASON, "carol")
    approve_override(store, project, down.id, "mona")
    rejected = ask(store, project, "beta", "SELF_SERVE", REASON, "dave")
    reject_override(store, project, rejected.id, "max")
    stats = {(s.segmentation, s.outcome): s for s in override_stats(store, project)}
    self_serve = stats[("track", "SELF_SERVE")]
    assert (self_serve.accounts, self_serve.approved, self_serve.up, self_serve.down) == (
        1,
        1,
        1,
        0,
    )
    assert self_serve.override_rate == 1.0
    assert self_serve.rank == 0
    high = stats[("track", "HIGH_TOUCH")]
    assert (high.accounts, high.approved, high.up, high.down, high.rank) == (1, 1, 0, 1, 2)
    guided = stats[("track", "GUIDED_ONBOARDING")]
    assert (guided.requested, guided.rejected, guided.approved, guided.override_rate) == (
        1,
        1,
        0,
        0.0,
    )
    tier = stats[("tier", "TECH_TOUCH")]
    assert (tier.accounts, tier.requested, tier.override_rate) == (1, 0, 0.0)
    assert [s.outcome for s in override_stats(store) if s.segmentation == "track"] == [
        "SELF_SERVE",
        "GUIDED_ONBOARDING",
        "HIGH_TOUCH",
    ]
