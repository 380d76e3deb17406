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
    accounts: str | None = None,
) -> tuple[str, dict[str, object]]:
    """The SQL computing the metrics as of ``as_of`` and its parameters.

    ``accounts``: only these accounts (a table name or a parenthesised SELECT with
    ``account_id``); None: every account of ``accounts_as_of(T)``.
    """
    moment = utc_naive(as_of)
    params: dict[str, object] = {"as_of": moment}
    state = usable_rollup(con, moment) if incremental else None
    if state is None:
        return compile_metrics(metric_set(metrics), accounts=accounts), params
    params["mark"] = state.mark
    sql = compile_metrics(
        metric_set(metrics), incremental=True, specs=state.specs, accounts=accounts
    )
    return sql, params


def metrics_relation(
    con: duckdb.DuckDBPyConnection,
    metrics: Project | MetricSet,
    as_of: datetime,
    *,
    incremental: bool = True,
    accounts: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """The metrics of every account (or of ``accounts``) as of ``as_of`` (one row each)."""
    sql, params = metrics_query(con, metrics, as_of, incremental=incremental, accounts=accounts)
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
    accounts: str | None = None,
) -> str:
    """Write every metric per account (of ``accounts``) as of ``as_of`` into ``table``."""
    sql, params = metrics_query(con, project, as_of, incremental=incremental, accounts=accounts)
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
    accounts: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every metric per account (of ``accounts``) as of ``as_of``: id → name → value."""
    table = compute_metrics(con, project, as_of, incremental=incremental, accounts=accounts)
    cur = con.execute(f"SELECT * FROM {table} ORDER BY account_id")
    names = [str(d[0]) for d in cur.description][1:]
    return {str(r[0]): dict(zip(names, r[1:], strict=True)) for r in cur.fetchall()}
