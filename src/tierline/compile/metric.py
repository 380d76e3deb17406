"""Compile every metric of a project into one SQL query: one grouped scan per source.

The query takes the named parameter ``$as_of`` (T) and, when incremental, ``$mark`` (the
rollup watermark, ``<= $as_of``). It returns one row per account of ``accounts_as_of(T)``:
``account_id`` and a column per metric (``count``/``distinct*`` of an account without rows
are 0; ``first``/``last``/``latest``/``sum`` are NULL). Windows are ``(T - W - O, T - O]``
(see :mod:`tierline.policy.metrics`).

Full scan: ``src_events`` is ONE ``GROUP BY account_id`` over ``events`` holding an
aggregate with a ``FILTER`` for every event metric; ``src_tickets``/``src_nps``/
``src_billing`` likewise over their tables (``latest`` = ``arg_max``). They are left-joined
to the accounts, and ``expr`` metrics are outer SELECTs, one per dependency depth
(``a / b`` is compiled as ``a / NULLIF(b, 0)``: division by zero gives NULL). No query per
metric, and the SQL does not depend on T.

Incremental: ``ev_raw`` holds the raw events a run still needs: (a) every event received
after the watermark and (b) older events at window edges, i.e. outside the whole rollup
days of a window (a rollup *day* ``d`` holds the events with ``d < ts <= d + 1 day``, so a
window ending at midnight has no partial day), and in the windows of ``raw`` metrics. Both
are ts/received_at range scans that zone maps prune. ``src_events`` is then one
``GROUP BY account_id`` over partial aggregates: one grouped scan of ``ev_raw``, one of each
rollup table (summed, min-ed or max-ed), and for ``distinct*`` metrics one distinct count
over the ``(account, metric, key)`` rows gathered from ``ev_raw`` and the rollups.

The rollups hold account and person *numbers* (``rollup_accounts``, ``rollup_people``; see
:mod:`tierline.engine.rollup`): each rollup scan groups by ``account_no`` and maps the
numbers back to ids after grouping, one row per account. People are counted by number when
a metric reads ``event_person_daily`` or ``event_person_first``: the raw rows of such a
metric whose account and person are numbered join those counts by number
(``ev_keys_no``); the others (an id no refresh has seen yet) cannot be among the rolled-up
people, so they are counted apart by id (``ev_keys``) and the two counts add up.

What each metric reads when incremental (its *mode*):

- ``daily``: ``count``/``first``/``last`` without ``where`` → ``event_rollup_daily``;
- ``person_daily``: windowed ``distinct_users`` without ``where`` → ``event_person_daily``;
- ``person_first``: ``distinct_users`` without ``where`` or window → ``event_person_first``
  (a person counts when their first event is at or before ``T - O``; no partial days), once
  the rollups keep that table (:data:`PERSON_FIRST_SPEC` among the ``specs``);
- ``spec``: ``count``/``first``/``last``/``distinct_users``/``distinct`` whose ``where``
  and ``value`` read only ``account_id``, ``event``, ``person_id`` and ``properties``
  (not ``ts``, ``received_at``, ``message_id`` or ``as_of``), once the project's rollup has
  been refreshed → ``metric_rollup_daily`` rows of that metric's :class:`RollupSpec`;
- ``raw``: everything else (``latest``, ``sum``, filters on time columns, a spec not rolled
  up yet) → raw events in the window (the whole history when the metric has no window).

``distinct`` counts values by their text (``CAST(value AS VARCHAR)``), in both modes.

Scoped: with ``accounts`` (a relation with an ``account_id`` column, e.g. the run's scope),
the query returns only those accounts, and every scan (raw events, each rollup table, the
other sources) keeps only their rows before grouping: an incremental run that needs the
metrics of a few thousand accounts does not aggregate the whole book.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast

import sqlglot
from sqlglot import exp

from tierline.compile.book import accounts_as_of_sql
from tierline.errors import CompileError
from tierline.policy.metrics import AS_OF, DIALECT, Metric, MetricSet

__all__ = [
    "ACCOUNT_NUMBERS",
    "MODES",
    "PERSON_FIRST_SPEC",
    "PERSON_NUMBERS",
    "ROLLUP_COLUMNS",
    "Mode",
    "RollupSpec",
    "bucket",
    "compile_metrics",
    "metric_mode",
    "rollup_spec",
]

Mode = Literal["daily", "person_daily", "person_first", "spec", "raw"]
MODES: tuple[Mode, ...] = ("daily", "person_daily", "person_first", "spec", "raw")
ROLLUP_COLUMNS = ("account_id", "event", "person_id", "properties")
_T = "CAST($as_of AS TIMESTAMP)"
_MARK = "CAST($mark AS TIMESTAMP)"
_DAY = "INTERVAL 1 DAY"
_ZERO_KINDS = frozenset({"count", "distinct_users", "distinct"})
_SPEC_KINDS = frozenset({"count", "first", "last", "distinct_users", "distinct"})
_SOURCES = ("events", "tickets", "nps", "billing")
# Among the ``specs`` of an incremental compile: the rollups keep ``event_person_first``.
PERSON_FIRST_SPEC = "event_person_first"
# The numbers the rollups key accounts and people by (see tierline.engine.rollup).
ACCOUNT_NUMBERS = "rollup_accounts"
PERSON_NUMBERS = "rollup_people"


def bucket(ts: str) -> str:
    """The rollup day of a timestamp: ``d`` such that ``d < ts <= d + 1 day`` (SQL)."""
    return f"CAST({ts} - INTERVAL 1 MICROSECOND AS DATE)"


def _fragment(sql: str) -> str:
    """Render an SQL fragment of metrics.yaml: ``as_of`` bound, ``a / b`` → NULL on b = 0."""
    tree = sqlglot.parse_one(sql, read=DIALECT)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name == AS_OF:
            return cast(exp.Expression, sqlglot.parse_one(_T, read=DIALECT))
        if isinstance(node, exp.Div):
            safe = exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0))
            return exp.Div(this=node.this.copy(), expression=safe)
        return node

    return tree.transform(bind).sql(dialect=DIALECT)


def _columns(sql: str | None) -> set[str]:
    if sql is None:
        return set()
    return {c.name for c in sqlglot.parse_one(sql, read=DIALECT).find_all(exp.Column)}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _interval(delta: timedelta) -> str:
    return f"INTERVAL '{int(delta.total_seconds())} seconds'"


@dataclass(frozen=True)
class RollupSpec:
    """The rows of ``metric_rollup_daily`` one filtered metric reads.

    ``item`` is what a row is keyed by besides account and day: nothing (counts, first,
    last), the person (``distinct_users``) or the value's text (``distinct``).
    """

    events: tuple[str, ...]
    where: str | None
    item: Literal["none", "person", "value"]
    value: str | None = None

    @property
    def key(self) -> str:
        """A stable id of the spec (the same definition always gives the same id)."""
        text = "\x1f".join([",".join(self.events), self.where or "", self.item, self.value or ""])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filter_sql(self) -> str:
        """The condition an event must meet to be rolled up under this spec."""
        parts = _event_filter("event", self.events)
        if self.where is not None:
            parts.append(f"({_fragment(self.where)})")
        return " AND ".join(parts) if parts else "TRUE"

    def item_sql(self) -> str:
        """The item of an event under this spec (NULL when the spec has none)."""
        if self.item == "person":
            return "person_id"
        if self.item == "value" and self.value is not None:
            return f"CAST(({_fragment(self.value)}) AS VARCHAR)"
        return "CAST(NULL AS VARCHAR)"


def _event_filter(column: str, events: Sequence[str]) -> list[str]:
    if not events:
        return []
    return [f"{column} IN ({', '.join(_quote(e) for e in events)})"]


def rollup_spec(metric: Metric) -> RollupSpec | None:
    """The spec of a filtered event metric a rollup can answer exactly (None otherwise)."""
    if metric.source != "events" or metric.kind not in _SPEC_KINDS:
        return None
    if metric.where is None and metric.kind != "distinct":
        return None
    if not (_columns(metric.where) | _columns(metric.value)) <= set(ROLLUP_COLUMNS):
        return None
    item: Literal["none", "person", "value"] = "none"
    if metric.kind == "distinct_users":
        item = "person"
    elif metric.kind == "distinct":
        item = "value"
    return RollupSpec(metric.events, metric.where, item, metric.value)


def metric_mode(metric: Metric, specs: Collection[str]) -> Mode:
    """What an incremental run reads for an event metric (see the module doc)."""
    spec = rollup_spec(metric)
    if spec is not None:
        return "spec" if spec.key in specs else "raw"
    if metric.source != "events" or metric.where is not None:
        return "raw"
    if metric.kind in ("count", "first", "last"):
        return "daily"
    if metric.kind == "distinct_users":
        if metric.window is not None:
            return "person_daily"
        return "person_first" if PERSON_FIRST_SPEC in specs else "raw"
    return "raw"


@dataclass(frozen=True)
class _Window:
    """The bounds ``(lo, hi]`` of a metric as SQL (``lo`` None: open below)."""

    lo: str | None
    hi: str

    @classmethod
    def of(cls, metric: Metric) -> _Window:
        hi = _T if not metric.offset else f"({_T} - {_interval(metric.offset)})"
        if metric.window is None:
            return cls(None, hi)
        return cls(f"({_T} - {_interval(metric.window + metric.offset)})", hi)

    def contains(self, ts: str) -> str:
        """Whether time ``ts`` is in the window."""
        parts = [f"{ts} <= {self.hi}"]
        if self.lo is not None:
            parts.append(f"{ts} > {self.lo}")
        return "(" + " AND ".join(parts) + ")"

    def high_midnight(self) -> str:
        """``H``: the last midnight at or before ``hi``."""
        return f"CAST(date_trunc('day', {self.hi}) AS TIMESTAMP)"

    def low_midnight(self) -> str:
        """``L``: the first midnight at or after ``lo`` (``lo`` must be set)."""
        floor = f"CAST(date_trunc('day', {self.lo}) AS TIMESTAMP)"
        return f"(CASE WHEN {floor} = {self.lo} THEN {floor} ELSE {floor} + {_DAY} END)"

    def whole(self, day: str) -> str:
        """Whether the rollup day ``day`` (DATE) lies wholly inside the window.

        Day ``d`` holds ``(d, d + 1 day]``: it is inside when ``L <= d`` and ``d + 1 <= H``
        (bounds are constants of ``$as_of``, so a scan of a rollup table prunes by day).
        """
        parts = [f"{day} < CAST({self.high_midnight()} AS DATE)"]
        if self.lo is not None:
            parts.append(f"{day} >= CAST({self.low_midnight()} AS DATE)")
        return "(" + " AND ".join(parts) + ")"

    def edges(self) -> str:
        """The times of the window outside its whole days (a ts range test, zone-map friendly).

        ``(lo, L]`` and ``(H, hi]`` (together all of ``(lo, hi]`` when ``L >= H``): exactly
        the times whose rollup day is not wholly inside.
        """
        high = self.high_midnight()
        if self.lo is None:
            return f"(ts > {high} AND ts <= {self.hi})"
        low = self.low_midnight()
        return f"(ts > {self.lo} AND ts <= {self.hi} AND (ts <= {low} OR ts > {high}))"


def _rows(metric: Metric) -> list[str]:
    """A raw row's filter for a metric: event names and ``where`` (source columns)."""
    parts = _event_filter(metric.spec.name_column or "", metric.events)
    if metric.where is not None:
        parts.append(f"({_fragment(metric.where)})")
    return parts


def _and(parts: Sequence[str]) -> str:
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def _key(metric: Metric) -> str:
    """The expression ``distinct_users``/``distinct`` count over raw rows."""
    if metric.kind == "distinct_users":
        return "person_id"
    return f"CAST(({_fragment(metric.value or 'NULL')}) AS VARCHAR)"


def _raw_aggregate(metric: Metric, cond: str) -> str:
    """The aggregate of a metric over raw source rows matching ``cond``."""
    spec = metric.spec
    where = f" FILTER (WHERE {cond})"
    kind = metric.kind
    if kind == "count":
        return f"COUNT(*){where}"
    if kind in ("distinct_users", "distinct"):
        return f"COUNT(DISTINCT {_key(metric)}){where}"
    if kind == "first":
        return f"MIN({spec.time}){where}"
    if kind == "last":
        return f"MAX({spec.time}){where}"
    value = _fragment(metric.value or "NULL")
    if kind == "sum":
        return f"SUM({value}){where}"
    if kind == "latest":
        tie = "message_id" if spec.name == "events" else "id"
        return f"ARG_MAX({value}, ({spec.time}, {tie})){where}"
    raise CompileError(f"metric {metric.name!r}: {kind} is not an aggregate")


def _in_scope(accounts: str | None) -> str:
    """``AND account_id IN (the scope)``, or nothing without one."""
    return "" if accounts is None else f" AND account_id IN (SELECT account_id FROM {accounts})"


def _numbers_in_scope(accounts: str | None) -> str:
    """``AND account_no IN (the scope's numbers)``, or nothing without one (rollup rows).

    The numbers are the CTE ``scope_no`` (:func:`_scope_numbers`), looked up once per query.
    """
    return "" if accounts is None else " AND account_no IN (SELECT no FROM scope_no)"


def _scope_numbers(accounts: str) -> str:
    """The CTE of the numbers of the scope's accounts (see :func:`_numbers_in_scope`)."""
    return (
        f"scope_no AS (SELECT no FROM {ACCOUNT_NUMBERS} "
        f"WHERE account_id IN (SELECT account_id FROM {accounts}))"
    )


def _named(select: str) -> str:
    """``select`` (grouped by ``account_no``) with ``account_id`` in place of the number."""
    return (
        f"SELECT n.account_id, x.* EXCLUDE (account_no) FROM ({select}) AS x "
        f"JOIN {ACCOUNT_NUMBERS} AS n ON n.no = x.account_no"
    )


def _raw_source(metrics: Sequence[Metric], source: str, accounts: str | None = None) -> str:
    """One grouped scan over a source table for every metric reading it."""
    spec = metrics[0].spec
    known = f" AND received_at <= {_T}" if spec.known_column else ""
    cols = []
    for m in metrics:
        cond = _and([_Window.of(m).contains(spec.time), *_rows(m)])
        cols.append(f"{_raw_aggregate(m, cond)} AS {_col(m.name)}")
    lows = [_Window.of(m).lo for m in metrics]
    low = "" if None in lows else f" AND {spec.time} > LEAST({', '.join(str(x) for x in lows)})"
    return (
        f"SELECT account_id, {', '.join(cols)} FROM {source} "
        f"WHERE {spec.time} <= {_T}{known}{low}{_in_scope(accounts)} GROUP BY account_id"
    )


def _raw_cond(metric: Metric, mode: Mode) -> str:
    """Which raw rows (of ``ev_raw``) a metric reads when incremental."""
    win = _Window.of(metric)
    parts = [win.contains("ts"), *_rows(metric)]
    if mode in ("daily", "person_daily", "spec"):
        parts.append(f"(received_at > {_MARK} OR NOT {win.whole('day')})")
    elif mode == "person_first":
        parts.append(f"received_at > {_MARK}")
    return _and(parts)


def _rolled_cond(metric: Metric, mode: Mode, spec_key: str | None) -> str:
    """Which rows of its rollup table a metric reads (empty for ``raw``)."""
    win = _Window.of(metric)
    events = _event_filter("event", metric.events)
    if mode in ("daily", "person_daily"):
        return _and([win.whole("day"), *events])
    if mode == "person_first":
        return _and([f"first_ts <= {win.hi}", *events])
    if mode == "spec":
        return _and([f"spec = {_quote(spec_key or '')}", win.whole("day")])
    return ""


_RAW_COLS = "account_id, {day} AS day, event, person_id, ts, properties, message_id, received_at"
_TABLES: dict[Mode, str] = {
    "daily": "event_rollup_daily",
    "person_daily": "event_person_daily",
    "person_first": "event_person_first",
    "spec": "metric_rollup_daily",
}
_COMBINE = {"count": "SUM", "first": "MIN", "last": "MAX", "distinct_users": "SUM"}


def _incremental_events(
    metrics: Sequence[Metric], specs: Collection[str], accounts: str | None = None
) -> list[str]:
    """The CTEs of an incremental run's events: ``ev_raw`` (raw rows), ``src_events``.

    ``src_events`` is one GROUP BY account over partial aggregates: one grouped scan of the
    raw rows, one of each rollup table for the ``count``/``first``/``last`` metrics, and the
    distinct counts of ``(account, metric, key)`` gathered from raw rows and rollups.
    """
    modes = {m.name: metric_mode(m, specs) for m in metrics}
    keys = {m.name: s.key for m in metrics if (s := rollup_spec(m)) is not None}
    raw_cols = _RAW_COLS.format(day=bucket("ts"))
    known = f"ts <= {_T} AND received_at <= {_T}{_in_scope(accounts)}"
    raw = [f"SELECT {raw_cols} FROM events WHERE {known} AND received_at > {_MARK}"]
    old: list[str] = []
    for m in metrics:
        if modes[m.name] in ("daily", "person_daily", "spec"):
            old.append(_and([_Window.of(m).edges(), *_rows(m)]))
        elif modes[m.name] == "raw":
            old.append(_and([_Window.of(m).contains("ts"), *_rows(m)]))
    if old:
        raw.append(
            f"SELECT {raw_cols} FROM events WHERE {known} AND received_at <= {_MARK} "
            f"AND ({' OR '.join(dict.fromkeys(old))})"
        )
    ctes = [] if accounts is None else [_scope_numbers(accounts)]
    ctes.append(f"ev_raw AS ({' UNION ALL '.join(raw)})")
    plain = [m for m in metrics if m.kind not in ("distinct_users", "distinct")]
    distinct = [m for m in metrics if m.kind in ("distinct_users", "distinct")]
    parts: list[str] = []
    if plain:
        cols = [
            f"{_raw_aggregate(m, _raw_cond(m, modes[m.name]))} AS {_col(m.name)}" for m in plain
        ]
        parts.append(f"SELECT account_id, {', '.join(cols)} FROM ev_raw GROUP BY account_id")
    for mode, table in _TABLES.items():
        group = [m for m in plain if modes[m.name] == mode]
        if not group:
            continue
        conds = {m.name: _rolled_cond(m, mode, keys.get(m.name)) for m in group}
        cols = []
        for m in group:
            agg = {"count": "SUM(n)", "first": "MIN(first_ts)", "last": "MAX(last_ts)"}[m.kind]
            cols.append(f"{agg} FILTER (WHERE {conds[m.name]}) AS {_col(m.name)}")
        parts.append(
            _named(
                f"SELECT account_no, {', '.join(cols)} FROM {table} "
                f"WHERE ({' OR '.join(dict.fromkeys(conds.values()))})"
                f"{_numbers_in_scope(accounts)} GROUP BY account_no"
            )
        )
    if distinct:
        ctes.extend(_distinct_keys(distinct, modes, keys, accounts))
        counts = [
            "SELECT account_id, metric, COUNT(DISTINCT key) AS n FROM ev_keys "
            "GROUP BY account_id, metric"
        ]
        if any(modes[m.name] in _PEOPLE_MODES for m in distinct):
            counts.append(
                _named(
                    "SELECT account_no, metric, COUNT(DISTINCT key) AS n FROM ev_keys_no "
                    "GROUP BY account_no, metric"
                )
            )
        cols = [
            f"SUM(n) FILTER (WHERE metric = {i}) AS {_col(m.name)}" for i, m in enumerate(distinct)
        ]
        parts.append(
            f"SELECT account_id, {', '.join(cols)} FROM "
            f"({' UNION ALL '.join(f'({c})' for c in counts)}) GROUP BY account_id"
        )
    combined = [
        f"{_COMBINE.get(m.kind, 'ANY_VALUE') if m.kind != 'distinct' else 'SUM'}"
        f"({_col(m.name)}) AS {_col(m.name)}"
        for m in metrics
    ]
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    ctes.append(
        f"src_events AS (SELECT account_id, {', '.join(combined)} FROM ({union}) "
        "GROUP BY account_id)"
    )
    return ctes


# Modes whose rollups count people by number (the others count keys by their text).
_PEOPLE_MODES: frozenset[Mode] = frozenset({"person_daily", "person_first"})


def _distinct_keys(
    distinct: Sequence[Metric],
    modes: dict[str, Mode],
    keys: dict[str, str],
    accounts: str | None,
) -> list[str]:
    """The CTEs of the keys the ``distinct*`` metrics count (``i``: the metric's index).

    ``ev_keys(account_id, metric, key)``: text keys (raw rows, ``metric_rollup_daily``
    items, and the raw people a refresh has not numbered yet); ``ev_keys_no(account_no,
    metric, key)``: numbered people (rollup rows and the raw rows whose account and person
    are numbered). No key is in both, so their distinct counts add up.
    """
    text: list[str] = []
    people: list[str] = []
    numbered: list[str] = []
    for i, m in enumerate(distinct):
        mode = modes[m.name]
        raw = (
            f"SELECT account_id, {i} AS metric, {_key(m)} AS key FROM ev_raw "
            f"WHERE {_raw_cond(m, mode)}"
        )
        if mode in _PEOPLE_MODES:
            people.append(raw)
            numbered.append(
                f"SELECT account_no, {i} AS metric, person_no AS key FROM {_TABLES[mode]} "
                f"WHERE {_rolled_cond(m, mode, keys.get(m.name))}{_numbers_in_scope(accounts)}"
            )
            continue
        text.append(raw)
        if mode == "spec":
            text.append(
                _named(
                    f"SELECT account_no, {i} AS metric, item AS key FROM {_TABLES[mode]} "
                    f"WHERE {_rolled_cond(m, mode, keys.get(m.name))}"
                    f"{_numbers_in_scope(accounts)}"
                )
            )
    ctes: list[str] = []
    if people:
        ctes.append(
            "ev_people AS (SELECT r.account_id, r.metric, r.key, a.no AS account_no, "
            f"p.no AS person_no FROM ({' UNION ALL '.join(people)}) AS r "
            f"LEFT JOIN {ACCOUNT_NUMBERS} AS a ON a.account_id = r.account_id "
            f"LEFT JOIN {PERSON_NUMBERS} AS p ON p.person_id = r.key WHERE r.key IS NOT NULL)"
        )
        text.append(
            "SELECT account_id, metric, key FROM ev_people "
            "WHERE account_no IS NULL OR person_no IS NULL"
        )
        numbered.insert(
            0,
            "SELECT account_no, metric, person_no AS key FROM ev_people "
            "WHERE account_no IS NOT NULL AND person_no IS NOT NULL",
        )
        ctes.append(f"ev_keys_no AS ({' UNION ALL '.join(numbered)})")
    ctes.append(f"ev_keys AS ({' UNION ALL '.join(text)})")
    return ctes


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


def account_fields(metrics: MetricSet) -> tuple[str, ...]:
    """The account fields the ``expr`` metrics read."""
    names = set(metrics.names) | {AS_OF}
    refs = (r for m in metrics.expressions for r in m.refs if r not in names)
    return tuple(dict.fromkeys(refs))


def compile_metrics(
    metrics: MetricSet,
    *,
    incremental: bool = False,
    specs: Collection[str] = (),
    accounts: str | None = None,
) -> str:
    """One SQL query computing every metric per account as of ``$as_of`` (see module doc).

    ``incremental`` reads the rollups (parameter ``$mark`` = their watermark); ``specs``
    are the :attr:`RollupSpec.key` s that ``metric_rollup_daily`` holds; ``accounts`` (a
    table name or a parenthesised SELECT with ``account_id``) limits the query to those
    accounts. The SQL does not depend on T, so it is compiled once per metric set (a
    backtest reuses it every day).
    """
    wanted = frozenset(specs) if incremental else frozenset()
    keys = frozenset(s for s in wanted if s in _keys(metrics) or s == PERSON_FIRST_SPEC)
    return _compile(metrics, incremental, keys, accounts)


def _keys(metrics: MetricSet) -> frozenset[str]:
    return frozenset(s.key for m in metrics.aggregates if (s := rollup_spec(m)) is not None)


@functools.lru_cache(maxsize=64)
def _compile(
    metrics: MetricSet, incremental: bool, specs: frozenset[str], accounts: str | None
) -> str:
    fields = account_fields(metrics)
    extra = "".join(f", {_col(f)}" for f in fields)
    # with accounts, their versions are filtered before the latest of each is picked
    ctes = [f"acct AS (SELECT id AS account_id{extra} FROM {accounts_as_of_sql(_T, accounts)})"]
    joins: list[str] = []
    for source in _SOURCES:
        group = [m for m in metrics.aggregates if m.source == source]
        if not group:
            continue
        if source == "events" and incremental:
            ctes.extend(_incremental_events(group, specs, accounts))
        else:
            ctes.append(f"src_{source} AS ({_raw_source(group, source, accounts)})")
        joins.append(f"LEFT JOIN src_{source} USING (account_id)")
    base = ["account_id", *(_col(f) for f in fields)]
    for m in metrics.aggregates:
        ref = f"src_{m.source}.{_col(m.name)}"
        base.append(f"{f'COALESCE({ref}, 0)' if m.kind in _ZERO_KINDS else ref} AS {_col(m.name)}")
    query = f"SELECT {', '.join(base)} FROM acct {' '.join(joins)}"
    for i, level in enumerate(_levels(metrics)):
        cols = ["*", *(f"{_fragment(m.expr or 'NULL')} AS {_col(m.name)}" for m in level)]
        query = f"SELECT {', '.join(cols)} FROM ({query}) AS level{i}"
    names = "".join(f", {_col(n)}" for n in metrics.names)
    sql = f"WITH {', '.join(ctes)} SELECT account_id{names} FROM ({query}) AS result"
    try:
        sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise CompileError(f"metrics compile to invalid SQL: {exc}") from exc
    return sql
