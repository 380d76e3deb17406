"""The daily event rollup, maintained as events arrive.

``event_rollup`` holds one row per account, UTC day, event, person and properties value for
every event received at or before the watermark (``rollup_mark.mark``): ``n`` events, the
first and last ``ts``. :func:`refresh_rollups` aggregates only the events received after the
previous watermark, so its cost grows with new data. It assumes ``received_at`` is stamped at
ingestion (an event is never stored later with a ``received_at`` at or before the watermark).
Rows of later refreshes are appended, never merged: every reader sums / mins / maxes them.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

__all__ = ["ensure_rollups", "refresh_rollups", "rollup_mark"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS event_rollup ("
    "account_id VARCHAR, day DATE, event VARCHAR, person_id VARCHAR, properties JSON, "
    "n BIGINT, first_ts TIMESTAMP, last_ts TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS rollup_mark (mark TIMESTAMP)",
)


def ensure_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Create the rollup tables when missing."""
    for ddl in _DDL:
        con.execute(ddl)


def rollup_mark(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The watermark: every event received at or before it is in ``event_rollup``."""
    ensure_rollups(con)
    row = con.execute("SELECT max(mark) FROM rollup_mark").fetchone()
    mark = row[0] if row else None
    return mark if isinstance(mark, datetime) else None


def refresh_rollups(con: duckdb.DuckDBPyConnection, through: datetime) -> int:
    """Roll up the events received after the watermark and up to ``through``; rows added."""
    mark = rollup_mark(con)
    if mark is not None and through <= mark:
        return 0
    low = "" if mark is None else "AND received_at > CAST($mark AS TIMESTAMP)"
    params: dict[str, object] = {"through": through}
    if mark is not None:
        params["mark"] = mark
    con.execute("BEGIN TRANSACTION")
    try:
        before = _count(con)
        con.execute(
            "INSERT INTO event_rollup SELECT account_id, CAST(ts AS DATE) AS day, event, "
            "person_id, properties, COUNT(*), MIN(ts), MAX(ts) FROM events "
            f"WHERE received_at <= CAST($through AS TIMESTAMP) {low} "
            "GROUP BY ALL",
            params,
        )
        con.execute("DELETE FROM rollup_mark")
        con.execute("INSERT INTO rollup_mark VALUES (CAST(? AS TIMESTAMP))", [through])
        added = _count(con) - before
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM event_rollup").fetchone()
    return int(row[0]) if row else 0
