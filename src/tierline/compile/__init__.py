"""Policy → SQL: segmentations (bound trees and rule tables) as one sqlglot SELECT each.

>>> from tierline.compile import segmentation_select, to_sql  # doctest: +SKIP
>>> print(to_sql(segmentation_select(seg, project), "postgres"))  # doctest: +SKIP

The SELECT reads ``source`` (a table or view of accounts, one row each) and yields
``account_id``, ``outcome`` (NULL when unassigned) and ``explanation`` (JSON text).
:func:`segmentation_decisions` gives the decision code instead, with every code's
explanation template (see :mod:`tierline.compile.decision`).
"""

from __future__ import annotations

from collections import OrderedDict

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


# Compiled decision SELECTs, most recently used last. A compile reads only the
# segmentation, the project's fields and the source name (all immutable and hashable), so
# equal keys compile to equal SQL; the policy content hash is not enough on its own (a
# programmatic Project may reuse a version string).
_DECISIONS: OrderedDict[tuple[object, ...], DecisionSelect] = OrderedDict()
_DECISIONS_KEPT = 32


def segmentation_decisions(
    seg: Segmentation, project: Project, source: str = "accounts"
) -> DecisionSelect:
    """Compile one segmentation to ``SELECT account_id, outcome, decision, explanation``.

    The explanation is filled for unassigned accounts only; every decision code's full
    explanation is in the result's :class:`Decision` list. Compiles are memoised per
    process on (segmentation, fields, source), so a resident engine (a scheduler running
    ``run`` daily, a backtest stepping day by day) compiles the policy once and generates
    its SQL text once (:meth:`DecisionSelect.sql`). The result is shared: do not modify
    its expressions (copy them first).
    """
    key = (seg, project.fields, source)
    kept = _DECISIONS.get(key)
    if kept is None:
        if seg.tree is not None:
            kept = compile_tree_decisions(seg, project, source)
        elif seg.table is not None:
            kept = compile_table_decisions(seg.table, project, source)
        else:
            raise CompileError(f"segmentation {seg.id!r} has neither a tree nor a rule table")
        _DECISIONS[key] = kept
        while len(_DECISIONS) > _DECISIONS_KEPT:
            _DECISIONS.popitem(last=False)
    else:
        _DECISIONS.move_to_end(key)
    return kept
