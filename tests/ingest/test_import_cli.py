"""``tierline import KIND FILE``: counts, reject reports, exit codes and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tierline.cli import importer as importer_cli
from tierline.cli import main
from tierline.cli.app import app
from tierline.policy.scaffold import init_project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A seed-pack project whose tierline.yaml also declares a date and a string field."""
    root = tmp_path / "acme"
    init_project(root, force=False)
    config = root / "tierline.yaml"
    text = config.read_text()
    anchor = "  stakeholders: integer"
    assert anchor in text
    config.write_text(text.replace(anchor, f"  go_live: date\n  region: string\n{anchor}", 1))
    return root


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["import", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``tierline import ARGS`` as the console script does; it must exit 1. Its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(["import", *args])
    assert exit_info.value.code == 1
    return capsys.readouterr().err


def _store(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / ".tierline" / "tierline.duckdb"), read_only=True)


def _counts(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in output.splitlines():
        label, _, number = line.strip().rpartition(" ")
        if line.startswith("  ") and number.replace(",", "").isdigit():
            counts[label.strip()] = int(number.replace(",", ""))
    return counts


def test_importing_accounts_prints_counts_and_exits_0(project: Path, tmp_path: Path) -> None:
    path = _copy(tmp_path, "accounts.csv")
    code, output = _run("accounts", str(path), "--project", str(project))
    assert code == 0, output
    assert output.splitlines()[0] == f"accounts ← {path}"
    assert _counts(output) == {"read": 2, "landed": 2, "duplicates skipped": 0, "rejected": 0}
    assert "rejects:" not in output

    con = _store(project)
    try:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'account_versions'"
            ).fetchall()
        )
        # The project's custom fields are typed columns of the store.
        assert (types["technical_team"], types["config_hours"]) == ("BOOLEAN", "DOUBLE")
        assert (types["expected_users"], types["go_live"], types["region"]) == (
            "BIGINT",
            "DATE",
            "VARCHAR",
        )
        rows = con.execute("SELECT id, technical_team, region FROM accounts ORDER BY id").fetchall()
        assert rows == [("acc-1", True, "emea"), ("acc-2", False, "amer")]
    finally:
        con.close()

    code, output = _run("accounts", str(path), "--project", str(project))
    assert code == 0
    assert _counts(output) == {"read": 2, "landed": 0, "duplicates skipped": 2, "rejected": 0}


def test_salesforce_export_with_rejects_exits_1(project: Path, tmp_path: Path) -> None:
    path = _copy(tmp_path, "salesforce_opportunities.csv")
    code, output = _run(
        "accounts",
        str(path),
        "--preset",
        "salesforce",
        "--stage-map",
        "Signed - Enterprise=Closed Won",
        "--project",
        str(project),
    )
    assert code == 1
    assert output.splitlines()[0] == f"accounts ← {path} (preset salesforce)"
    assert _counts(output) == {
        "read": 6,
        "landed": 3,
        "duplicates skipped": 0,
        "lost deals skipped": 2,
        "rejected": 1,
    }
    rejects = tmp_path / "salesforce_opportunities.csv.rejects.csv"
    assert f"rejects: {rejects}" in output
    assert "  row 4: missing closed_won_at" in output
    assert "ignored columns: Id, Name" in output
    assert rejects.read_text().splitlines()[0].startswith("row,reason,Id,Name,AccountId")


def test_hubspot_export_with_a_pipeline_stage_map(project: Path, tmp_path: Path) -> None:
    path = _copy(tmp_path, "hubspot_deals.csv")
    code, output = _run(
        "accounts",
        str(path),
        "-p",
        str(project),
        "--preset",
        "hubspot",
        "--stage-map",
        "contractsigned=closedwon",
        "--json",
    )
    assert code == 1
    report = json.loads(output)
    assert {k: report[k] for k in ("read", "landed", "skipped", "rejected", "preset")} == {
        "read": 6,
        "landed": 3,
        "skipped": 2,
        "rejected": 1,
        "preset": "hubspot",
    }
    assert report["rejects_file"] == str(tmp_path / "hubspot_deals.csv.rejects.csv")
    assert report["sample_rejects"] == [
        {"row": 4, "reason": "invalid acv 'twelve thousand' (expected an amount)"}
    ]


def test_segment_events_re_import_adds_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run("accounts", str(_copy(tmp_path, "accounts.csv")), "-p", str(project))[0] == 0
    calls = _copy(tmp_path, "segment_calls.jsonl")
    # The project is found from the current directory.
    monkeypatch.chdir(project)
    code, first = _run("events", str(calls), "--json")
    assert code == 1
    assert {k: json.loads(first)[k] for k in ("landed", "duplicates", "rejected")} == {
        "landed": 4,
        "duplicates": 1,
        "rejected": 2,
    }
    code, again = _run("events", str(calls), "--preset", "segment")
    assert code == 1
    counts = _counts(again)
    assert (counts["landed"], counts["duplicates skipped"]) == (0, 5)
    assert counts["other Segment calls skipped"] == 3
    assert "  row 5: unknown account 'acc-404'" in again
    con = _store(project)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchall() == [(4,)]
    finally:
        con.close()


def test_map_and_progress_on_a_large_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run("accounts", str(_copy(tmp_path, "accounts.csv")), "-p", str(project))[0] == 0
    path = tmp_path / "revenue.csv"
    path.write_text('Customer,Month,Run rate\nacc-1,2024-03,"$9,000"\nacc-2,2024-03,48000\n')
    # Every file counts as long: the bar is asked for, and shown only on a terminal.
    monkeypatch.setattr(importer_cli, "PROGRESS_MIN_BYTES", 0)
    code, output = _run(
        "arr",
        str(path),
        "--map",
        "Customer=account_id",
        "--map",
        "Run rate=arr",
        "-p",
        str(project),
    )
    assert code == 0, output
    assert _counts(output)["landed"] == 2
    assert "ignored columns" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acount", "x.csv"], "unknown kind 'acount'; kinds are accounts, people"),
        (["acount", "x.csv"], "did you mean 'accounts'?"),
        (["accounts", "x.csv", "--preset", "salesfroce"], "did you mean 'salesforce'?"),
        (["nps", "x.csv", "--preset", "segment"], "preset 'segment' imports events and people"),
        (["accounts", "x.csv", "--map", "Acct"], "--map 'Acct': write --map COLUMN=FIELD"),
        (["accounts", "x.csv", "--map", "=id"], "--map '=id': write --map COLUMN=FIELD"),
        (["accounts", "x.csv", "--stage-map", "Won"], "--stage-map 'Won': write --stage-map"),
        (["accounts", "x.csv", "--stage-map", "a=b"], "--stage-map needs --preset salesforce"),
        (["accounts", "nowhere.csv"], "nowhere.csv: no such file"),
        (["accounts", "accounts.xlsx"], "cannot tell the format from the extension '.xlsx'"),
    ],
)
def test_clear_errors(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    project: Path,
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "accounts.xlsx").write_text("not a spreadsheet")
    args = [str(tmp_path / a) if a.endswith((".csv", ".xlsx")) else a for a in args]
    err = _fail(capsys, *args, "--project", str(project))
    assert message in err
    assert "Traceback" not in err


def test_a_missing_file_suggests_a_near_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: Path
) -> None:
    _copy(tmp_path, "segment_calls.jsonl")
    err = _fail(capsys, "events", str(tmp_path / "segment_call.jsonl"), "-p", str(project))
    assert "no such file; did you mean 'segment_calls.jsonl'?" in err


def test_an_unknown_field_in_map_and_no_project(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _copy(tmp_path, "accounts.csv")
    err = _fail(capsys, "accounts", str(path), "--map", "name=nmae", "-p", str(project))
    assert "--map name=nmae: accounts have no field 'nmae'; did you mean 'name'?" in err
    monkeypatch.chdir(tmp_path)
    err = _fail(capsys, "accounts", str(path))
    assert "no tierline.yaml in" in err


def test_imported_events_are_folded_into_the_kept_state(project: Path, tmp_path: Path) -> None:
    """``import events`` folds the rows it landed into the rollups and the milestone state
    (the next run finds both up to date); ``--no-fold`` leaves them to that run."""
    assert _run("accounts", str(_copy(tmp_path, "accounts.csv")), "-p", str(project))[0] == 0
    # two of the file's rows are rejected (exit 1); the two good ones land and are folded
    code, output = _run("events", str(_copy(tmp_path, "events.jsonl")), "-p", str(project))
    assert code == 1, output
    landed = _counts(output)["landed"]
    assert landed > 0
    assert f"{landed:,} events into the rollups; milestone state up to date" in output
    con = _store(project)
    try:
        mark, rolled = con.execute("SELECT mark, rolled FROM rollup_state").fetchall()[0]
        assert mark == con.execute("SELECT max(received_at) FROM events").fetchall()[0][0]
        assert rolled == landed
        applied = con.execute("SELECT applied FROM milestone_state").fetchall()[0][0]
        assert applied == landed
    finally:
        con.close()

    other = tmp_path / "other"
    shutil.copytree(project, other, ignore=shutil.ignore_patterns(".tierline"))
    assert _run("accounts", str(_copy(tmp_path, "accounts.csv")), "-p", str(other))[0] == 0
    code, report = _run(
        "events", str(_copy(tmp_path, "events.jsonl")), "-p", str(other), "--no-fold", "--json"
    )
    assert code == 1, report
    assert json.loads(report)["folded"] is None
    con = _store(other)
    try:
        kept = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name IN ('rollup_state', 'milestone_state')"
        ).fetchall()
        assert kept == [(0,)]
    finally:
        con.close()
