"""Compute every metric of a project, per account as of T, in one query.

:func:`compute_metrics` writes the temp table ``account_metrics(account_id, <metric
columns>)``: one row per account of ``accounts_as_of(T)``. An incremental run reads the
daily rollups (:mod:`tierline.engine.rollup`) plus the raw events they lack; it falls back to
a full scan when the rollups cannot answer as of T (never refreshed, watermark after T as in
a backtest, or a watermark that no longer holds). Either way the values are identical. The
run does not refresh the rollups: call :func:`tierline.engine.rollup.refresh_rollups` (with
the project, so that its filtered metrics get rollups too) as events arrive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from tierline.compile.metric import compile_metrics
from tierline.engine.rollup import usable_rollup
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.metrics import MetricSet
from tierline.policy.model import Project

__all__ = [
    "METRICS_TABLE",
    "compute_metrics",
    "metric_set",
    "metric_values",
    "metrics_query",
    "metrics_relation",
]

METRICS_TABLE = "account_metrics"


def metric_set(metrics: Project | MetricSet) -> MetricSet:
    """The metrics of a project (``Project.metrics``) or the set itself."""
    if isinstance(metrics, MetricSet):
        return metrics
    return MetricSet(metrics.metrics, str(metrics.root / "metrics.yaml"))


def metrics_query(
    con: duckdb.DuckDBPyConnection,
    metrics: Project | MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
) -> tuple[str, dict[str, object]]:
    """The SQL computing the metrics as of ``as_of`` and its parameters."""
    moment = utc_naive(as_of)
    params: dict[str, object] = {"as_of": moment}
    state = usable_rollup(con, moment) if incremental else None
    if state is None:
        return compile_metrics(metric_set(metrics)), params
    params["mark"] = state.mark
    return compile_metrics(metric_set(metrics), incremental=True, specs=state.specs), params


def metrics_relation(
    con: duckdb.DuckDBPyConnection,
    metrics: Project | MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
) -> duckdb.DuckDBPyRelation:
    """The metrics of every account as of ``as_of`` as a DuckDB relation (one row each)."""
    sql, params = metrics_query(con, metrics, as_of, incremental=incremental)
    try:
        return con.sql(sql, params=params)
    except duckdb.Error as exc:
        raise EngineError(f"computing metrics as of {as_of:%Y-%m-%d %H:%M}: {exc}") from exc


def compute_metrics(
    con: duckdb.DuckDBPyConnection,
    project: Project | MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
    table: str = METRICS_TABLE,
) -> str:
    """Write every metric per account as of ``as_of`` into the temp table ``table``."""
    sql, params = metrics_query(con, project, as_of, incremental=incremental)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params)
    except duckdb.Error as exc:
        raise EngineError(f"computing metrics as of {as_of:%Y-%m-%d %H:%M}: {exc}") from exc
    return table


def metric_values(
    con: duckdb.DuckDBPyConnection,
    project: Project | MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
) -> dict[str, dict[str, Any]]:
    """Every metric per account as of ``as_of``: account id → metric name → value."""
    table = compute_metrics(con, project, as_of, incremental=incremental)
    cur = con.execute(f"SELECT * FROM {table} ORDER BY account_id")
    names = [str(d[0]) for d in cur.description][1:]
    return {str(r[0]): dict(zip(names, r[1:], strict=True)) for r in cur.fetchall()}
