"""The assign, explain and override commands on the seed pack, with a real store."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from engine_fixture import add_account, add_person
from typer.testing import CliRunner

from tierline.cli import main
from tierline.cli.app import app
from tierline.policy.load import load_project
from tierline.policy.scaffold import init_project
from tierline.store import Store

runner = CliRunner()
REASON = "Needs a dedicated engineer for the ERP integration."


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "pj"
    init_project(root)
    project = load_project(root)
    with Store.open(project.store_path, project.fields) as store:
        add_account(store, "acme", 5000, technical_team=True)
        add_account(store, "beta", 50000, technical_team=None)
        add_account(store, "gamma", 120000, needs_integration=True, expected_users=50)
        add_account(store, "late", 5000, closed_won_at=datetime(2026, 6, 1))
        add_person(store, "carol", "csm", "mona")
        add_person(store, "mona", "manager")
    return root


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 1
    return capsys.readouterr().err


def test_assign_json_twice_and_table(project_dir: Path) -> None:
    pj = str(project_dir)
    first = json.loads(_run("assign", "--project", pj, "--as-of", "2026-02-01", "--json"))
    segs = {s["segmentation"]: s for s in first["segmentations"]}
    assert segs["onboarding_track"]["assigned"] == {
        "GUIDED_ONBOARDING": 1,
        "HIGH_TOUCH": 1,
        "SELF_SERVE": 1,
    }
    assert first["as_of"] == "2026-02-01T23:59:59Z"
    assert first["written"] is True
    second = json.loads(_run("assign", "--project", pj, "--as-of", "2026-02-01", "--json"))
    assert all(s["assigned_total"] == 0 for s in second["segmentations"])
    assert second["written"] is False
    text = _run("assign", "--project", pj, "--as-of", "2026-07-01")
    assert "onboarding_track: assigned 1" in text
    assert "late" in text


def test_preview_and_reassign_after_policy_change(project_dir: Path) -> None:
    pj = str(project_dir)
    _run("assign", "--project", pj, "--as-of", "2026-02-01")
    yaml_path = project_dir / "tierline.yaml"
    text = yaml_path.read_text()
    assert "acv > 150000" in text
    yaml_path.write_text(text.replace("acv > 150000", "acv > 100000"))
    preview = _run("assign", "--project", pj, "--as-of", "2026-02-01", "--preview")
    assert "onboarding_track: 1 would move" in preview
    assert "HIGH_TOUCH" in preview and "ENTERPRISE_PS" in preview and "gamma" in preview
    data = json.loads(
        _run("assign", "--project", pj, "--as-of", "2026-02-01", "--reassign", "--json")
    )
    track = next(s for s in data["segmentations"] if s["segmentation"] == "onboarding_track")
    assert track["moves"] == [
        {"from": "HIGH_TOUCH", "to": "ENTERPRISE_PS", "count": 1, "examples": ["gamma"]}
    ]
    explained = json.loads(_run("explain", "gamma", "--project", pj, "--json"))
    current = explained["segmentations"][0]["current"]
    assert (current["outcome"], current["source"]) == ("ENTERPRISE_PS", "reassign")


def test_explain_human_and_unknown(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pj = str(project_dir)
    _run("assign", "--project", pj, "--as-of", "2026-02-01")
    text = _run("explain", "gamma", "--project", pj)
    assert "onboarding_track: HIGH_TOUCH (source rule" in text
    assert "Q1: What is the customer's annual contract value (ACV)? → C (Above $75,000)" in text
    assert "acv = 120,000" in text
    assert "rule band_100k_plus decides" in text
    err = _fail(capsys, "explain", "gama", "--project", pj)
    assert "unknown account 'gama'" in err and "did you mean 'gamma'" in err
    assert "Traceback" not in err


def test_override_flow(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pj = str(project_dir)
    _run("assign", "--project", pj, "--as-of", "2026-02-01")
    err = _fail(
        capsys,
        "override",
        "request",
        "acme",
        "--to",
        "HIGH_TOUCH",
        "--reason",
        "too short",
        "--by",
        "carol",
        "-s",
        "onboarding_track",
        "--project",
        pj,
    )
    assert "at least a sentence" in err
    out = _run(
        "override",
        "request",
        "acme",
        "--to",
        "HIGH_TOUCH",
        "--reason",
        REASON,
        "--by",
        "carol",
        "-s",
        "onboarding_track",
        "--project",
        pj,
    )
    assert out.strip() == "override #1 pending: acme in onboarding_track, SELF_SERVE → HIGH_TOUCH"
    pending = json.loads(_run("override", "list", "--pending", "--json", "--project", pj))
    assert [r["id"] for r in pending] == [1]
    err = _fail(capsys, "override", "approve", "1", "--by", "carol", "--project", pj)
    assert "only a person with the manager role" in err
    out = _run("override", "approve", "1", "--by", "mona", "--note", "Fine.", "--project", pj)
    assert "override #1 approved" in out
    err = _fail(capsys, "override", "reject", "1", "--by", "mona", "--project", pj)
    assert "already approved by mona" in err
    assert json.loads(_run("override", "list", "--pending", "--json", "--project", pj)) == []
    listing = _run("override", "list", "--project", pj)
    assert "1 override requests" in listing and "approved" in listing
    explained = _run("explain", "acme", "--project", pj)
    assert "onboarding_track: HIGH_TOUCH (source override" in explained
    assert "requested by carol, approved by mona" in explained
    stats = json.loads(_run("override", "stats", "--json", "--project", pj))
    row = next(
        r for r in stats if r["segmentation"] == "onboarding_track" and r["outcome"] == "SELF_SERVE"
    )
    assert (row["approved"], row["up"], row["down"], row["override_rate"]) == (1, 1, 0, 1.0)
    assert "overrides per outcome" in _run("override", "stats", "--project", pj)
