"""Write a tree in one of the export formats, chosen by name.

``EXPORTERS`` maps a format name to a function ``Tree -> str``; each format adds one entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tierline.dsl.canonical import tree_to_json
from tierline.dsl.dot import tree_to_dot
from tierline.dsl.mermaid import tree_to_mermaid
from tierline.dsl.model import Tree
from tierline.dsl.page import tree_to_html
from tierline.errors import UsageError

__all__ = ["EXPORTERS", "export_json", "export_tree"]


def export_json(tree: Tree) -> str:
    """The canonical JSON of ``tree``, indented, with a final newline."""
    return json.dumps(tree_to_json(tree), indent=2, ensure_ascii=False) + "\n"


EXPORTERS: dict[str, Callable[[Tree], str]] = {
    "json": export_json,
    "mermaid": tree_to_mermaid,
    "dot": tree_to_dot,
    "html": tree_to_html,
}


def export_tree(tree: Tree, fmt: str) -> str:
    """``tree`` as text in format ``fmt`` (a key of :data:`EXPORTERS`)."""
    exporter = EXPORTERS.get(fmt.lower())
    if exporter is None:
        known = ", ".join(sorted(EXPORTERS))
        raise UsageError(f"unknown export format {fmt!r}; choose one of: {known}")
    return exporter(tree)
