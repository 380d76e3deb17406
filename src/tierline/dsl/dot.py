"""Draw a tree as a Graphviz DOT digraph.

Node ids are quoted: a question is ``"Q1"``, an outcome ``"[OUT]"`` (brackets cannot occur in
a question id, so the two never collide). Long texts are wrapped; quotes and backslashes in
labels are escaped.
"""

from __future__ import annotations

import textwrap

from tierline.dsl.model import Answer, Tree
from tierline.dsl.palette import safe_color, text_color

__all__ = ["quote_dot", "tree_to_dot"]

_WIDTH = 40


def quote_dot(text: str, wrap: int = 0) -> str:
    """``text`` as a quoted DOT string; wrapped at ``wrap`` columns with ``\\n`` when > 0."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if wrap:
        lines = [
            part
            for line in lines
            for part in (textwrap.wrap(line, wrap, break_long_words=False) or [""])
        ]
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def _edge_label(answer: Answer) -> str:
    text = answer.key if answer.label == answer.key else f"{answer.key}: {answer.label}"
    return quote_dot(text, _WIDTH)


def tree_to_dot(tree: Tree) -> str:
    """A DOT ``digraph`` of ``tree``: every node and edge, outcomes filled with their colour."""
    lines = [
        f"digraph {quote_dot(tree.name or 'tree')} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for question in tree.questions:
        width = "3" if question.id == tree.entry else "1"
        label = quote_dot(f"{question.id}: {question.text}", _WIDTH)
        lines.append(
            f'  {quote_dot(question.id)} [shape=box, style="rounded", penwidth={width}, '
            f"label={label}];"
        )
    for outcome in tree.outcomes:
        text = outcome.label or outcome.id
        if outcome.code:
            text += "\n" + outcome.code
        attrs = ["shape=box", 'style="rounded,filled"']
        fill = safe_color(outcome.color)
        if fill is not None:
            attrs += [f'fillcolor="{fill}"', f'fontcolor="{text_color(fill)}"']
        else:
            attrs.append('fillcolor="#f3f4f6"')
        attrs.append(f"label={quote_dot(text, _WIDTH)}")
        lines.append(f"  {quote_dot(f'[{outcome.id}]')} [{', '.join(attrs)}];")
    for question in tree.questions:
        for answer in question.answers:
            target = quote_dot(str(answer.target))
            lines.append(f"  {quote_dot(question.id)} -> {target} [label={_edge_label(answer)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
