"""Helpers for the metrics tests: write events into a real store."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

T0 = datetime(2026, 3, 1)


def add_event(
    con: duckdb.DuckDBPyConnection,
    mid: str,
    account: str,
    person: str,
    event: str,
    ts: datetime,
    props: dict[str, object] | None = None,
    received: datetime | None = None,
) -> None:
    con.execute(
        "INSERT INTO events (message_id, account_id, person_id, event, ts, properties, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [mid, account, person, event, ts, json.dumps(props or {}), received or ts],
    )
