"""explain_account: the path or rule with the deciding values, and overrides."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from engine_fixture import add_account, add_person, make_project, open_store

from tierline.engine.assign import assign_accounts
from tierline.engine.explain import explain_account
from tierline.engine.override import approve_override, request_override
from tierline.errors import EngineError
from tierline.store import Store

REASON = "Their ERP integration needs a dedicated engineer."


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path)
    add_account(s, "acct-100", 120000, needs_integration=True, expected_users=50)
    add_account(s, "acct-200", 3000, needs_configuration=True)
    add_person(s, "carol", "csm", "mona")
    add_person(s, "mona", "manager")
    assign_accounts(s, make_project(), datetime(2026, 2, 1))
    return s


def test_explain_tree_path_with_values(store: Store) -> None:
    found = explain_account(store, make_project(), "acct-100")
    assert found.name == "Account acct-100"
    track = found.segmentations[0]
    assert track.segmentation == "track"
    assert track.current is not None
    assert (track.current.outcome, track.current.source, track.current.policy_version) == (
        "HIGH_TOUCH",
        "rule",
        "v1",
    )
    assert track.current.assigned_at == datetime(2026, 2, 1)
    text = "\n".join(track.steps)
    assert "Q1: What is the customer's annual contract value (ACV)? → C (Above $75,000)" in text
    assert "acv = 120,000" in text
    assert "needs_integration = true" in text
    assert "Q4:" in text and "expected_users = 50" in text
    assert track.steps[-1] == "→ HIGH_TOUCH"
    tier = found.segmentations[1]
    assert tier.current is not None and tier.current.outcome == "HIGH_TOUCH"
    assert "rule high_touch decides (when acv >= 25000)" in tier.steps
    assert tier.overrides == ()
    payload = found.to_dict()
    assert payload["account_id"] == "acct-100"


def test_explain_unassigned_shows_reason(store: Store) -> None:
    found = explain_account(store, make_project(), "acct-200")
    tier = found.segmentations[1]
    assert tier.current is None
    assert tier.policy_now["reason"] == "no rule matches"
    assert "unassigned: no rule matches" in tier.steps


def test_explain_shows_override(store: Store) -> None:
    project = make_project()
    req = request_override(
        store, project, "acct-100", "ENTERPRISE_PS", REASON, "carol", segmentation="track"
    )
    approve_override(store, project, req.id, "mona", note="OK for this quarter.")
    track = explain_account(store, project, "acct-100").segmentations[0]
    assert track.current is not None
    assert (track.current.outcome, track.current.source) == ("ENTERPRISE_PS", "override")
    assert track.decided_by is not None and track.decided_by.outcome == "HIGH_TOUCH"
    assert track.steps[0].startswith("override #1: HIGH_TOUCH → ENTERPRISE_PS")
    assert "requested by carol, approved by mona" in track.steps[0]
    [override] = track.overrides
    assert (override.requested_by, override.decided_by, override.reason, override.note) == (
        "carol",
        "mona",
        REASON,
        "OK for this quarter.",
    )


def test_unknown_account_suggests_close_ids(store: Store) -> None:
    with pytest.raises(EngineError, match=r"unknown account 'acct-10'.*did you mean 'acct-100'"):
        explain_account(store, make_project(), "acct-10")
    with pytest.raises(EngineError, match=r"not in the store$"):
        explain_account(store, make_project(), "zzzzzzzzzzzz")
