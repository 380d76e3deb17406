"""Decision codes: what a segmentation decided for an account, as a small integer.

Next to the explanation SELECT (:func:`tierline.compile.segmentation_select`), each
segmentation compiles to a *decision SELECT* that yields, per account, the outcome and a
``decision`` code instead of the explanation JSON:

- a tree: the number of the leaf the account reaches (an outcome, or an *unassigned* leaf);
- a rule table: the 1-based file-order number of the rule that decides the outcome, or 0
  when no single rule decides it (the table's default, ``collect``, or unassigned).

Every code comes with a :class:`Decision`: a template (the path with the names of the input
fields each step reads, or the table's rules and their conditions) and ``explanation``, a
SQL expression over the account's columns that renders the full explanation JSON. For an
account with code ``c``, that expression gives exactly the text the explanation SELECT
gives, so an explanation can be recorded *by reference* (the code) and rendered later from
the account as it was when it was decided. The decision SELECT's ``explanation`` column is
filled only where the outcome is NULL (the unassigned accounts, whose reason is reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from sqlglot import exp

from tierline.compile.emit import to_sql
from tierline.compile.fragment import json_text

__all__ = [
    "DECISION_COLUMN",
    "Decision",
    "DecisionSelect",
    "inline_columns",
    "template_text",
]

DECISION_COLUMN = "decision"


@dataclass(frozen=True)
class Decision:
    """One decision a segmentation can make.

    ``outcome`` is the outcome the decision always gives (None: unassigned, or it varies,
    as for a rule table's code 0); ``template`` the explanation's shape as JSON text, with
    the input field names but not their values; ``explanation`` the SQL rendering the full
    explanation JSON from the account's columns.
    """

    code: int
    outcome: str | None
    template: str
    explanation: exp.Expression


@dataclass(frozen=True)
class DecisionSelect:
    """``SELECT account_id, outcome, decision, explanation`` and the decisions it can yield.

    ``explanation`` holds the explanation JSON for the accounts whose outcome is NULL only.
    A compiled SELECT may be shared (compiles are memoised): treat its expressions as
    read-only; :meth:`sql`, :attr:`explanation_sqls` and :attr:`columns` generate their
    text once per object.
    """

    select: exp.Select
    decisions: tuple[Decision, ...]
    _sql: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def sql(self, dialect: str = "duckdb") -> str:
        """The SELECT as SQL text in ``dialect`` (generated once per dialect)."""
        if dialect not in self._sql:
            self._sql[dialect] = to_sql(self.select, dialect)
        return self._sql[dialect]

    @cached_property
    def explanation_sqls(self) -> tuple[str, ...]:
        """The DuckDB SQL rendering each decision's explanation, in ``decisions`` order."""
        return tuple(to_sql(d.explanation, "duckdb") for d in self.decisions)

    @cached_property
    def columns(self) -> frozenset[str]:
        """The lower-cased names of every column the SELECT reads."""
        return frozenset(c.name.lower() for c in self.select.find_all(exp.Column))

    def decision(self, code: int) -> Decision:
        """The decision with ``code`` (KeyError if none)."""
        for d in self.decisions:
            if d.code == code:
                return d
        raise KeyError(code)


def template_text(value: Mapping[str, object]) -> str:
    """A template as compact JSON text."""
    return json_text(value)


def inline_columns(expr: exp.Expression, values: Mapping[str, exp.Expression]) -> exp.Expression:
    """``expr`` with every column named in ``values`` replaced by its expression."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            return values[node.name].copy()
        return node

    return expr.copy().transform(swap)
