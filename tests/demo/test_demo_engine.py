"""``tierline demo`` runs the engine as of its date: counts, status summary, first actions."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from tierline.cli.app import app
from tierline.demo.engine_step import action_text, ttfv_against_target
from tierline.engine.outbox import OutboxRow
from tierline.engine.status import TrackLine

AS_OF = "2026-03-15"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_runs_the_engine_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    output = _invoke("demo", str(target), "--accounts", "300", "--seed", "5", "--as-of", AS_OF)
    flat = " ".join(output.split())
    found = re.search(
        r"Ran the engine as of 2026-03-15 23:59 UTC .*?: ([\d,]+) actions added to the outbox "
        r"from [\d,]+ candidates, ([\d,]+) of them pending",
        flat,
    )
    assert found is not None, output
    added, pending = (int(found.group(i).replace(",", "")) for i in (1, 2))
    # two years of history: most actions were due long before the 7-day catch-up window
    expired = added - pending
    assert 0 < pending < expired
    for section in (
        "actions added by kind",
        "onboarding by track and state (300 accounts on a track)",
        "time to first value vs target, per track",
        f"{expired:,} expired: due before 2026-03-08 23:59 UTC, outside the 7-day catch-up window",
        f"first 10 of {pending:,} pending actions (soonest due first)",
        "accounts on no track: 0",
    ):
        assert section in flat, section
    for heading in ("complete", "stuck", "behind", "on track", "median TTFV (days)", "vs target"):
        assert heading in output, heading
    for track in ("self_serve", "tech_touch", "guided", "high_touch", "enterprise_ps"):
        assert track in output, track

    store = target / ".tierline" / "tierline.duckdb"
    con = duckdb.connect(str(store), read_only=True)
    try:
        (rows,) = con.execute("SELECT count(*) FROM outbox").fetchone() or (0,)
        kinds = con.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall()
        (runs,) = con.execute("SELECT count(*) FROM runs WHERE NOT dry_run").fetchone() or (0,)
        statuses = dict(
            con.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        )
        (open_tasks,) = con.execute(
            "SELECT count(*) FROM outbox WHERE kind = 'task' AND status = 'pending'"
        ).fetchone() or (0,)
        (oldest,) = con.execute(
            "SELECT min(due_at) FROM outbox WHERE status = 'pending'"
        ).fetchone() or (None,)
        head = con.execute(
            "SELECT account_id, kind, rule, due_at FROM outbox WHERE status = 'pending' "
            "ORDER BY due_at, seq LIMIT 10"
        ).fetchall()
    finally:
        con.close()
    first = [(str(a), str(k), str(r)) for a, k, r, _ in head]
    due = [d for _, _, _, d in head]
    assert rows == added > 0
    assert runs == 1
    assert statuses == {"pending": pending, "expired": expired}
    assert f"open tasks: {open_tasks:,} " in flat
    # what the team acts on now is due within the window, not in 2024
    assert oldest is not None and oldest >= datetime(2026, 3, 8, 23, 59, 59)
    lines = output.splitlines()
    for kind, n in kinds:
        assert any(kind in line and f"{n:,}" in line for line in lines), kind
    # the first actions listed are the pending ones, soonest due first
    table = output[output.index(f"first 10 of {pending:,} pending actions") :]
    listed = re.findall(r"^\s+(\d{4}-\d\d-\d\d)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", table, re.M)
    assert [(a, k, r[:30]) for _, a, k, r in listed] == [(a, k, r[:30]) for a, k, r in first]
    assert [d for d, _, _, _ in listed] == [f"{d:%Y-%m-%d}" for d in due]

    again = json.loads(_invoke("run", "--project", str(target), "--as-of", AS_OF, "--json"))
    assert again["added"] == 0
    assert again["candidates"] > 0


def _line(median: float | None) -> TrackLine:
    return TrackLine("guided", "Guided", 3, {}, 0, median, (10, 18))


def test_ttfv_against_the_target_range() -> None:
    assert [ttfv_against_target(_line(m)) for m in (None, 9.9, 10.0, 18.0, 18.5)] == [
        "—",
        "faster",
        "within",
        "within",
        "slower",
    ]


def _action(payload: dict[str, object]) -> OutboxRow:
    return OutboxRow(
        1, "k", "touchpoint:t/x", "a1", "1", "task", datetime(2026, 3, 1), payload, "r"
    )


def test_action_text_is_short_and_says_who() -> None:
    assert action_text(_action({"to": "csm", "text": "Kickoff call"})) == "csm: Kickoff call"
    assert action_text(_action({"to": "champion", "template": "welcome"})) == "champion: welcome"
    assert action_text(_action({"to_track": "guided"})) == "guided"
    long = action_text(_action({"to": "csm", "text": "x" * 200}), width=20)
    assert len(long) == 20 and long.endswith("…")
    assert action_text(_action({})) == ""
