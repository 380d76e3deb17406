"""Write a :class:`~tierline.dsl.model.Tree` back as DSL text in the canonical layout.

The layout is the seed's: header lines, a blank line, each question block (``hint:`` first,
then other fields, then answers; ``yes``/``no`` aligned as ``yes -> X`` / ``no  -> X``),
each outcome block with its indented fields, blank lines between blocks, and a final
newline.
"""

from __future__ import annotations

from tierline.dsl.model import Answer, Outcome, Question, Tree

__all__ = ["layout_tree", "tree_to_dsl"]

_INDENT = "  "
_BARE_KEYS = {"yes", "no"}


def _pair(key: str, value: str) -> str:
    return f"{key}: {value}" if value else f"{key}:"


def _is_bare(answer: Answer) -> bool:
    return answer.key.lower() in _BARE_KEYS and answer.label == answer.key


def _question_lines(question: Question) -> list[str]:
    lines = [_pair(question.id, question.text)]
    if question.hint is not None:
        lines.append(_INDENT + _pair("hint", question.hint))
    lines += [_INDENT + _pair(k, v) for k, v in question.extra]
    width = max((len(a.key) for a in question.answers if _is_bare(a)), default=0)
    for answer in question.answers:
        if _is_bare(answer):
            lines.append(f"{_INDENT}{answer.key.ljust(width)} -> {answer.target}")
        else:
            lines.append(f"{_INDENT}{answer.key}: {answer.label} -> {answer.target}")
    return lines


def _outcome_lines(outcome: Outcome) -> list[str]:
    lines = [_pair(f"[{outcome.id}]", outcome.label)]
    lines += [_INDENT + _pair(k, v) for k, v in outcome.fields]
    return lines


def layout_tree(tree: Tree) -> str:
    """The canonical DSL text of ``tree``, ignoring any source text it was parsed from."""
    blocks: list[list[str]] = []
    if tree.headers:
        blocks.append([_pair(h.key, h.value) for h in tree.headers])
    blocks += [_question_lines(q) for q in tree.questions]
    blocks += [_outcome_lines(o) for o in tree.outcomes]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def tree_to_dsl(tree: Tree) -> str:
    """DSL text of ``tree``: its source verbatim when it has one, else the canonical layout."""
    return tree.source if tree.source is not None else layout_tree(tree)
