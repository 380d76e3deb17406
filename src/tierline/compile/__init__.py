"""Policy → SQL: segmentations (bound trees and rule tables) as one sqlglot SELECT each.

>>> from tierline.compile import segmentation_select, to_sql  # doctest: +SKIP
>>> print(to_sql(segmentation_select(seg, project), "postgres"))  # doctest: +SKIP

The SELECT reads ``source`` (a table or view of accounts, one row each) and yields
``account_id``, ``outcome`` (NULL when unassigned) and ``explanation`` (JSON text).
"""

from __future__ import annotations

from sqlglot import exp

from tierline.compile.emit import DIALECTS, Dialect, check_dialect, to_sql
from tierline.compile.table import compile_table
from tierline.compile.tree import compile_tree
from tierline.errors import CompileError
from tierline.policy.model import Project, Segmentation

__all__ = [
    "DIALECTS",
    "Dialect",
    "check_dialect",
    "compile_table",
    "compile_tree",
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
