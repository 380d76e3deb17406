"""Coverage analysis for the linter: gaps and overlaps of segmentations, with witnesses.

Rule tables are analysed SET-BASED: every input field gets a short list of representative
values derived from the conditions (each literal a field is compared with, one value in
each open stretch between such boundaries, one below and one above), the grid of all their
combinations is built in DuckDB (a CROSS JOIN, sampled when it would exceed
:data:`GRID_CAP` points) and the compiled table SQL runs over it. Points no rule matches
(and no default) are gaps; for ``unique`` points several rules match (for ``any``, rules
that disagree) are overlaps. Gap points are grouped into regions by the truth values of the
conditions' atoms and up to :data:`MAX_REGIONS` regions are reported, each with a witness.

The boundaries are exact for atoms that compare a field with a literal (``acv >= 5000``,
``BETWEEN``, ``IN``); for arithmetic over fields the literals found are used as hints.

Domains (a documented choice): ``acv`` is >= 0 and never NULL (it is required); integer
fields are counts, >= 0; number fields are unbounded. NULL is treated separately: points
where a nullable field is NULL and no non-NULL value of that field leaves a gap are
reported as a *note* ("NULL-only gap"), not mixed with real gaps.

Range-bound tree questions are checked the same way over the bound field's domain.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from tierline.compile import segmentation_select
from tierline.compile.fragment import concat, literal, parse_condition_sql, sql_text
from tierline.compile.table import NO_MATCH, compile_table, rule_condition, table_columns
from tierline.compile.tree import answer_intervals, entry_question
from tierline.diagnostics import Diagnostic, Severity
from tierline.errors import CompileError
from tierline.expr.ranges import Interval, format_number
from tierline.policy.model import Binding, FieldDef, Project, RuleTable, Segmentation

__all__ = [
    "GRID_CAP",
    "MAX_REGIONS",
    "Domain",
    "coverage_diagnostics",
    "field_domain",
    "representatives",
    "table_coverage",
    "tree_coverage",
]

GRID_CAP = 1_000_000
MAX_REGIONS = 3
_OTHER = "~other~"
# Core fields that every account has (see notes/datamodel.md): never NULL.
_REQUIRED = {"id", "acv", "closed_won_at"}


@dataclass(frozen=True)
class Domain:
    """The values a field can take: a lower bound, whole numbers only, NULL allowed."""

    low: float | None
    integral: bool
    nullable: bool


def field_domain(field: FieldDef) -> Domain:
    """The domain of a field: acv >= 0, integer counts >= 0, required core fields non-NULL."""
    nullable = field.name not in _REQUIRED
    if field.name == "acv":
        return Domain(0.0, False, nullable)
    if field.type == "integer":
        return Domain(0.0, True, nullable)
    return Domain(None, False, nullable)


def _number(node: exp.Expression) -> float | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    if isinstance(node, exp.Neg):
        inner = _number(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Paren):
        return _number(node.this)
    return None


def _boundaries(trees: Iterable[exp.Expression]) -> dict[str, set[object]]:
    """For each column, the literals it is compared with (numbers or strings)."""
    found: dict[str, set[object]] = {}
    kinds = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
    for tree in trees:
        for node in tree.find_all(*kinds):
            cols = {c.name for c in node.find_all(exp.Column)}
            values: set[object] = set()
            for lit in node.find_all(exp.Literal):
                values.add(str(lit.this) if lit.is_string else float(lit.this))
            for neg in node.find_all(exp.Neg):
                num = _number(neg)
                if num is not None:
                    values.add(num)
            for col in cols:
                found.setdefault(col, set()).update(values)
    return found


def representatives(bounds: Iterable[float], domain: Domain) -> list[float]:
    """One value per region the boundaries cut the domain into, plus each boundary.

    >>> representatives([5000, 25000], Domain(0.0, False, False))
    [0.0, 4999.0, 5000, 24999.0, 25000, 25001.0]
    """
    raw = sorted({b for b in bounds if math.isfinite(b)})
    if domain.integral:
        raw = sorted({float(x) for b in raw for x in (math.floor(b), math.ceil(b))})
    if domain.low is not None:
        raw = sorted({domain.low, *(b for b in raw if b >= domain.low)})
    if not raw:
        return [0.0 if domain.low is None else domain.low]
    out: list[float] = []
    if domain.low is None:
        out.append(raw[0] - 1.0)
    for a, b in itertools.pairwise(raw):
        out.append(a)
        inside = b - 1.0 if b - a > 1.0 else (None if domain.integral else (a + b) / 2.0)
        if inside is not None and a < inside < b:
            out.append(inside)
    out.append(raw[-1])
    out.append(raw[-1] + 1.0)
    return out


def _values(field: FieldDef, hints: set[object]) -> list[object]:
    domain = field_domain(field)
    values: list[object]
    if field.type == "boolean":
        values = [True, False]
    elif field.type in ("integer", "number"):
        nums = representatives([h for h in hints if isinstance(h, float)], domain)
        values = [int(v) for v in nums] if field.type == "integer" else list(nums)
    else:
        values = [*sorted({str(h) for h in hints if isinstance(h, str)}), _OTHER]
    return [*values, None] if domain.nullable else values


_SQL_TYPE = {"boolean": "BOOLEAN", "integer": "BIGINT", "number": "DOUBLE"}


def _show(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return format_number(float(value))
    return repr(value)


def _witness(names: list[str], row: tuple[object, ...]) -> str:
    return ", ".join(f"{n}={_show(v)}" for n, v in zip(names, row, strict=True))


def _atoms(table: RuleTable, project: Project) -> list[exp.Expression]:
    """The smallest conditions the rules combine (each `all`/`any` item, each `when`)."""
    out: list[exp.Expression] = []
    for rule in table.rules:
        conds = ([rule.when] if rule.when else []) + list(rule.all) + list(rule.any)
        out.extend(parse_condition_sql(c, project) for c in conds)
    return out


def _signature(atoms: list[exp.Expression]) -> exp.Expression:
    parts: list[exp.Expression] = [
        exp.Case()
        .when(exp.Paren(this=a.copy()), sql_text("T"))
        .when(exp.Not(this=exp.Paren(this=a.copy())), sql_text("F"))
        .else_(sql_text("N"))
        for a in atoms
    ]
    return concat(parts) if parts else sql_text("")


def _loc(table: RuleTable) -> tuple[str, int, int]:
    path = table.loc.path if table.loc.path != "<policy>" else table.path
    return path, max(table.loc.line, 1), max(table.loc.col, 1)


def _grid(
    con: duckdb.DuckDBPyConnection, fields: list[FieldDef], values: list[list[object]]
) -> int:
    for i, (field, vals) in enumerate(zip(fields, values, strict=True)):
        kind = _SQL_TYPE.get(field.type, "VARCHAR")
        con.execute(f'CREATE TEMP TABLE v{i} ("{field.name}" {kind})')
        con.executemany(f"INSERT INTO v{i} VALUES (?)", [[v] for v in vals])
    size = math.prod(len(v) for v in values)
    joins = " CROSS JOIN ".join(f"v{i}" for i in range(len(fields))) or "(SELECT 1 AS one)"
    sample = f" USING SAMPLE reservoir({GRID_CAP} ROWS) REPEATABLE (7)" if size > GRID_CAP else ""
    con.execute(
        f"CREATE TEMP TABLE grid AS SELECT CAST(row_number() OVER () AS VARCHAR) AS id, * "
        f"FROM (SELECT * FROM {joins}{sample})"
    )
    return min(size, GRID_CAP)


def table_coverage(table: RuleTable, project: Project) -> list[Diagnostic]:
    """Gaps (and, for unique / any, overlaps) of a rule table, each with a witness."""
    names = table_columns(table, project)
    order = {f.name: i for i, f in enumerate(project.fields)}
    names.sort(key=lambda n: order.get(n, len(order)))
    fields = [project.field_def(n) or FieldDef(n, "string") for n in names]
    conds = [c for r in table.rules if (c := rule_condition(r, project)) is not None]
    hints = _boundaries(conds)
    values = [_values(f, hints.get(f.name, set())) for f in fields]
    con = duckdb.connect()
    try:
        _grid(con, fields, values)
        compiled = compile_table(table, project, "grid").sql(dialect="duckdb")
        nulls: list[exp.Expression] = [
            exp.Is(this=exp.column(n), expression=exp.Null()) for n in names
        ]
        null_count = exp.Paren(this=_sum_flags(nulls)) if nulls else literal(0)
        sig = _signature(_atoms(table, project)).sql(dialect="duckdb")
        con.execute(
            f"CREATE TEMP TABLE res AS SELECT g.*, c.outcome, "
            f"json_extract_string(c.explanation, '$.reason') AS reason, "
            f"CAST(json_extract(c.explanation, '$.matched') AS VARCHAR) AS matched, "
            f"{sig} AS sig, {null_count.sql(dialect='duckdb')} AS nulls, "
            f"c.outcome IS NULL AND json_extract_string(c.explanation, '$.reason') = "
            f"'{NO_MATCH}' AS gap "
            f"FROM grid AS g JOIN ({compiled}) AS c ON c.account_id = g.id"
        )
        return _report(con, table, names)
    finally:
        con.close()


def _sum_flags(flags: list[exp.Expression]) -> exp.Expression:
    out: exp.Expression = exp.Case().when(flags[0], literal(1)).else_(literal(0))
    for f in flags[1:]:
        out = exp.Add(this=out, expression=exp.Case().when(f, literal(1)).else_(literal(0)))
    return out


def _report(con: duckdb.DuckDBPyConnection, table: RuleTable, names: list[str]) -> list[Diagnostic]:
    path, line, col = _loc(table)
    cols = ", ".join(f'"{n}"' for n in names) or "NULL"
    desc = ", ".join(f'"{n}" DESC NULLS LAST' for n in names) or "1"
    out: list[Diagnostic] = []

    def regions(where: str, key: str) -> list[tuple[object, ...]]:
        return con.execute(
            f"SELECT {cols}, matched, n, total FROM (SELECT *, count(*) OVER (PARTITION BY {key}) "
            f"AS n, row_number() OVER (PARTITION BY {key} ORDER BY {desc}) AS k, "
            f"count(DISTINCT {key}) OVER () AS total FROM res WHERE {where}) "
            f"WHERE k = 1 ORDER BY n DESC, {desc} LIMIT {MAX_REGIONS}"
        ).fetchall()

    def add(message: str, severity: Severity, hint: str) -> None:
        out.append(Diagnostic(path, line, col, message, severity, 1, hint))

    for row in regions("gap AND nulls = 0", "sig"):
        total = int(row[-1])  # type: ignore[call-overload]
        more = f" (1 of {total} uncovered regions)" if total > 1 else ""
        add(
            f"rule table {table.id!r} has a gap: no rule matches "
            f"{_witness(names, row[: len(names)])}{more}",
            "warning",
            "add a rule for this case, or a `default:` outcome",
        )
    if table.hit in ("unique", "any"):
        clash = "reason LIKE 'several rules match%' OR reason LIKE 'matching rules disagree%'"
        for row in regions(f"({clash}) AND nulls = 0", "matched"):
            what = "match together" if table.hit == "unique" else "disagree"
            rules = " and ".join(json.loads(str(row[len(names)])))
            add(
                f"rule table {table.id!r} (hit: {table.hit}): rules {rules} {what}, "
                f"e.g. {_witness(names, row[: len(names)])}",
                "warning",
                "make the conditions exclusive, or use hit: first / priority",
            )
    out.extend(_null_gaps(con, table, names))
    return out


def _null_gaps(
    con: duckdb.DuckDBPyConnection, table: RuleTable, names: list[str]
) -> list[Diagnostic]:
    """Notes for fields whose NULL alone leaves accounts unmatched (NULL-only gaps)."""
    path, line, col = _loc(table)
    cols = ", ".join(f'p."{n}"' for n in names)
    desc = ", ".join(f'p."{n}" DESC NULLS LAST' for n in names)
    notes: list[Diagnostic] = []
    for name in names:
        same = [f'q."{o}" IS NOT DISTINCT FROM p."{o}"' for o in names if o != name]
        row = con.execute(
            f"SELECT {cols} FROM res AS p WHERE p.gap AND p.nulls = 1 "
            f'AND p."{name}" IS NULL AND NOT EXISTS (SELECT 1 FROM res AS q '
            f"WHERE q.gap AND q.nulls = 0 AND {' AND '.join(same) or 'TRUE'}) "
            f"ORDER BY {desc} LIMIT 1"
        ).fetchone()
        if row is None:
            continue
        notes.append(
            Diagnostic(
                path,
                line,
                col,
                f"rule table {table.id!r}: no rule matches when {name} is NULL, e.g. "
                f"{_witness(names, tuple(row))}",
                "note",
                1,
                f"a NULL {name} makes its conditions UNKNOWN (not matched); "
                "use COALESCE in the condition or add a `default:` if that is not intended",
            )
        )
    return notes[:MAX_REGIONS]


def _point_in(intervals: list[Interval], x: float) -> list[int]:
    return [i for i, iv in enumerate(intervals) if iv.contains(x)]


def _gap_witnesses(points: list[float], intervals: list[Interval]) -> list[float]:
    """The first uncovered point of each run of uncovered points (one witness per gap)."""
    out: list[float] = []
    covered = True
    for x in points:
        hit = bool(_point_in(intervals, x))
        if not hit and covered:
            out.append(x)
        covered = hit
    return out


def _binding_loc(b: Binding, path: str, line: int, col: int) -> tuple[str, int, int]:
    """Where a binding is written, or (when it has no place) the question in the tree file."""
    if b.loc.line > 0:
        return b.loc.path, b.loc.line, max(b.loc.col, 1)
    return path, max(line, 1), max(col, 1)


def tree_coverage(seg: Segmentation, project: Project) -> list[Diagnostic]:
    """Gaps and overlaps of every field-bound range question over the field's domain."""
    tree = seg.tree
    if tree is None:
        return []
    out: list[Diagnostic] = []
    for q in tree.questions:
        b = seg.binding(q.id)
        field = project.field_def(b.field) if b is not None and b.field else None
        if b is None or field is None or field.type not in ("integer", "number"):
            continue
        intervals = answer_intervals(q)
        if intervals is None:
            continue
        bounds = [x for iv in intervals for x in (iv.low, iv.high) if x is not None]
        points = representatives(bounds, field_domain(field))
        where = _binding_loc(b, tree.path, q.span.line, q.span.col)
        gaps = _gap_witnesses(points, intervals)
        if gaps:
            shown = ", ".join(f"{field.name}={format_number(x)}" for x in gaps[:MAX_REGIONS])
            severity: Severity = "note" if b.null else "warning"
            then = f"they take answer {b.null!r} (null:)" if b.null else "they stay unassigned"
            out.append(
                Diagnostic(
                    *where,
                    f"{q.id} of {seg.id!r}: no answer covers {shown}; {then}",
                    severity,
                    1,
                    f"widen an answer's range at {tree.path}:{max(q.span.line, 1)} "
                    "so the ranges meet",
                )
            )
        for x in points:
            hits = _point_in(intervals, x)
            if len(hits) > 1:
                keys = " and ".join(q.answers[i].key for i in hits)
                out.append(
                    Diagnostic(
                        *where,
                        f"{q.id} of {seg.id!r}: answers {keys} overlap at "
                        f"{field.name}={format_number(x)} (the first in order wins)",
                        "warning",
                        1,
                        "make the ranges meet without overlapping",
                    )
                )
                break
    return out


def coverage_diagnostics(project: Project) -> list[Diagnostic]:
    """Lint check: compile errors, tree range gaps/overlaps and rule-table coverage."""
    out: list[Diagnostic] = []
    for seg in project.segmentations:
        try:
            segmentation_select(seg, project)
            if seg.tree is not None:
                entry_question(seg.tree)
                out.extend(tree_coverage(seg, project))
            elif seg.table is not None:
                out.extend(table_coverage(seg.table, project))
        except CompileError as err:
            line, col = max(seg.loc.line, 1), max(seg.loc.col, 1)
            out.append(Diagnostic(seg.loc.path, line, col, str(err), "error"))
    return out
