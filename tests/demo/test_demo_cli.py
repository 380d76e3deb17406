"""``tierline demo``: a real project, a generated book imported into a real DuckDB store."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tierline.cli import main
from tierline.cli.app import app
from tierline.demo.generator import generate_book

AS_OF = "2026-03-15"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["demo", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``tierline demo ARGS`` as the console script does; it must exit 1. Its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *args])
    assert exit_info.value.code == 1
    return capsys.readouterr().err


def test_demo_imports_the_book_into_the_store(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    code, output = _run(str(target), "--accounts", "200", "--seed", "3", "--as-of", AS_OF)
    assert code == 0, output
    assert (target / "tierline.yaml").is_file()
    assert (target / "trees" / "onboarding-track.dag").is_file()
    for kind in ("accounts", "people", "events", "tickets", "nps", "billing", "arr", "csms"):
        assert (target / "data" / f"{kind}.parquet").is_file()
        assert not (target / "data" / f"{kind}.parquet.rejects.csv").exists()
    marker = json.loads((target / "data" / "demo.json").read_text())
    assert marker["seed"] == 3 and marker["as_of"] == AS_OF

    book = generate_book(200, 3, date.fromisoformat(AS_OF))
    assert marker["digest"] == book.digest()
    store = target / ".tierline" / "tierline.duckdb"
    con = duckdb.connect(str(store), read_only=True)
    try:
        for kind, table in book.tables().items():
            name = "accounts" if kind == "accounts" else kind
            (stored,) = con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,)
            assert stored == table.num_rows, kind
        row = con.execute(
            "SELECT count(*) FILTER (WHERE technical_team), sum(expected_users), "
            "count(DISTINCT timezone) FROM accounts"
        ).fetchone()
        assert row is not None and row[0] > 0 and row[1] > 0 and row[2] > 3
        (steps,) = con.execute(
            "SELECT count(*) FROM events WHERE event = 'step_completed' "
            "AND json_extract(properties, '$.step')::INT BETWEEN 1 AND 5"
        ).fetchone() or (0,)
        assert steps > 0
    finally:
        con.close()

    assert "Accounts by ACV band (200)" in output
    assert "Events by type" in output
    assert "C-level" in output and "ARR history" in output
    assert str(store) in output.replace("\n", "")


def test_demo_regenerates_its_own_folder_and_refuses_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "demo"
    assert _run(str(target), "--accounts", "30", "--seed", "1", "--as-of", AS_OF)[0] == 0
    code, output = _run(str(target), "--accounts", "40", "--seed", "2", "--as-of", AS_OF)
    assert code == 0, output
    con = duckdb.connect(str(target / ".tierline" / "tierline.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM accounts").fetchone() == (40,)
    finally:
        con.close()

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert "is not empty and holds no tierline demo" in _fail(capsys, str(other))
    assert (other / "notes.txt").read_text() == "keep me"
    assert not (other / "tierline.yaml").exists()


def test_demo_rejects_a_bad_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "write YYYY-MM-DD" in _fail(capsys, str(tmp_path / "d"), "--as-of", "23/11/2026")
    assert not (tmp_path / "d").exists()
    assert "--accounts" in _fail(capsys, str(tmp_path / "d"), "--accounts", "0")
    assert not (tmp_path / "d").exists()
