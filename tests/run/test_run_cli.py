"""``tierline run``, ``status`` and ``plan`` through the CLI, on the crafted book."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_fixture import make_book, table_count
from typer.testing import CliRunner

from tierline.cli import main
from tierline.cli.app import app
from tierline.policy.load import load_project
from tierline.store import Store

runner = CliRunner()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "pj"
    make_book(root)
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


def _count(root: Path, table: str) -> int:
    project = load_project(root)
    with Store.open(project.store_path, project.fields) as store:
        return table_count(store, table)


def test_dry_run_then_run_then_nothing_new(project_dir: Path) -> None:
    pj = str(project_dir)
    dry = json.loads(_run("run", "--project", pj, "--as-of", "2026-03-10", "--dry-run", "--json"))
    assert dry["dry_run"] is True
    assert dry["added"] == 4
    assert dry["by_kind"] == {"csm_assignment": 1, "email": 2, "task": 1}
    # g1's CSM pick was due at its signing (03-02 14:00), before the 7-day window from
    # 03-10 23:59:59: recorded as expired, listed after the pending actions
    assert (dry["pending"], dry["expired"]) == (3, 1)
    assert dry["expired_by_kind"] == {"csm_assignment": 1}
    assert dry["catch_up_seconds"] == 7 * 86400
    assert dry["expired_before"] == "2026-03-03T23:59:59Z"
    assert [(a["rule"], a["status"]) for a in dry["actions"]] == [
        ("touchpoint:self_serve/welcome_email", "pending"),
        ("touchpoint:guided/kickoff", "pending"),
        ("touchpoint:self_serve/feature_highlights_email", "pending"),
        ("csm:light_touch", "expired"),
    ]
    assert _count(project_dir, "outbox") == 0
    assert _count(project_dir, "assignments") == 0
    text = _run("run", "--project", pj, "--as-of", "2026-03-10", "-n", "2")
    assert "as of 2026-03-10T23:59:59Z" in text
    assert "added 4 actions" in text
    flat = " ".join(text.split())
    assert "1 expired: due before 2026-03-03 23:59 UTC, outside the 7-day catch-up window" in flat
    assert "pending (to do now): 3" in text
    assert "actions by rule" in text
    assert "touchpoint:guided/kickoff" in text
    assert "first 2 actions" in text
    assert "… and 2 more" in text
    assert "CSMs assigned 1" in text
    assert _count(project_dir, "outbox") == 4
    again = _run("run", "--project", pj, "--as-of", "2026-03-10")
    assert "added 0 actions" in again
    assert "nothing new to do" in again
    assert _count(project_dir, "outbox") == 4


def test_backtest_prints_the_timeline(project_dir: Path) -> None:
    pj = str(project_dir)
    text = _run(
        "run", "--project", pj, "--backtest", "2026-03-06", "2026-03-10", "--step", "2d", "-n", "1"
    )
    assert "backtest 2026-03-06T23:59:59Z → 2026-03-10T23:59:59Z, 3 runs" in text
    assert "the real outbox is untouched" in text
    assert "4 actions in all" in text
    assert "2026-03-10 23:59" in text
    assert "… and 1 more" in text
    body = json.loads(
        _run("run", "--project", pj, "--backtest", "2026-03-06", "2026-03-10", "--json")
    )
    assert [s["added"] for s in body["steps"]] == [1, 1, 0, 2, 0]
    assert _count(project_dir, "outbox") == 0
    assert _count(project_dir, "runs") == 0


def test_run_usage_errors(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pj = str(project_dir)
    err = _fail(
        capsys,
        "run",
        "--project",
        pj,
        "--backtest",
        "2026-03-01",
        "2026-03-02",
        "--as-of",
        "2026-03-01",
    )
    assert "leave out --as-of and --dry-run" in err
    err = _fail(
        capsys, "run", "--project", pj, "--backtest", "2026-03-01", "2026-03-02", "--step", "1y"
    )
    assert "--step '1y'" in err
    err = _fail(capsys, "run", "--project", pj, "--step", "2d")
    assert "only apply to --backtest" in err
    err = _fail(capsys, "run", "--project", pj, "--backtest", "2026-03-05", "2026-03-01")
    assert "before it starts" in err


def test_status_and_plan(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pj = str(project_dir)
    for when in ("2026-03-10", "2026-03-20T16:30:00Z", "2026-03-21", "2026-04-08"):
        _run("run", "--project", pj, "--as-of", when)
    book = _run("status", "--project", pj, "--as-of", "2026-04-08")
    assert "accounts by track and state" in book
    assert "Guided Onboarding (CSM-Led)" in book
    assert "accounts on no track: 0" in book
    body = json.loads(_run("status", "--project", pj, "--as-of", "2026-04-08", "--json"))
    assert body["totals"] == {"complete": 0, "stuck": 2, "behind": 0, "on_track": 0}
    one = _run("status", "g1", "--project", pj, "--as-of", "2026-04-08")
    assert "Gamma Guided Inc (g1)" in one
    assert "track: Guided Onboarding (CSM-Led) (guided, level 3, csm); state: stuck" in one
    assert "TTFV: 23.1 days vs target 10–18 days: slower" in one
    assert "CSM: Lena Torres (csm-lt, from the outbox)" in one
    # local times in the account's zone, across the DST change of 03-08
    assert "stint start: 2026-03-02 09:00 EST" in one
    assert "2026-04-20 09:00 EDT" in one  # the next check-in
    # check-in 1 (due 03-23) was first seen by the 04-08 run, 16 days late: expired
    assert "open tasks (4)" in one
    assert "checkin" in one
    detail = json.loads(_run("status", "g1", "--project", pj, "--as-of", "2026-04-08", "--json"))
    assert [m["status"] for m in detail["milestones"]] == [
        "done_on_time",
        "done_on_time",
        "done_late",
        "stuck",
    ]
    plan = _run("plan", "g1", "--project", pj, "--as-of", "2026-04-08")
    assert plan.startswith("# Mutual success plan: Gamma Guided Inc")
    assert "| Kickoff | Lena Torres (CSM) |" in plan
    out = tmp_path / "plan.md"
    assert "wrote" in _run("plan", "g1", "--project", pj, "--as-of", "2026-04-08", "-o", str(out))
    assert out.read_text(encoding="utf-8").startswith("# Mutual success plan")
    err = _fail(capsys, "status", "gl", "--project", pj)
    assert "did you mean 'g1'" in err
