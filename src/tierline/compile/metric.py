"""Compile every metric of a run into one SQL query: one grouped scan per source.

The query has the named parameters ``$as_of`` (the time T) and, when incremental, ``$mark``
(the rollup watermark, which must be ``<= $as_of``). It returns one row per account as of T
(the latest account version loaded at or before T) with ``account_id`` and a column per metric.

Shape: a CTE per source (``events`` — or, incrementally, the rollup rows plus the raw events
that the rollups cannot answer — then ``tickets``, ``nps``, ``billing`` as needed), each one
``SELECT account_id, <aggregate> FILTER (WHERE ...) ... GROUP BY account_id`` holding every
metric of that source; they are left-joined to the accounts, and the ``expr`` metrics are
computed in outer SELECTs, one level per dependency depth. ``count`` and ``distinct*`` metrics
of an account without rows are 0; the others are NULL. Division inside an ``expr`` by zero
gives NULL (``a / b`` is compiled as ``a / NULLIF(b, 0)``).

What each kind reads when incremental (rollup = ``event_rollup``, rows grouped by account,
UTC day, event, person and properties, with ``n``, ``first_ts``, ``last_ts``):

- ``count``, ``distinct_users``, ``distinct``, ``first``, ``last`` over events: rollup rows
  for the UTC days wholly inside the window, plus raw events in the partial days at the
  window's edges, plus raw events received after the watermark — provided that ``where`` and
  ``value`` read only ``account_id``, ``event``, ``person_id`` and ``properties``;
- ``latest`` and ``sum`` over events, and any metric whose ``where``/``value`` reads ``ts``,
  ``received_at`` or ``message_id``: raw events only (a rollup cannot answer them exactly);
- tickets, nps and billing metrics: their tables directly (they are small).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import cast

import sqlglot
from sqlglot import exp

from tierline.errors import CompileError
from tierline.policy.metrics import AS_OF, DIALECT, Metric, MetricSet

__all__ = ["ROLLUP_COLUMNS", "compile_metrics", "reads_rollup"]

ROLLUP_COLUMNS = ("account_id", "event", "person_id", "properties")
_T = "CAST($as_of AS TIMESTAMP)"
_MARK = "CAST($mark AS TIMESTAMP)"
_ZERO_KINDS = frozenset({"count", "distinct_users", "distinct"})


def _fragment(sql: str) -> str:
    """Render an SQL fragment of metrics.yaml with ``as_of`` bound to the parameter."""
    tree = sqlglot.parse_one(sql, read=DIALECT)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name == AS_OF:
            return cast(exp.Expression, sqlglot.parse_one(_T, read=DIALECT))
        if isinstance(node, exp.Div):
            safe = exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0))
            return exp.Div(this=node.this.copy(), expression=safe)
        return node

    return tree.transform(bind).sql(dialect=DIALECT)


def _interval(delta: timedelta) -> str:
    return f"INTERVAL '{int(delta.total_seconds())} seconds'"


def _bounds(metric: Metric) -> tuple[str | None, str]:
    """The window ``[lo, hi)`` of a metric as SQL (lo None: open)."""
    hi = _T if not metric.offset else f"({_T} - {_interval(metric.offset)})"
    if metric.window is None:
        return None, hi
    return f"({_T} - {_interval(metric.window + metric.offset)})", hi


def _in_window(metric: Metric, time: str) -> str:
    lo, hi = _bounds(metric)
    parts = [f"{time} < {hi}"]
    if lo is not None:
        parts.append(f"{time} >= {lo}")
    return " AND ".join(parts)


def _whole_day(metric: Metric, day: str) -> str:
    """Whether the UTC day ``day`` (a DATE) lies wholly inside the metric's window."""
    lo, hi = _bounds(metric)
    parts = [f"CAST({day} AS TIMESTAMP) + INTERVAL 1 DAY <= {hi}"]
    if lo is not None:
        parts.append(f"CAST({day} AS TIMESTAMP) >= {lo}")
    return "(" + " AND ".join(parts) + ")"


def _row_filter(metric: Metric) -> list[str]:
    parts: list[str] = []
    name_column = metric.spec.name_column
    if metric.events and name_column is not None:
        names = ", ".join("'" + e.replace("'", "''") + "'" for e in metric.events)
        parts.append(f"{name_column} IN ({names})")
    if metric.where is not None:
        parts.append(f"({_fragment(metric.where)})")
    return parts


def reads_rollup(metric: Metric) -> bool:
    """Whether an event metric can be answered from ``event_rollup`` rows (see module doc)."""
    if metric.source != "events" or metric.kind in ("latest", "sum", "expr"):
        return False
    for sql in (metric.where, metric.value):
        if sql is None:
            continue
        tree = sqlglot.parse_one(sql, read=DIALECT)
        if any(c.name not in (*ROLLUP_COLUMNS, AS_OF) for c in tree.find_all(exp.Column)):
            return False
    return True


def _aggregate(metric: Metric, cond: str, *, rolled: bool) -> str:
    """The aggregate of one metric over raw rows (or rollup rows when ``rolled``)."""
    spec = metric.spec
    value = _fragment(metric.value) if metric.value is not None else None
    time = spec.time
    kind = metric.kind
    where = f" FILTER (WHERE {cond})"
    if kind == "count":
        return f"SUM(n){where}" if rolled else f"COUNT(*){where}"
    if kind == "distinct_users":
        return f"COUNT(DISTINCT person_id){where}"
    if kind == "distinct":
        return f"COUNT(DISTINCT ({value})){where}"
    if kind == "first":
        return f"MIN({'first_ts' if rolled else time}){where}"
    if kind == "last":
        return f"MAX({'last_ts' if rolled else time}){where}"
    if kind == "sum":
        return f"SUM({value}){where}"
    if kind == "latest":
        key = "message_id" if spec.name == "events" else "id"
        return f"ARG_MAX({value}, ({time}, {key})){where}"
    raise CompileError(f"metric {metric.name!r}: {kind} is not an aggregate")


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _part(metric: Metric) -> str:
    """The column holding a metric's aggregate (or partial aggregate) in a source CTE."""
    return _col(metric.name)


def _raw_source(metrics: Sequence[Metric], source: str) -> str:
    spec = metrics[0].spec
    known = f" AND received_at <= {_T}" if spec.known_column else ""
    cols = []
    for m in metrics:
        cond = " AND ".join([_in_window(m, spec.time), *_row_filter(m)])
        cols.append(f"{_aggregate(m, cond, rolled=False)} AS {_part(m)}")
    lows = [_bounds(m)[0] for m in metrics]
    low = (
        ""
        if any(lo is None for lo in lows)
        else f" AND {spec.time} >= LEAST({', '.join(str(x) for x in lows)})"
    )
    return (
        f"SELECT account_id, {', '.join(cols)} FROM {source} "
        f"WHERE {spec.time} < {_T}{known}{low} GROUP BY account_id"
    )


def _combine(metric: Metric, parts: str) -> str:
    kind = metric.kind
    col = _part(metric)
    if kind == "count":
        return f"SUM({parts}.{col})"
    if kind == "first":
        return f"MIN({parts}.{col})"
    if kind == "last":
        return f"MAX({parts}.{col})"
    raise CompileError(f"metric {metric.name!r}: {kind} does not combine")


def _incremental_events(metrics: Sequence[Metric]) -> str:
    """Events CTE body reading rollups for whole days plus the raw events the rollups lack."""
    rolled = [m for m in metrics if reads_rollup(m)]
    direct = [m for m in metrics if not reads_rollup(m)]
    raw_day = "CAST(ts AS DATE)"
    # Raw rows: new since the watermark, or (old) rows a metric cannot take from rollups.
    needs: list[str] = [f"received_at > {_MARK}"]
    for m in rolled:
        needs.append(f"({_in_window(m, 'ts')} AND NOT {_whole_day(m, raw_day)})")
    for m in direct:
        needs.append(f"({_in_window(m, 'ts')})")
    raw_filter = f"ts < {_T} AND received_at <= {_T} AND ({' OR '.join(needs)})"
    unions: list[str] = []
    # A distinct metric gathers its keys from both sides (LIST) and counts them once.
    cols_raw: list[str] = ["account_id"]
    cols_roll: list[str] = ["account_id"]
    for m in rolled:
        base = _row_filter(m)
        raw_cond = " AND ".join(
            [
                _in_window(m, "ts"),
                f"(received_at > {_MARK} OR NOT {_whole_day(m, raw_day)})",
                *base,
            ]
        )
        roll_cond = " AND ".join([_whole_day(m, "day"), *base])
        if m.kind in ("distinct_users", "distinct"):
            key = "person_id" if m.kind == "distinct_users" else f"({_fragment(m.value or '')})"
            cols_raw.append(f"LIST(DISTINCT {key}) FILTER (WHERE {raw_cond}) AS {_part(m)}")
            cols_roll.append(f"LIST(DISTINCT {key}) FILTER (WHERE {roll_cond}) AS {_part(m)}")
        else:
            cols_raw.append(f"{_aggregate(m, raw_cond, rolled=False)} AS {_part(m)}")
            cols_roll.append(f"{_aggregate(m, roll_cond, rolled=True)} AS {_part(m)}")
    for m in direct:
        cond = " AND ".join([_in_window(m, "ts"), *_row_filter(m)])
        cols_raw.append(f"{_aggregate(m, cond, rolled=False)} AS {_part(m)}")
        cols_roll.append(f"NULL AS {_part(m)}")
    roll_filter = f"CAST(day AS TIMESTAMP) < {_T}"
    unions.append(
        f"SELECT {', '.join(cols_raw)} FROM events WHERE {raw_filter} GROUP BY account_id"
    )
    unions.append(
        f"SELECT {', '.join(cols_roll)} FROM event_rollup WHERE {roll_filter} GROUP BY account_id"
    )
    outer: list[str] = ["parts.account_id"]
    for m in rolled:
        col = _part(m)
        if m.kind in ("distinct_users", "distinct"):
            outer.append(
                f"LENGTH(LIST_DISTINCT(FLATTEN(LIST(parts.{col}) FILTER "
                f"(WHERE parts.{col} IS NOT NULL)))) AS {col}"
            )
        else:
            outer.append(f"{_combine(m, 'parts')} AS {col}")
    for m in direct:
        col = _part(m)
        outer.append(f"ANY_VALUE(parts.{col}) FILTER (WHERE parts.{col} IS NOT NULL) AS {col}")
    return (
        f"SELECT {', '.join(outer)} FROM ({' UNION ALL BY NAME '.join(unions)}) AS parts "
        "GROUP BY parts.account_id"
    )


def _accounts(fields: Sequence[str]) -> str:
    cols = ", ".join(_col(f) for f in fields if f != "id")
    extra = f", {cols}" if cols else ""
    return (
        f"SELECT id AS account_id{extra} FROM account_versions WHERE loaded_at <= {_T} "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY version DESC) = 1"
    )


def _levels(metrics: MetricSet) -> list[list[Metric]]:
    depth: dict[str, int] = {m.name: 0 for m in metrics.aggregates}
    levels: list[list[Metric]] = []
    for m in metrics.expressions:
        d = 1 + max((depth.get(r, 0) for r in m.refs), default=0)
        depth[m.name] = d
        while len(levels) < d:
            levels.append([])
        levels[d - 1].append(m)
    return levels


def compile_metrics(
    metrics: MetricSet, account_fields: Sequence[str], *, incremental: bool = False
) -> str:
    """One SQL query computing every metric per account as of ``$as_of`` (see module doc)."""
    fields = [f for f in account_fields if f != "id"]
    ctes: list[str] = [f"acct AS ({_accounts(fields)})"]
    joins: list[str] = []
    by_source: dict[str, list[Metric]] = {}
    for m in metrics.aggregates:
        by_source.setdefault(m.source, []).append(m)
    for source, group in by_source.items():
        if source == "events" and incremental:
            body = _incremental_events(group)
        else:
            body = _raw_source(group, source)
        ctes.append(f"src_{source} AS ({body})")
        joins.append(f"LEFT JOIN src_{source} USING (account_id)")
    base_cols = ["account_id", *(_col(f) for f in fields)]
    for m in metrics.aggregates:
        ref = f"src_{m.source}.{_col(m.name)}"
        value = f"COALESCE({ref}, 0)" if m.kind in _ZERO_KINDS else ref
        base_cols.append(f"{value} AS {_col(m.name)}")
    query = f"SELECT {', '.join(base_cols)} FROM acct {' '.join(joins)}"
    for i, level in enumerate(_levels(metrics)):
        cols = ["*", *(f"{_fragment(m.expr or '')} AS {_col(m.name)}" for m in level)]
        query = f"SELECT {', '.join(cols)} FROM ({query}) AS level{i}"
    names = ", ".join(_col(n) for n in metrics.names)
    select = f"SELECT account_id{', ' + names if names else ''} FROM ({query}) AS result"
    sql = f"WITH {', '.join(ctes)} {select} ORDER BY account_id"
    try:
        sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise CompileError(f"metrics compile to invalid SQL: {exc}") from exc
    return sql
