"""Compute every metric of a run, per account as of T, in one query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from tierline.compile.metric import compile_metrics
from tierline.engine.rollup import rollup_mark
from tierline.errors import EngineError
from tierline.policy.metrics import MetricSet

__all__ = ["compute_metrics", "metrics_relation"]


def _account_fields(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'account_versions' ORDER BY ordinal_position"
    ).fetchall()
    skip = {"id", "version", "loaded_at", "source", "batch_id"}
    return [str(r[0]) for r in rows if str(r[0]) not in skip]


def metrics_relation(
    con: duckdb.DuckDBPyConnection, metrics: MetricSet, as_of: datetime, *, incremental: bool
) -> duckdb.DuckDBPyRelation:
    """The metrics of every account as of ``as_of`` as a DuckDB relation (one row each).

    Incremental runs read ``event_rollup`` up to its watermark; when the watermark is
    missing or later than ``as_of`` (a backtest), the run falls back to a full scan.
    """
    params: dict[str, object] = {"as_of": as_of}
    use_rollup = False
    if incremental:
        mark = rollup_mark(con)
        if mark is not None and mark <= as_of:
            params["mark"] = mark
            use_rollup = True
    sql = compile_metrics(metrics, _account_fields(con), incremental=use_rollup)
    try:
        return con.sql(sql, params=params)
    except duckdb.Error as exc:
        raise EngineError(f"computing metrics as of {as_of:%Y-%m-%d %H:%M}: {exc}") from exc


def compute_metrics(
    con: duckdb.DuckDBPyConnection,
    metrics: MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
) -> dict[str, dict[str, Any]]:
    """Every metric per account as of ``as_of``: account id → metric name → value."""
    rel = metrics_relation(con, metrics, as_of, incremental=incremental)
    try:
        rows = rel.fetchall()
    except duckdb.Error as exc:
        raise EngineError(f"computing metrics as of {as_of:%Y-%m-%d %H:%M}: {exc}") from exc
    names = [c for c in rel.columns if c != "account_id"]
    return {str(r[0]): dict(zip(names, r[1:], strict=True)) for r in rows}
