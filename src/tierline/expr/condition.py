"""Conditions: SQL boolean expressions over account fields, parsed and checked by sqlglot.

A condition is what a policy file writes after ``when:`` or inside ``all:`` / ``any:``::

    acv >= 25000 AND NOT needs_integration

It must be a single boolean expression (a comparison, ``AND`` / ``OR`` / ``NOT``, ``IS``,
``IN``, ``BETWEEN``, ``LIKE``, or a boolean field on its own), built only from known names,
literals, arithmetic and a few plain functions (:data:`ALLOWED_FUNCTIONS`). Queries,
subqueries, qualified names and other functions are refused, because the compiler inlines
conditions into its own SQL and the reference evaluator must be able to read them.

Diagnostics point inside the file: ``loc`` is the position of the condition's first
character in the file (after an opening quote), and a name found at offset ``k`` of the
text is reported at column ``loc.col + k``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tierline.diagnostics import Diagnostic, suggest
from tierline.errors import PolicyError
from tierline.policy.model import Loc

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DIALECT",
    "check_condition",
    "parse_condition",
    "referenced_names",
]

DIALECT = "duckdb"

# Plain scalar functions a condition may call, by sqlglot expression class.
ALLOWED_FUNCTIONS: Mapping[str, type[exp.Expression]] = {
    "ABS": exp.Abs,
    "COALESCE": exp.Coalesce,
    "GREATEST": exp.Greatest,
    "LEAST": exp.Least,
    "LOWER": exp.Lower,
    "NULLIF": exp.Nullif,
    "UPPER": exp.Upper,
}

# Expressions whose value is a boolean (what a condition's top level must be).
_BOOLEAN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Boolean,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)

# Node classes a condition may contain: the boolean ones, the operands and arithmetic they
# work on, and the allowed functions.
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    *_BOOLEAN_NODES,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Null,
    exp.Paren,
    exp.Neg,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Tuple,
    exp.Cast,
    exp.DataType,
    *ALLOWED_FUNCTIONS.values(),
)


def _at(loc: Loc, sql: str, offset: int) -> tuple[int, int]:
    """The file line and column of character ``offset`` of ``sql`` that starts at ``loc``."""
    before = sql[:offset]
    newlines = before.count("\n")
    if newlines == 0:
        return loc.line, loc.col + offset
    return loc.line + newlines, loc.col + len(before) - before.rfind("\n") - 1


class _Checker:
    def __init__(self, sql: str, known: Mapping[str, str], loc: Loc) -> None:
        self.sql = sql
        self.known = known
        self.loc = loc
        self.problems: list[Diagnostic] = []

    def add(self, offset: int, length: int, message: str, hint: str | None = None) -> None:
        line, col = _at(self.loc, self.sql, offset)
        self.problems.append(
            Diagnostic(self.loc.path, line, col, message, length=max(1, length), hint=hint)
        )

    def whole(self, message: str, hint: str | None = None) -> None:
        stripped = self.sql.lstrip()
        self.add(len(self.sql) - len(stripped), len(stripped.rstrip()), message, hint)

    def parse(self) -> exp.Expression | None:
        if not self.sql.strip():
            self.whole("empty condition")
            return None
        try:
            trees = sqlglot.parse(self.sql, read=DIALECT)
        except ParseError as exc:
            for err in exc.errors[:1] or [{}]:
                self._parse_error(err)
            return None
        except TokenError as exc:
            self.whole(f"cannot read condition: {exc}")
            return None
        statements = [t for t in trees if t is not None]
        if len(statements) != 1:
            self.whole("a condition is one expression, not several statements")
            return None
        statement = statements[0]
        if not isinstance(statement, exp.Expression):
            self.whole("a condition is an expression, not a statement")
            return None
        return statement

    def _parse_error(self, err: Mapping[str, object]) -> None:
        description = str(err.get("description") or "syntax error")
        highlight = str(err.get("highlight") or "")
        line, col = err.get("line"), err.get("col")
        if not isinstance(line, int) or not isinstance(col, int):
            self.whole(f"invalid condition: {description}")
            return
        # sqlglot's col is the last column of the highlighted token.
        lines = self.sql.split("\n")
        offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(0, col - len(highlight))
        # "… missing for <class 'sqlglot.expressions.core.GTE'>" → "… missing for GTE"
        detail = re.sub(r"<class '[\w.]*\.(\w+)'>", r"\1", description)
        message = f"invalid condition near {highlight!r}" if highlight else "invalid condition"
        self.add(offset, len(highlight), message, f"sqlglot: {detail}")

    def check(self, tree: exp.Expression) -> None:
        for node in tree.walk():
            if isinstance(node, exp.Query | exp.Subquery):
                top = isinstance(tree, exp.Query | exp.Subquery)
                what = "is an expression, not" if top else "cannot contain"
                self.whole(f"a condition {what} a query")
                return
            if isinstance(node, _ALLOWED_NODES):
                continue
            if isinstance(node, exp.Func):
                name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
                self.whole(
                    f"function {name.upper()!r} is not allowed in a condition",
                    f"allowed functions: {', '.join(ALLOWED_FUNCTIONS)}",
                )
            else:
                self.whole(
                    f"{node.key.upper()} is not allowed in a condition",
                    "write a boolean expression over field names, e.g. 'acv >= 25000'",
                )
            return
        for column in tree.find_all(exp.Column):
            self._check_column(column)
        if not self.problems:
            self._check_boolean(tree)

    def _check_column(self, column: exp.Column) -> None:
        ident = column.this
        start = ident.meta.get("start") if isinstance(ident, exp.Identifier) else None
        offset = start if isinstance(start, int) else max(0, self.sql.find(column.name))
        if column.table:
            table = column.args.get("table")
            first = table.meta.get("start") if isinstance(table, exp.Identifier) else None
            at = first if isinstance(first, int) else offset
            self.add(at, len(column.sql()), f"qualified name {column.sql()!r} is not allowed")
            return
        name = column.name
        if name not in self.known:
            self.add(offset, len(name), f"unknown name {name!r}", suggest(name, self.known))

    def _check_boolean(self, tree: exp.Expression) -> None:
        node = tree
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, _BOOLEAN_NODES):
            return
        if isinstance(node, exp.Column):
            kind = self.known.get(node.name)
            if kind == "boolean":
                return
            self.whole(
                f"condition must be true or false, but {node.name!r} is a {kind} field",
                f"compare it, e.g. '{node.name} > 0'",
            )
            return
        self.whole("condition must be a boolean expression (a comparison, AND, OR, NOT …)")


def check_condition(
    sql: str, known: Mapping[str, str], loc: Loc
) -> tuple[exp.Expression | None, list[Diagnostic]]:
    """Parse and check ``sql``; the expression (None when unreadable) and every problem."""
    checker = _Checker(sql, known, loc)
    tree = checker.parse()
    if tree is not None:
        checker.check(tree)
    return tree, checker.problems


def parse_condition(sql: str, known: Mapping[str, str], loc: Loc | None = None) -> exp.Expression:
    """The sqlglot expression of a valid condition; raises :class:`PolicyError` otherwise.

    >>> parse_condition("acv >= 25000 AND NOT vip", {"acv": "number", "vip": "boolean"}).sql()
    'acv >= 25000 AND NOT vip'
    """
    tree, problems = check_condition(sql, known, loc or Loc("<condition>", 1, 1))
    if problems or tree is None:
        raise PolicyError(problems)
    return tree


def referenced_names(expr: exp.Expression) -> set[str]:
    """The unqualified column names an expression reads.

    >>> sorted(referenced_names(parse_condition("a > 1 OR b", {"a": "number", "b": "boolean"})))
    ['a', 'b']
    """
    return {c.name for c in expr.find_all(exp.Column)}
