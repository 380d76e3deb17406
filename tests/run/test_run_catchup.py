"""The catch-up window: overdue actions older than it are recorded expired, not pending."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from run_fixture import make_book, make_project
from typer.testing import CliRunner

from tierline.cli import main
from tierline.cli.app import app
from tierline.engine.outbox import append_candidates, expiry_cutoff, outbox_rows
from tierline.engine.run import RunReport, run
from tierline.engine.status import book_status
from tierline.errors import EngineError, PolicyError
from tierline.policy.catchup import format_catch_up, parse_catch_up
from tierline.policy.load import load_project
from tierline.policy.model import DEFAULT_CATCH_UP, Project
from tierline.store import Store

LATE = datetime(2026, 4, 21)  # one late run: every action of the crafted book is due by then
KICKOFF_DUE = datetime(2026, 3, 9, 13)  # g1's kickoff (5 business days after signing)
WEEK = timedelta(days=7)

Row = tuple[str, str, str, str, str, datetime | None, str]


def _rows(store: Store) -> dict[Row, str]:
    """Every outbox row but its status (key, rule, account, episode, kind, due, payload) →
    its status."""
    rows = store.con.execute(
        "SELECT idempotency_key, rule, account_id, episode, kind, due_at, "
        "CAST(payload AS VARCHAR), status FROM outbox"
    ).fetchall()
    return {
        (str(k), str(r), str(a), str(e), str(n), d, str(p)): str(s)
        for k, r, a, e, n, d, p, s in rows
    }


def _status_of(store: Store, rule: str, account: str) -> str:
    row = store.con.execute(
        "SELECT status FROM outbox WHERE rule = ? AND account_id = ?", [rule, account]
    ).fetchone()
    assert row is not None, (rule, account)
    return str(row[0])


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_book(tmp_path_factory.mktemp("catchup") / "pj")


def _copy(project: Project, target: Path) -> Path:
    shutil.copy(project.store_path, target)
    return target


# --- the window itself ---------------------------------------------------------------------


def test_parse_and_format_the_window() -> None:
    assert parse_catch_up("7 days") == WEEK
    assert parse_catch_up("1 day") == timedelta(days=1)
    assert parse_catch_up(" 48 hours ") == timedelta(hours=48)
    assert parse_catch_up("2 weeks") == 2 * WEEK
    assert parse_catch_up("7d") == parse_catch_up("7D") == WEEK
    assert parse_catch_up("12h") == timedelta(hours=12)
    assert parse_catch_up("0d") == parse_catch_up(0) == timedelta(0)
    assert parse_catch_up("all") is None
    assert parse_catch_up("ALL") is None
    for bad in ("soon", "7", "-1d", "7 months", "", 7, 7.5, True, None):
        with pytest.raises(ValueError, match="catch-up window"):
            parse_catch_up(bad)
    assert format_catch_up(WEEK) == "7-day"
    assert format_catch_up(timedelta(0)) == "0-day"
    assert format_catch_up(timedelta(hours=36)) == "36-hour"
    assert format_catch_up(None) == "unlimited"
    assert expiry_cutoff(LATE, WEEK) == datetime(2026, 4, 14)
    assert expiry_cutoff(LATE, None) is None


def _with_run_section(root: Path, section: str | None) -> Path:
    path = root / "tierline.yaml"
    text = path.read_text(encoding="utf-8")
    cut = text.find("\nrun:")
    head = text if cut < 0 else text[:cut]
    path.write_text(head + ("" if section is None else "\n" + section), encoding="utf-8")
    return path


def test_the_seed_pack_declares_seven_days_and_the_loader_reads_run(tmp_path: Path) -> None:
    root = tmp_path / "pj"
    project = make_project(root)
    assert project.run_settings.catch_up == DEFAULT_CATCH_UP == WEEK
    text = (root / "tierline.yaml").read_text(encoding="utf-8")
    assert "\nrun:\n  catch_up: 7 days" in text
    _with_run_section(root, None)
    assert load_project(root).run_settings.catch_up == WEEK  # absent: the default
    _with_run_section(root, "run:\n  catch_up: all\n")
    assert load_project(root).run_settings.catch_up is None
    _with_run_section(root, "run:\n  catch_up: 36 hours\n")
    assert load_project(root).run_settings.catch_up == timedelta(hours=36)
    _with_run_section(root, "run: {catch_up: 0}\n")
    assert load_project(root).run_settings.catch_up == timedelta(0)


def test_a_bad_window_is_reported_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "pj"
    make_project(root)
    path = _with_run_section(root, "run:\n  catch_up: 7 dayz\n  catchup: 1d\n")
    line = path.read_text(encoding="utf-8").splitlines().index("  catch_up: 7 dayz") + 1
    with pytest.raises(PolicyError) as err:
        load_project(root)
    text = str(err.value)
    assert f"tierline.yaml:{line}:13: error: catch-up window '7 dayz'" in text
    assert f"tierline.yaml:{line + 1}:3: error: unknown key 'catchup'" in text
    assert "did you mean 'catch_up'?" in text


# --- the outbox ----------------------------------------------------------------------------


def test_expiry_boundary_in_the_outbox(tmp_path: Path) -> None:
    cutoff = datetime(2026, 3, 8, 23, 59, 59)
    with Store.open(tmp_path / "o.duckdb") as store:
        con = store.con
        con.execute(
            "CREATE TABLE cand AS SELECT * FROM (VALUES "
            "('r', 'before', '1', 'task', TIMESTAMP '2026-03-08 23:59:58.999999', '{}'), "
            "('r', 'at', '1', 'task', TIMESTAMP '2026-03-08 23:59:59', '{}'), "
            "('r', 'after', '1', 'email', TIMESTAMP '2026-03-15 12:00:00', '{}'), "
            "('r', 'undated', '1', 'notify', NULL, '{}'), "
            "('r', 'old', '1', 'task', TIMESTAMP '2024-05-01 09:00:00', '{}')"
            ") AS v(rule, account_id, episode, kind, due_at, payload)"
        )
        when = datetime(2026, 3, 15, 23, 59, 59)
        added = append_candidates(
            con, "cand", run_id="x", policy_version="v", created_at=when, expire_before=cutoff
        )
        assert added == 5
        rows = outbox_rows(con, urgent_first=True)
        statuses = {r.account_id: r.status for r in rows}
        assert statuses == {
            "before": "expired",
            "at": "pending",  # due exactly at as_of - catch_up: still within the window
            "after": "pending",
            "undated": "pending",
            "old": "expired",
        }
        # most urgent first: pending (soonest due, undated last), then expired
        assert [r.account_id for r in rows] == ["at", "after", "undated", "old", "before"]
        assert rows[0].to_dict()["status"] == "pending"
        # an expired key is recorded: a later run with no window never raises it again
        again = append_candidates(
            con, "cand", run_id="y", policy_version="v", created_at=when, expire_before=None
        )
        assert again == 0


# --- runs ----------------------------------------------------------------------------------


def test_one_late_run_expires_what_is_older_than_the_window(book: Project, tmp_path: Path) -> None:
    results: dict[str, dict[Row, str]] = {}
    reports = {}
    for label, window in (("policy", "policy"), ("all", None), ("0d", timedelta(0))):
        path = _copy(book, tmp_path / f"{label}.duckdb")
        with Store.open(path, book.fields) as store:
            if window == "policy":
                reports[label] = run(store, book, LATE, now=LATE, limit=None)
            else:
                assert not isinstance(window, str)
                reports[label] = run(store, book, LATE, now=LATE, limit=None, catch_up=window)
            results[label] = _rows(store)
    # the same keys and rows whatever the window: only the status differs
    assert results["policy"].keys() == results["all"].keys() == results["0d"].keys()
    assert set(results["all"].values()) == {"pending"}
    assert set(results["0d"].values()) == {"expired"}  # everything was due before 04-21
    cutoff = datetime(2026, 4, 14)
    for row, status in results["policy"].items():
        due = row[5]
        assert status == ("expired" if due is not None and due < cutoff else "pending"), row
    pending = sorted(
        (row[1], row[2], row[5]) for row, s in results["policy"].items() if s == "pending"
    )
    # what is due now: s1's move to guided at day 30 of tech-touch, with its new CSM
    assert pending == [
        ("csm:light_touch", "s1", datetime(2026, 4, 19, 17)),
        ("upgrade:tech_touch", "s1", datetime(2026, 4, 19, 17)),
    ]
    policy = reports["policy"]
    # one late run sees 13 actions (stalls resolved by then and the tech-touch CSM pick are
    # not raised); 11 of them were due before 04-14
    assert (policy.added, policy.pending, policy.expired) == (13, 2, 11)
    assert policy.catch_up == WEEK and policy.expire_before == cutoff
    assert dict(policy.expired_by_kind) == {
        "task": 5,
        "email": 4,
        "csm_assignment": 1,
        "tier_change": 1,
    }
    # most urgent first: the pending ones, then the expired
    assert [a.status for a in policy.actions] == ["pending"] * 2 + ["expired"] * 11
    assert {a.rule for a in policy.actions[:2]} == {"csm:light_touch", "upgrade:tech_touch"}
    assert (reports["all"].expired, reports["all"].expire_before) == (0, None)
    assert reports["0d"].pending == 0
    body = policy.to_dict()
    assert (body["added"], body["pending"], body["expired"]) == (13, 2, 11)
    assert body["catch_up_seconds"] == 7 * 86400
    assert body["expired_before"] == "2026-04-14T00:00:00Z"
    counts = policy.counts()
    assert counts["expired"] == 11 and counts["expired_by_kind"] == dict(policy.expired_by_kind)


def _kickoff(report: RunReport) -> str:
    found = [a.status for a in report.actions if a.rule == "touchpoint:guided/kickoff"]
    assert len(found) == 1
    return found[0]


def test_the_exact_boundary_through_a_run(book: Project) -> None:
    second = timedelta(seconds=1)
    with Store.open(book.store_path, book.fields) as store:
        at = run(store, book, KICKOFF_DUE + WEEK, dry_run=True, limit=None)
        late = run(store, book, KICKOFF_DUE + WEEK + second, dry_run=True, limit=None)
        wider = run(
            store,
            book,
            KICKOFF_DUE + WEEK + second,
            dry_run=True,
            limit=None,
            catch_up=WEEK + second,
        )
    assert _kickoff(at) == "pending"  # due exactly at as_of - 7 days: still in the window
    assert _kickoff(late) == "expired"  # one second later
    assert _kickoff(wider) == "pending"


def test_a_negative_window_is_refused(book: Project) -> None:
    with Store.open(book.store_path, book.fields) as store, pytest.raises(EngineError):
        run(store, book, LATE, dry_run=True, catch_up=-WEEK)


def test_status_counts_only_pending_tasks_as_open(book: Project, tmp_path: Path) -> None:
    path = _copy(book, tmp_path / "status.duckdb")
    with Store.open(path, book.fields) as store:
        report = run(store, book, LATE, now=LATE)
        status = book_status(store, book, LATE)
        tasks = dict(
            store.con.execute(
                "SELECT status, count(*) FROM outbox WHERE kind = 'task' GROUP BY status"
            ).fetchall()
        )
    assert report.expired > 0
    assert status.open_tasks == tasks.get("pending", 0) == 0
    assert status.expired_tasks == tasks["expired"] == 5


def test_a_daily_schedule_keeps_everything_pending(book: Project, tmp_path: Path) -> None:
    path = _copy(book, tmp_path / "daily.duckdb")
    with Store.open(path, book.fields) as store:
        for day in range(3, 22, 6):  # a run every 6 days, inside the 7-day window
            moment = datetime(2026, 3, day, 23, 59, 59)
            run(store, book, moment, now=moment)
        statuses = set(_rows(store).values())
    # g1's CSM pick (due at signing, 03-02 14:00) is caught by the 03-03 run
    assert statuses == {"pending"}


# --- the CLI -------------------------------------------------------------------------------

runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "pj"
    make_book(root)
    return root


def test_cli_catch_up_overrides(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pj = str(project_dir)
    late = "2026-04-20"
    base = ("run", "--project", pj, "--as-of", late, "--dry-run", "--json")
    default = json.loads(_cli(*base))
    everything = json.loads(_cli(*base, "--catch-up", "all"))
    nothing = json.loads(_cli(*base, "--catch-up", "0d"))
    three = json.loads(_cli(*base, "--catch-up", "3 days"))
    assert default["added"] == everything["added"] == nothing["added"] == three["added"] == 13
    assert (default["pending"], default["expired"]) == (2, 11)
    assert default["expired_before"] == "2026-04-13T23:59:59Z"
    assert (everything["pending"], everything["expired"]) == (13, 0)
    assert everything["catch_up_seconds"] is None and everything["expired_before"] is None
    assert (nothing["pending"], nothing["expired"]) == (0, 13)
    assert three["catch_up_seconds"] == 3 * 86400
    assert {a["status"] for a in everything["actions"]} == {"pending"}
    keys = {a["idempotency_key"] for a in default["actions"]}
    assert keys == {a["idempotency_key"] for a in nothing["actions"]}

    text = _cli("run", "--project", pj, "--as-of", late, "--catch-up", "0d", "-n", "3")
    flat = " ".join(text.split())
    assert "added 13 actions (14 candidates), 13 expired: due before 2026-04-20 23:59 UTC" in flat
    assert "outside the 0-day catch-up window" in flat
    assert "pending (to do now): 0" in text
    assert "expired" in text and "status" in text  # the listed actions show their status
    again = json.loads(_cli("run", "--project", pj, "--as-of", late, "--catch-up", "all", "--json"))
    assert again["added"] == 0  # expired keys are recorded: they never come back

    book = _cli("status", "--project", pj, "--as-of", late)
    assert "open tasks: 0" in book
    assert "expired tasks (due before a run's catch-up window; history, not open): 5" in book
    body = json.loads(_cli("status", "--project", pj, "--as-of", late, "--json"))
    assert (body["open_tasks"], body["expired_tasks"]) == (0, 5)

    with pytest.raises(SystemExit) as exc:
        main(["run", "--project", pj, "--as-of", late, "--catch-up", "soon"])
    assert exc.value.code == 1
    assert "--catch-up: catch-up window 'soon'" in capsys.readouterr().err


def test_cli_policy_window_and_backtest(project_dir: Path) -> None:
    pj = str(project_dir)
    _with_run_section(project_dir, "run:\n  catch_up: all\n")
    body = json.loads(_cli("run", "--project", pj, "--as-of", "2026-04-20", "--json", "--dry-run"))
    assert (body["pending"], body["expired"]) == (13, 0)
    # a backtest whose first step catches up a week of history under a 1-day window
    timeline = json.loads(
        _cli(
            "run",
            "--project",
            pj,
            "--backtest",
            "2026-03-12",
            "2026-03-13",
            "--catch-up",
            "1d",
            "--json",
        )
    )
    assert [s["expired"] for s in timeline["steps"]] == [4, 0]
    first = timeline["steps"][0]["actions"]
    assert [a["status"] for a in first] == ["pending"] * (len(first) - 4) + ["expired"] * 4
