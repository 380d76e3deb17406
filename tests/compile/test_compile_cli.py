"""``tierline compile`` prints each segmentation's SQL, and that SQL runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import sqlglot
from compile_fixture import SEED, book_table
from typer.testing import CliRunner

from tierline.cli import main
from tierline.cli.app import app

runner = CliRunner()


@pytest.fixture
def seed_project(tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    shutil.copytree(SEED, root)
    return root


def test_compile_all_segmentations_with_headers(seed_project: Path) -> None:
    result = runner.invoke(app, ["compile", "--project", str(seed_project)])
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("-- ")]
    assert headers == [
        "-- segmentation: onboarding_track",
        "-- segmentation: onboarding_tier",
        "-- segmentation: value_band",
    ]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_compile_one_segmentation_parses_in_its_dialect(seed_project: Path, dialect: str) -> None:
    args = ["compile", "onboarding_tier", "--dialect", dialect, "--project", str(seed_project)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    head, body = result.output.split("\n", 1)
    assert head == "-- segmentation: onboarding_tier"
    statement = sqlglot.parse_one(body.rstrip().rstrip(";"), read=dialect)
    assert isinstance(statement, sqlglot.exp.Select)
    assert statement.named_selects == ["account_id", "outcome", "explanation"]


def test_printed_duckdb_sql_assigns_accounts(seed_project: Path) -> None:
    result = runner.invoke(app, ["compile", "onboarding_track", "-p", str(seed_project)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    book_table(
        con,
        [
            {"id": "small", "acv": 9000},
            {"id": "mid", "acv": 10000, "technical_team": None},
            {"id": "big", "acv": 200000, "needs_integration": True, "expected_users": 10},
        ],
    )
    rows = con.execute(result.output.split("\n", 1)[1].rstrip().rstrip(";")).fetchall()
    decided = {a: (o, json.loads(e)) for a, o, e in rows}
    assert decided["small"][0] == "SELF_SERVE"
    # Seed binding Q2 {null: "no"}: an unknown technical team is treated as not technical.
    assert decided["mid"][0] == "GUIDED_ONBOARDING"
    assert decided["mid"][1]["path"][1]["null"] is True
    assert decided["big"][0] == "ENTERPRISE_PS"
    con.close()


def test_source_option_names_the_table(seed_project: Path) -> None:
    args = ["compile", "value_band", "-p", str(seed_project), "--source", "book"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "FROM book" in result.output


def test_unknown_segmentation_suggests_a_name(
    seed_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "value_bnd", "--project", str(seed_project)])
    assert exit_info.value.code == 1
    assert "did you mean 'value_band'?" in capsys.readouterr().err


def test_unknown_dialect_is_a_usage_error(
    seed_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--dialect", "oracle", "--project", str(seed_project)])
    assert exit_info.value.code == 1
    assert "choose one of duckdb, postgres, spark" in capsys.readouterr().err


def test_broken_binding_fails_with_the_file_position(
    seed_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = seed_project / "tierline.yaml"
    config.write_text(config.read_text().replace("acv > 150000", "acvv > 150000"))
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--project", str(seed_project)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "tierline.yaml:" in err and "unknown name 'acvv'" in err
