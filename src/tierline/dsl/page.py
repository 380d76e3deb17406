"""Write a tree as one self-contained HTML page that walks it in the browser.

The page is rendered from the package template ``templates/walk.html.j2`` (Jinja2, with
autoescape). The tree travels inside it as JSON in a ``<script type="application/json">``
element, with ``<``, ``>``, ``&`` and the line separators escaped so that no text of the
tree can end the element. A Content-Security-Policy forbids every network request.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from tierline.dsl.model import Tree
from tierline.dsl.palette import safe_color, text_color

__all__ = ["embed_json", "page_data", "tree_to_html"]

_TEMPLATE = "walk.html.j2"
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def embed_json(value: Any) -> Markup:
    """``value`` as JSON that is safe inside an HTML ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup("".join(_JSON_ESCAPES.get(c, c) for c in text))


def page_data(tree: Tree) -> dict[str, Any]:
    """What the page's script needs: entry, questions and outcomes (with safe colours)."""
    outcomes = []
    for outcome in tree.outcomes:
        fill = safe_color(outcome.color)
        outcomes.append(
            {
                "id": outcome.id,
                "label": outcome.label,
                "description": outcome.description,
                "code": outcome.code,
                "color": fill,
                "textColor": text_color(fill) if fill else None,
            }
        )
    return {
        "title": tree.name or "Decision tree",
        "entry": tree.entry,
        "questions": [
            {
                "id": q.id,
                "text": q.text,
                "hint": q.hint,
                "answers": [
                    {
                        "key": a.key,
                        "label": a.label,
                        "target": a.target.id,
                        "outcome": a.target.is_outcome,
                    }
                    for a in q.answers
                ],
            }
            for q in tree.questions
        ],
        "outcomes": outcomes,
    }


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("tierline.dsl", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def tree_to_html(tree: Tree) -> str:
    """The tree as one HTML page that needs nothing but itself (no network, no files)."""
    template = _environment().get_template(_TEMPLATE)
    return template.render(
        title=tree.name or "Decision tree",
        description=tree.header("description"),
        data=embed_json(page_data(tree)),
    )
