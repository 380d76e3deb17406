"""A crafted book on the seed pack for the run tests: a real project folder and DuckDB store.

Two accounts, in the project's time zone (America/New_York; US daylight saving time starts
on Sunday 2026-03-08, so EST −5 before and EDT −4 after):

- ``g1`` — ACV $40K, not technical → GUIDED_ONBOARDING, value band LIGHT_TOUCH (CSM from
  the ``light_touch`` pool). Signed Monday 2026-03-02 14:00 UTC (09:00 EST). Configures the
  workspace on 03-04 and imports data on 03-06, then nothing for 19 days (a stall from
  03-20), reviews the first report on 03-25 (the stall resolves), stalls again from 04-08,
  and three distinct people complete the workflow by 04-20 10:00 (p1, p2, p1 again, p3).
- ``s1`` — ACV $5K → SELF_SERVE, band SELF_SERVICE. Signed Friday 2026-03-06 17:00 UTC
  (12:00 EST). Configures the workspace on 03-07 and never reaches first value: upgraded
  to tech-touch at day 14 (03-20 17:00 UTC, with a CSM from the ``self_service`` pool),
  stalls there from 04-03, and moves up to guided at day 30 of tech-touch (04-19 17:00).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tierline.policy.load import load_project
from tierline.policy.model import Project
from tierline.policy.scaffold import init_project
from tierline.store import Store

LOADED = datetime(2026, 1, 1)
G_SIGNED = datetime(2026, 3, 2, 14, 0)
S_SIGNED = datetime(2026, 3, 6, 17, 0)

# (message_id, account, person, event, ts)
EVENTS: tuple[tuple[str, str, str, str, datetime], ...] = (
    ("g-1", "g1", "p1", "workspace_configured", datetime(2026, 3, 4, 15, 0)),
    ("g-2", "g1", "p1", "data_imported", datetime(2026, 3, 6, 15, 0)),
    ("g-3", "g1", "p2", "report_reviewed", datetime(2026, 3, 25, 16, 0)),
    ("g-4", "g1", "p1", "workflow_completed", datetime(2026, 3, 30, 15, 0)),
    ("g-5", "g1", "p2", "workflow_completed", datetime(2026, 4, 2, 15, 0)),
    ("g-6", "g1", "p1", "workflow_completed", datetime(2026, 4, 5, 15, 0)),
    ("g-7", "g1", "p3", "workflow_completed", datetime(2026, 4, 20, 10, 0)),
    ("s-1", "s1", "q1", "workspace_configured", datetime(2026, 3, 7, 15, 0)),
    ("s-2", "s1", "q1", "login", datetime(2026, 3, 9, 15, 0)),
)

CSMS: tuple[tuple[str, str, str, str, int | None, str, str | None], ...] = (
    ("csm-lt", "Lena Torres", "lena@example.com", "light_touch", 80, "csm", "mgr-1"),
    ("csm-ss", "Sam Shaw", "sam@example.com", "self_service", 600, "csm", "mgr-1"),
    ("mgr-1", "Mia Grant", "mia@example.com", "management", None, "manager", None),
)


def make_project(root: Path) -> Project:
    """The seed pack scaffolded into ``root`` and loaded."""
    init_project(root)
    return load_project(root)


def fill_book(store: Store) -> None:
    """Insert the crafted accounts, people, events and the CSM roster."""
    con = store.con
    accounts = (
        ("g1", "Gamma Guided Inc", 40000.0, G_SIGNED, False, 40),
        ("s1", "Sigma Solo LLC", 5000.0, S_SIGNED, False, 3),
    )
    for aid, name, acv, signed, technical, users in accounts:
        con.execute(
            "INSERT INTO account_versions (id, name, acv, closed_won_at, technical_team, "
            "needs_integration, needs_migration, custom_config, expected_users, version, "
            "loaded_at, source) VALUES (?, ?, ?, ?, ?, false, false, false, ?, 1, ?, 'test')",
            [aid, name, acv, signed, technical, users, LOADED],
        )
    people = (
        ("p1", "g1", "ada@gamma.example", "VP Operations"),
        ("p2", "g1", "bo@gamma.example", "Analyst"),
        ("p3", "g1", "cy@gamma.example", "Engineer"),
        ("q1", "s1", "sol@sigma.example", "Founder"),
    )
    for pid, aid, email, title in people:
        con.execute(
            "INSERT INTO people (id, account_id, email, title, created_at) VALUES (?, ?, ?, ?, ?)",
            [pid, aid, email, title, LOADED],
        )
    for mid, aid, pid, event, ts in EVENTS:
        con.execute(
            "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [mid, aid, pid, event, ts, json.dumps({}), ts],
        )
    for cid, name, email, pool, capacity, role, manager in CSMS:
        con.execute(
            "INSERT INTO csms (id, name, email, pool, capacity, loaded_cost, role, manager_id) "
            "VALUES (?, ?, ?, ?, ?, 120000, ?, ?)",
            [cid, name, email, pool, capacity, role, manager],
        )


def make_book(root: Path) -> Project:
    """A project at ``root`` whose store (the project's default path) holds the crafted book."""
    project = make_project(root)
    with Store.open(project.store_path, project.fields) as store:
        fill_book(store)
    return project


def outbox_table(store: Store) -> list[tuple[str, str, str, str, datetime]]:
    """The outbox as (rule, account, episode, kind, due_at), sorted."""
    exists = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'outbox'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = store.con.execute(
        "SELECT rule, account_id, episode, kind, due_at FROM outbox "
        "ORDER BY due_at, account_id, rule, episode"
    ).fetchall()
    return [(str(r), str(a), str(e), str(k), d) for r, a, e, k, d in rows]


def table_count(store: Store, table: str) -> int:
    """Rows in ``table`` (0 when it does not exist)."""
    exists = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = store.con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
