"""Small SQL building blocks shared by the tree and rule-table compilers.

Conditions are parsed from their DuckDB-flavoured SQL text, checked against the project's
account fields, and explanations are assembled as JSON *strings* in portable SQL (``||``
with every dynamic piece wrapped in COALESCE), so the same AST transpiles to any dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlglot import exp

from tierline.errors import CompileError, PolicyError
from tierline.expr.condition import parse_condition
from tierline.policy.model import Condition, FieldDef, Project

__all__ = [
    "concat",
    "condition_columns",
    "json_inputs",
    "json_text",
    "literal",
    "parse_condition_sql",
    "sql_text",
]


def parse_condition_sql(cond: Condition, project: Project) -> exp.Expression:
    """Parse a condition and check it names only account fields (CompileError if not)."""
    known = {f.name: f.type for f in project.fields}
    try:
        return parse_condition(cond.sql, known, cond.loc)
    except PolicyError as err:
        raise CompileError(str(err)) from err


def condition_columns(trees: Iterable[exp.Expression]) -> list[str]:
    """The distinct column names the expressions read, in first-seen order."""
    seen: dict[str, None] = {}
    for tree in trees:
        for col in tree.find_all(exp.Column, bfs=False):
            seen.setdefault(col.name, None)
    return list(seen)


def literal(value: object) -> exp.Expression:
    """A SQL literal for a Python str, bool, int, float or None."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(int(value) if value.is_integer() else repr(value))
    return exp.Literal.string(str(value))


def sql_text(text: str) -> exp.Expression:
    """A string literal."""
    return exp.Literal.string(text)


def concat(parts: Sequence[exp.Expression]) -> exp.Expression:
    """``a || b || …`` with adjacent string literals merged (NULL-safe when pieces are)."""
    merged: list[exp.Expression] = []
    for part in parts:
        prev = merged[-1] if merged else None
        if (
            isinstance(part, exp.Literal)
            and part.is_string
            and isinstance(prev, exp.Literal)
            and prev.is_string
        ):
            merged[-1] = exp.Literal.string(prev.this + part.this)
        else:
            merged.append(part)
    if not merged:
        return exp.Literal.string("")
    out = merged[0]
    for part in merged[1:]:
        out = exp.DPipe(this=out, expression=part, safe=True)
    return out


def json_text(value: object) -> str:
    """A Python value as compact JSON text (the static parts of explanations)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# (character, its JSON escape), backslash first so later escapes are not doubled.
_ESCAPES: tuple[tuple[str, str], ...] = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
)


def _json_value(column: str, field: FieldDef | None) -> exp.Expression:
    """SQL yielding the JSON text of one column's value (``null`` when NULL)."""
    col = exp.column(column)
    kind = field.type if field is not None else "string"
    varchar = exp.DataType.build("VARCHAR")
    if kind in ("boolean", "integer", "number"):
        # CAST gives true/false and plain numbers in DuckDB, PostgreSQL and Spark alike.
        return exp.Coalesce(this=exp.Cast(this=col, to=varchar), expressions=[sql_text("null")])
    # Strings, dates and timestamps: a quoted JSON string with \ " and \n \r \t escaped
    # (other control characters are not expected in account fields).
    escaped: exp.Expression = exp.Cast(this=col, to=varchar)
    for raw, json_escape in _ESCAPES:
        escaped = exp.Anonymous(
            this="REPLACE", expressions=[escaped, sql_text(raw), sql_text(json_escape)]
        )
    quoted = concat([sql_text('"'), escaped, sql_text('"')])
    return exp.Coalesce(this=quoted, expressions=[sql_text("null")])


def json_inputs(columns: Sequence[str], project: Project) -> list[exp.Expression]:
    """SQL pieces yielding ``{"col":value,…}`` for the named columns."""
    parts: list[exp.Expression] = [sql_text("{")]
    for i, name in enumerate(columns):
        sep = "," if i else ""
        parts.append(sql_text(f"{sep}{json_text(name)}:"))
        parts.append(_json_value(name, project.field_def(name)))
    parts.append(sql_text("}"))
    return parts
