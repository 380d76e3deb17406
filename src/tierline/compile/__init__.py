"""Policy → SQL: segmentations (bound trees and rule tables) as one sqlglot SELECT each.

>>> from tierline.compile import segmentation_select, to_sql  # doctest: +SKIP
>>> print(to_sql(segmentation_select(seg, project), "postgres"))  # doctest: +SKIP

The SELECT reads ``source`` (a table or view of accounts, one row each) and yields
``account_id``, ``outcome`` (NULL when unassigned) and ``explanation`` (JSON text).
:func:`segmentation_decisions` gives the decision code instead, with every code's
explanation template (see :mod:`tierline.compile.decision`).
"""

from __future__ import annotations

from sqlglot import exp

from tierline.compile.decision import Decision, DecisionSelect
from tierline.compile.emit import DIALECTS, Dialect, check_dialect, to_sql
from tierline.compile.table import compile_table, compile_table_decisions
from tierline.compile.tree import compile_tree, compile_tree_decisions
from tierline.errors import CompileError
from tierline.policy.model import Project, Segmentation

__all__ = [
    "DIALECTS",
    "Decision",
    "DecisionSelect",
    "Dialect",
    "check_dialect",
    "compile_table",
    "compile_tree",
    "segmentation_decisions",
    "segmentation_select",
    "to_sql",
]


def segmentation_select(
    seg: Segmentation, project: Project, source: str = "accounts"
) -> exp.Select:
    """Compile one segmentation to ``SELECT account_id, outcome, explanation FROM source``."""
    if seg.tree is not None:
        return compile_tree(seg, project, source)
    if seg.table is not None:
        return compile_table(seg.table, project, source)
    raise CompileError(f"segmentation {seg.id!r} has neither a tree nor a rule table")


def segmentation_decisions(
    seg: Segmentation, project: Project, source: str = "accounts"
) -> DecisionSelect:
    """Compile one segmentation to ``SELECT account_id, outcome, decision, explanation``.

    The explanation is filled for unassigned accounts only; every decision code's full
    explanation is in the result's :class:`Decision` list.
    """
    if seg.tree is not None:
        return compile_tree_decisions(seg, project, source)
    if seg.table is not None:
        return compile_table_decisions(seg.table, project, source)
    raise CompileError(f"segmentation {seg.id!r} has neither a tree nor a rule table")
