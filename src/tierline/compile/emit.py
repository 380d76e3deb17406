"""Dialect output: one compiled AST, written as DuckDB, PostgreSQL or Spark SQL."""

from __future__ import annotations

from typing import Literal

from sqlglot import exp

from tierline.errors import UsageError

__all__ = ["DIALECTS", "Dialect", "check_dialect", "to_sql"]

Dialect = Literal["duckdb", "postgres", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "postgres", "spark")


def check_dialect(name: str) -> Dialect:
    """``name`` as a :data:`Dialect`, or a UsageError listing the supported ones."""
    if name not in DIALECTS:
        raise UsageError(f"unknown SQL dialect {name!r}; choose one of {', '.join(DIALECTS)}")
    return name


def to_sql(expr: exp.Expression, dialect: str = "duckdb", pretty: bool = False) -> str:
    """The SQL text of ``expr`` in ``dialect`` (duckdb | postgres | spark).

    >>> from sqlglot import exp
    >>> to_sql(exp.select("id").from_("accounts"), "spark")
    'SELECT id FROM accounts'
    """
    return expr.sql(dialect=check_dialect(dialect), pretty=pretty)
