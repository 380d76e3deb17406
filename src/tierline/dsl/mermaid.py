"""Draw a tree as a Mermaid flowchart.

Questions are boxes (``Q1: text``), outcomes are rounded boxes (label, then code) filled with
their colour; every answer is an edge labelled with its key and label. Node names are
generated (``q1``, ``o1``…) so that no tree id can collide with Mermaid keywords, and label
text is written as quoted strings with Mermaid entity codes for the characters that would
break them.
"""

from __future__ import annotations

from tierline.dsl.model import Answer, Tree
from tierline.dsl.palette import safe_color, text_color

__all__ = ["escape_mermaid", "tree_to_mermaid"]

_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "|": "#124;",
    "`": "#96;",
    "\\": "#92;",
    "[": "#91;",
    "]": "#93;",
    "{": "#123;",
    "}": "#125;",
}


def escape_mermaid(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label (entity codes, line breaks as ``<br/>``)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br/>".join("".join(_ENTITIES.get(c, c) for c in line) for line in lines)


def _edge_label(answer: Answer) -> str:
    text = answer.key if answer.label == answer.key else f"{answer.key}: {answer.label}"
    return escape_mermaid(text)


def tree_to_mermaid(tree: Tree) -> str:
    """A Mermaid ``flowchart TD`` of ``tree``: every node and edge, outcomes in colour."""
    names = {("q", q.id): f"q{i}" for i, q in enumerate(tree.questions, start=1)}
    names.update({("o", o.id): f"o{i}" for i, o in enumerate(tree.outcomes, start=1)})
    lines = ["flowchart TD"]
    if tree.name:
        lines.insert(0, f"%% {tree.name.replace(chr(10), ' ')}")
    for question in tree.questions:
        label = escape_mermaid(f"{question.id}: {question.text}")
        lines.append(f'  {names["q", question.id]}["{label}"]')
    for outcome in tree.outcomes:
        label = escape_mermaid(outcome.label or outcome.id)
        if outcome.code:
            label += "<br/>" + escape_mermaid(outcome.code)
        lines.append(f'  {names["o", outcome.id]}(["{label}"])')
    for question in tree.questions:
        for answer in question.answers:
            kind = "o" if answer.target.is_outcome else "q"
            target = names.get((kind, answer.target.id))
            if target is None:
                continue
            lines.append(f'  {names["q", question.id]} -->|"{_edge_label(answer)}"| {target}')
    if tree.entry is not None and ("q", tree.entry) in names:
        lines.append(f"  style {names['q', tree.entry]} stroke-width:3px")
    for outcome in tree.outcomes:
        fill = safe_color(outcome.color)
        if fill is not None:
            lines.append(
                f"  style {names['o', outcome.id]} fill:{fill},color:{text_color(fill)},"
                f"stroke:{fill}"
            )
    return "\n".join(lines) + "\n"
