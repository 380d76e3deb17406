"""metrics.yaml: named per-account aggregates as of a time T, loaded into frozen dataclasses.

A metrics file maps a metric name to one definition::

    logins_30d:       {count: {event: login}, window: 30d}
    usage_prev_30d:   {count: {}, window: 30d, offset: 30d}
    active_users_30d: {distinct_users: {}, window: 30d}
    steps_completed:  {distinct: {event: step_completed, value: "properties->>'step'"}}
    first_login_at:   {first: {event: login}}
    last_nps:         {latest: {source: nps, value: score}}
    usage_change_30d: {expr: "(usage_30d - usage_prev_30d) / NULLIF(usage_prev_30d, 0)"}

Kinds: ``count``, ``distinct_users`` (distinct ``person_id``), ``distinct`` (distinct
``value``), ``first`` / ``last`` (the time of the first / last matching row), ``latest``
(``value`` of the most recent matching row), ``sum`` (of ``value``), and ``expr`` (SQL over
other metrics, account fields and ``as_of``). The body of an aggregate takes:

- ``source``: ``events`` (default), ``tickets`` (time ``opened_at``), ``nps``
  (``responded_at``) or ``billing`` (``ts``);
- ``event``: a name or a list of names (``event`` column of events, ``kind`` of billing);
- ``where``: an SQL filter over the source's columns; event properties are read with
  DuckDB's JSON operators, e.g. ``"properties->>'plan' = 'pro'"`` (one filter form only,
  so that anything a property can be compared with is expressible);
- ``value``: an SQL expression over the source's columns (``latest``, ``sum``, ``distinct``).

``window`` (``30d``, ``12h``, ``2w``) and ``offset`` (same units) sit beside the kind.

Semantics as of T (every interval is open below and closed above, so consecutive windows
tile time, and "as of T" includes T as everywhere else in the engine):

- a row belongs to the book as of T when its time is at or before T, and an event also needs
  ``received_at <= T`` (an event that arrived after T was not known at T, which keeps
  backtests reproducible);
- ``window: W, offset: O`` keeps rows with time in ``(T - W - O, T - O]``: an event at
  exactly ``T`` is inside ``logins_30d``, one at exactly ``T - 30d`` is not (it was in the
  window of the run 30 days earlier); with no window the lower end is open (all time up to
  ``T - O``);
- ``count``/``distinct_users``/``distinct`` of an account without rows are 0; ``first``,
  ``last``, ``latest`` and ``sum`` are NULL; ``distinct`` compares values as text; ``latest``
  breaks ties on time by the row id (``message_id`` for events); in an ``expr``, ``a / b``
  is NULL when ``b`` is 0.

Compiled by :mod:`tierline.compile.metric`, computed by :mod:`tierline.engine.metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tierline.diagnostics import Diagnostic, suggest
from tierline.errors import PolicyError
from tierline.policy.model import CORE_ACCOUNT_FIELDS, FieldDef, Loc
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos, parse_marked

__all__ = [
    "AS_OF",
    "KINDS",
    "SOURCES",
    "Metric",
    "MetricKind",
    "MetricSet",
    "SourceSpec",
    "load_metrics",
    "load_metrics_text",
    "parse_duration",
]

MetricKind = Literal[
    "count", "distinct_users", "distinct", "first", "last", "latest", "sum", "expr"
]
KINDS: tuple[MetricKind, ...] = (
    "count",
    "distinct_users",
    "distinct",
    "first",
    "last",
    "latest",
    "sum",
    "expr",
)
AS_OF = "as_of"  # the evaluation time, readable in every SQL fragment of a metrics file
DIALECT = "duckdb"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_BODY_KEYS = ("event", "where", "source", "value")
_DEF_KEYS = ("window", "offset", "description")
_VALUE_KINDS = frozenset({"latest", "sum", "distinct"})


@dataclass(frozen=True)
class SourceSpec:
    """A table metrics read: its time column, columns, and what ``event:`` filters on."""

    name: str
    time: str
    columns: tuple[str, ...]
    name_column: str | None = None
    known_column: str | None = None


SOURCES: Mapping[str, SourceSpec] = {
    "events": SourceSpec(
        "events",
        "ts",
        ("message_id", "account_id", "person_id", "event", "ts", "properties", "received_at"),
        name_column="event",
        known_column="received_at",
    ),
    "tickets": SourceSpec(
        "tickets",
        "opened_at",
        (
            "id",
            "account_id",
            "person_id",
            "opened_at",
            "closed_at",
            "priority",
            "status",
            "subject",
        ),
    ),
    "nps": SourceSpec(
        "nps", "responded_at", ("id", "account_id", "person_id", "score", "responded_at", "comment")
    ),
    "billing": SourceSpec(
        "billing", "ts", ("id", "account_id", "kind", "ts", "amount"), name_column="kind"
    ),
}


@dataclass(frozen=True)
class Metric:
    """One metric: an aggregate over a source in a window, or an ``expr`` over others.

    ``refs`` are the names an ``expr`` reads (metrics and account fields), in order.
    """

    name: str
    kind: MetricKind
    source: str = "events"
    events: tuple[str, ...] = ()
    where: str | None = None
    value: str | None = None
    window: timedelta | None = None
    offset: timedelta = timedelta(0)
    expr: str | None = None
    refs: tuple[str, ...] = ()
    loc: Loc = field(default=Loc(), compare=False)

    @property
    def is_expr(self) -> bool:
        """Whether this metric is computed from other metrics rather than a source."""
        return self.kind == "expr"

    @property
    def spec(self) -> SourceSpec:
        """The source table this aggregate reads."""
        return SOURCES[self.source]


@dataclass(frozen=True)
class MetricSet:
    """The metrics of a project, in dependency order (an expr after everything it reads)."""

    metrics: tuple[Metric, ...] = ()
    path: str = "metrics.yaml"

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric name, in dependency order."""
        return tuple(m.name for m in self.metrics)

    def get(self, name: str) -> Metric | None:
        """The metric called ``name``, or None."""
        return next((m for m in self.metrics if m.name == name), None)

    def needed(self, names: Iterable[str]) -> MetricSet:
        """The metrics ``names`` and every metric they read, transitively, in dependency order.

        Names that are not metrics (account fields, say) are ignored.

        >>> ms = MetricSet((Metric("a", "count"), Metric("b", "count"),
        ...                 Metric("c", "expr", expr="a * 2", refs=("a", "plan"))))
        >>> ms.needed(["c"]).names
        ('a', 'c')
        """
        by_name = {m.name: m for m in self.metrics}
        keep: set[str] = set()
        todo = [n for n in names if n in by_name]
        while todo:
            name = todo.pop()
            if name in keep:
                continue
            keep.add(name)
            todo.extend(r for r in by_name[name].refs if r in by_name)
        return MetricSet(tuple(m for m in self.metrics if m.name in keep), self.path)

    @property
    def aggregates(self) -> tuple[Metric, ...]:
        """The metrics read from a source table."""
        return tuple(m for m in self.metrics if not m.is_expr)

    @property
    def expressions(self) -> tuple[Metric, ...]:
        """The ``expr`` metrics, in dependency order."""
        return tuple(m for m in self.metrics if m.is_expr)


def parse_duration(text: str) -> timedelta | None:
    """A window or offset such as ``30d``, ``12h`` or ``2w``; None when unreadable.

    >>> parse_duration("2w")
    datetime.timedelta(days=14)
    """
    match = _DURATION.match(text)
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def _field_names(known_fields: Iterable[str | FieldDef]) -> tuple[str, ...]:
    return tuple(f if isinstance(f, str) else f.name for f in known_fields)


def load_metrics(
    path: Path, known_fields: Iterable[str | FieldDef] = CORE_ACCOUNT_FIELDS
) -> MetricSet:
    """Load and check a metrics.yaml; raises :class:`PolicyError` with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        diag = Diagnostic(str(path), 1, 1, f"cannot read metrics file: {exc.strerror}")
        raise PolicyError([diag]) from exc
    return load_metrics_text(text, str(path), known_fields)


def load_metrics_text(
    text: str,
    path: str = "metrics.yaml",
    known_fields: Iterable[str | FieldDef] = CORE_ACCOUNT_FIELDS,
) -> MetricSet:
    """Load metrics from YAML text (``path`` names it in diagnostics).

    >>> load_metrics_text("logins_30d: {count: {event: login}, window: 30d}").names
    ('logins_30d',)
    """
    reader = _Reader(text, path, _field_names(known_fields))
    metrics = reader.read()
    if reader.problems:
        raise PolicyError(reader.problems, {path: text})
    return MetricSet(metrics, path)


class _Reader:
    """Turns marked YAML into metrics, collecting every problem of the file."""

    def __init__(self, text: str, path: str, fields: tuple[str, ...]) -> None:
        self.text = text
        self.path = path
        self.fields = fields
        self.problems: list[Diagnostic] = []

    def add(self, pos: Pos, message: str, hint: str | None = None, length: int = 0) -> None:
        size = length or pos.length
        self.problems.append(
            Diagnostic(self.path, pos.line, pos.col, message, length=size, hint=hint)
        )

    def loc(self, pos: Pos) -> Loc:
        return Loc(self.path, pos.line, pos.col, pos.length)

    def read(self) -> tuple[Metric, ...]:
        data, duplicates, problems = parse_marked(self.text)
        for problem in problems:
            self.add(problem.pos, problem.message, problem.hint)
        for dup in duplicates:
            where = f"first defined on line {dup.first.line}"
            self.add(dup.pos, f"metric or key {dup.key!r} is defined twice", where)
        if data is None:
            return ()
        if not isinstance(data, MarkedDict):
            self.add(Pos(), "metrics.yaml must map metric names to definitions")
            return ()
        parsed: list[tuple[Metric, exp.Expression | None, Pos]] = []
        for name, body in data.items():
            item = self.metric(name, body, data.key_pos[name], data.value_pos[name])
            if item is not None:
                parsed.append(item)
        names = {m.name for m, _, _ in parsed}
        for name, pos in data.key_pos.items():
            if name in self.fields or name in (AS_OF, "account_id"):
                self.add(pos, f"metric {name!r} has the name of an account field or a built-in")
            elif not _NAME.match(name):
                self.add(pos, f"metric name {name!r} is not a name (letters, digits, _)")
        exprs = {m.name: m for m, _, _ in parsed if m.is_expr}
        resolved = [self.resolve(m, tree, pos, names) for m, tree, pos in parsed]
        self.check_cycles(exprs)
        return _dependency_order(resolved) if not self.problems else tuple(resolved)

    def metric(
        self, name: str, body: object, key_pos: Pos, value_pos: Pos
    ) -> tuple[Metric, exp.Expression | None, Pos] | None:
        loc = self.loc(key_pos)
        if not isinstance(body, MarkedDict):
            self.add(value_pos, f"metric {name!r} must be a mapping such as {{count: {{...}}}}")
            return None
        kinds = [k for k in body if k in KINDS]
        for key in body:
            if key not in KINDS and key not in _DEF_KEYS:
                hint = suggest(key, (*KINDS, *_DEF_KEYS))
                self.add(body.key_pos[key], f"unknown key {key!r} in metric {name!r}", hint)
        if not kinds:
            if all(k in KINDS or k in _DEF_KEYS for k in body):
                self.add(key_pos, f"metric {name!r} has no kind", f"use one of {', '.join(KINDS)}")
            return None
        if len(kinds) > 1:
            self.add(
                body.key_pos[kinds[1]], f"metric {name!r} has two kinds: {kinds[0]}, {kinds[1]}"
            )
            return None
        kind: MetricKind = next(k for k in KINDS if k == kinds[0])
        if kind == "expr":
            return self.expr_metric(name, body, loc)
        return self.aggregate(name, kind, body, loc), None, value_pos

    def expr_metric(
        self, name: str, body: MarkedDict, loc: Loc
    ) -> tuple[Metric, exp.Expression | None, Pos] | None:
        for key in ("window", "offset"):
            if key in body:
                self.add(
                    body.key_pos[key], f"an expr metric has no {key}: put it on the metrics read"
                )
        sql = body["expr"]
        pos = body.value_pos["expr"]
        if not isinstance(sql, str):
            self.add(pos, f"expr of metric {name!r} must be an SQL expression in a string")
            return None
        tree = self.parse_sql(sql, pos, "expr")
        refs: tuple[str, ...] = ()
        if tree is not None:
            refs = tuple(dict.fromkeys(c.name for c in tree.find_all(exp.Column)))
        return Metric(name, "expr", expr=sql, refs=refs, loc=loc), tree, pos

    def aggregate(self, name: str, kind: MetricKind, body: MarkedDict, loc: Loc) -> Metric:
        window = self.duration(body, "window")
        offset = self.duration(body, "offset") or timedelta(0)
        inner = body[kind]
        inner_pos = body.value_pos[kind]
        if inner is None:
            inner = MarkedDict(inner_pos)
        if not isinstance(inner, MarkedDict):
            self.add(inner_pos, f"{kind} takes a mapping, e.g. {{event: login}} or {{}}")
            return Metric(name, kind, window=window, offset=offset, loc=loc)
        for key in inner:
            if key not in _BODY_KEYS:
                hint = suggest(key, _BODY_KEYS)
                self.add(inner.key_pos[key], f"unknown key {key!r} in {kind}", hint)
        source = self.source(inner, kind)
        spec = SOURCES[source]
        events = self.events(inner, spec)
        where = self.fragment(inner, "where", spec)
        value = self.fragment(inner, "value", spec)
        if kind in _VALUE_KINDS and value is None and "value" not in inner:
            self.add(inner_pos, f"{kind} needs a value: the column or expression it reads")
        if kind not in _VALUE_KINDS and "value" in inner:
            self.add(inner.key_pos["value"], f"{kind} takes no value")
        if kind == "distinct_users" and "person_id" not in spec.columns:
            self.add(inner.key_pos.get("source", inner_pos), f"{source} rows have no person_id")
        return Metric(name, kind, source, events, where, value, window, offset, loc=loc)

    def duration(self, body: MarkedDict, key: str) -> timedelta | None:
        if key not in body:
            return None
        raw = body[key]
        pos = body.value_pos[key]
        parsed = parse_duration(str(raw)) if isinstance(raw, str | int) else None
        if parsed is None or (key == "window" and parsed <= timedelta(0)):
            self.add(
                pos, f"{key} {raw!r} is not a duration", "write a count and a unit: 30d, 12h, 2w"
            )
            return None
        return parsed

    def source(self, inner: MarkedDict, kind: str) -> str:
        raw = inner.get("source", "events")
        if isinstance(raw, str) and raw in SOURCES:
            return raw
        pos = inner.value_pos.get("source", inner.start)
        self.add(pos, f"unknown source {raw!r} for {kind}", suggest(str(raw), SOURCES))
        return "events"

    def events(self, inner: MarkedDict, spec: SourceSpec) -> tuple[str, ...]:
        if "event" not in inner:
            return ()
        raw = inner["event"]
        pos = inner.value_pos["event"]
        if spec.name_column is None:
            self.add(inner.key_pos["event"], f"{spec.name} rows have no event name; use where")
            return ()
        items = list(raw) if isinstance(raw, MarkedList) else [raw]
        if not items or not all(isinstance(x, str) and x for x in items):
            self.add(pos, "event must be a name or a list of names")
            return ()
        return tuple(str(x) for x in items)

    def fragment(self, inner: MarkedDict, key: str, spec: SourceSpec) -> str | None:
        if key not in inner:
            return None
        raw = inner[key]
        pos = inner.value_pos[key]
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            self.add(pos, f"{key} must be SQL in a string")
            return None
        sql = str(raw)
        tree = self.parse_sql(sql, pos, key)
        if tree is not None:
            self.check_names(tree, sql, pos, (*spec.columns, AS_OF), f"{spec.name} column")
        return sql

    def parse_sql(self, sql: str, pos: Pos, what: str) -> exp.Expression | None:
        if not sql.strip():
            self.add(pos, f"empty {what}")
            return None
        try:
            trees = [t for t in sqlglot.parse(sql, read=DIALECT) if t is not None]
        except ParseError as exc:
            err = exc.errors[0] if exc.errors else {}
            line, col = err.get("line"), err.get("col")
            highlight = str(err.get("highlight") or "")
            offset = 0
            if isinstance(line, int) and isinstance(col, int):
                lines = sql.split("\n")
                offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(0, col - len(highlight))
            desc = str(err.get("description") or "syntax error")
            self.add(_shift(pos, sql, offset), f"invalid {what}: {desc}", length=len(highlight))
            return None
        except TokenError as exc:
            self.add(pos, f"cannot read {what}: {exc}")
            return None
        if len(trees) != 1 or not isinstance(trees[0], exp.Expression) or _is_statement(trees[0]):
            self.add(pos, f"{what} must be one SQL expression")
            return None
        tree = trees[0]
        for node in tree.walk():
            if isinstance(node, exp.Query | exp.Subquery | exp.AggFunc | exp.Window):
                self.add(pos, f"{what} cannot contain a query, an aggregate or a window function")
                return None
        return tree

    def check_names(
        self, tree: exp.Expression, sql: str, pos: Pos, known: Iterable[str], what: str
    ) -> None:
        pool = tuple(known)
        for column in tree.find_all(exp.Column):
            start = (
                column.this.meta.get("start") if isinstance(column.this, exp.Identifier) else None
            )
            offset = start if isinstance(start, int) else max(0, sql.find(column.name))
            where = _shift(pos, sql, offset)
            if column.table:
                self.add(
                    where,
                    f"qualified name {column.sql()!r} is not allowed",
                    length=len(column.sql()),
                )
            elif column.name not in pool:
                hint = suggest(column.name, pool)
                self.add(where, f"unknown {what} {column.name!r}", hint, length=len(column.name))

    def resolve(
        self, metric: Metric, tree: exp.Expression | None, expr_pos: Pos, names: set[str]
    ) -> Metric:
        if tree is None or not metric.is_expr or metric.expr is None:
            return metric
        known = (*sorted(names - {metric.name}), *self.fields, AS_OF)
        self.check_names(tree, metric.expr, expr_pos, known, "name")
        if metric.name in metric.refs:
            pos = Pos(metric.loc.line, metric.loc.col, metric.loc.length)
            self.add(pos, f"metric {metric.name!r} reads itself")
        return metric

    def check_cycles(self, exprs: Mapping[str, Metric]) -> None:
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            trail.append(name)
            for ref in exprs[name].refs:
                if ref not in exprs or ref == name:
                    continue
                if state.get(ref) == 1:
                    cycle = [*trail[trail.index(ref) :], ref]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        first = exprs[cycle[0]].loc
                        self.add(
                            Pos(first.line, first.col, first.length),
                            "metric dependency cycle: " + " -> ".join(cycle),
                            "an expr cannot read, directly or not, its own value",
                        )
                elif ref not in state:
                    visit(ref, trail)
            trail.pop()
            state[name] = 2

        for name in exprs:
            if name not in state:
                visit(name, [])


def _is_statement(tree: exp.Expression) -> bool:
    return isinstance(tree, exp.Query | exp.Insert | exp.Delete | exp.Update | exp.Create)


def _shift(pos: Pos, sql: str, offset: int) -> Pos:
    """The file position of character ``offset`` of ``sql`` whose content starts at ``pos``."""
    before = sql[:offset]
    newlines = before.count("\n")
    if newlines == 0:
        return Pos(pos.line, pos.content_col + offset)
    return Pos(pos.line + newlines, pos.content_col + len(before) - before.rfind("\n") - 1)


def _dependency_order(metrics: list[Metric]) -> tuple[Metric, ...]:
    """Metrics in file order, except that each expr comes after the metrics it reads."""
    by_name = {m.name: m for m in metrics}
    placed: dict[str, Metric] = {}

    def place(metric: Metric) -> None:
        if metric.name in placed:
            return
        for ref in metric.refs:
            dep = by_name.get(ref)
            if dep is not None and dep.name != metric.name:
                place(dep)
        placed[metric.name] = metric

    for metric in metrics:
        place(metric)
    return tuple(placed.values())
