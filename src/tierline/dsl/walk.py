"""Walk a tree from its entry to an outcome, by given answers or interactively.

A walk is a list of :class:`Step` (a question and the answer taken) that ends on an
:class:`~tierline.dsl.model.Outcome`. Answers are matched by key (``B``, ``yes``; any case)
or by a unique prefix of the answer's label (``under`` → ``A: Under $10,000``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tierline.diagnostics import suggest
from tierline.dsl.model import Answer, Outcome, Question, Tree
from tierline.errors import UsageError

__all__ = [
    "Step",
    "Walk",
    "WalkError",
    "ask_tree",
    "describe_answers",
    "match_answers",
    "next_node",
    "render_walk",
    "walk_json",
    "walk_tree",
]


class WalkError(UsageError):
    """A walk cannot reach an outcome with the answers given."""


@dataclass(frozen=True)
class Step:
    """One question on a walk and the answer taken there."""

    question: Question
    answer: Answer


@dataclass(frozen=True)
class Walk:
    """A finished walk: the steps from the entry, and the outcome they end on."""

    steps: tuple[Step, ...]
    outcome: Outcome


def describe_answers(question: Question) -> str:
    """The valid answers of ``question``, e.g. ``A (Under $10,000), B (…)`` or ``yes, no``."""
    return ", ".join(
        a.key if a.label == a.key else f"{a.key} ({a.label})" for a in question.answers
    )


def match_answers(question: Question, text: str) -> list[Answer]:
    """The answers of ``question`` that ``text`` may mean: one when it is unambiguous.

    A key (any case) or a whole label (any case) wins outright; otherwise every answer
    whose label starts with ``text`` (any case) is returned.
    """
    wanted = text.strip().casefold()
    if not wanted:
        return []
    for answer in question.answers:
        if answer.key.casefold() == wanted:
            return [answer]
    exact = [a for a in question.answers if a.label.strip().casefold() == wanted]
    if exact:
        return exact[:1]
    return [a for a in question.answers if a.label.strip().casefold().startswith(wanted)]


def _entry(tree: Tree) -> Question:
    entry = tree.entry
    question = tree.question(entry) if entry is not None else None
    if question is None:
        raise WalkError(f"tree {tree.path} has no entry question {entry!r}")
    return question


def next_node(tree: Tree, answer: Answer) -> Question | Outcome:
    """The question or outcome that ``answer`` leads to."""
    node: Question | Outcome | None
    if answer.target.is_outcome:
        node = tree.outcome(answer.target.id)
    else:
        node = tree.question(answer.target.id)
    if node is None:
        raise WalkError(f"answer {answer.key} leads to unknown {answer.target}")
    return node


def _choose(question: Question, text: str) -> Answer:
    found = match_answers(question, text)
    if len(found) == 1:
        return found[0]
    what = "is ambiguous" if found else "is not an answer"
    raise WalkError(
        f"{question.id}: {text!r} {what} of {question.id} ({question.text}); "
        f"valid answers: {describe_answers(question)}"
    )


def walk_tree(tree: Tree, answers: Mapping[str, str]) -> Walk:
    """Follow ``answers`` (question id → answer key or label prefix) from the entry.

    Raise :class:`WalkError` when an answer is not valid, when the walk stops at a question
    with no answer given, or when an answer names a question that the walk does not visit.
    """
    known = {q.id for q in tree.questions}
    for qid in answers:
        if qid not in known:
            hint = suggest(qid, known)
            raise WalkError(f"no question {qid!r} in this tree" + (f"; {hint}" if hint else ""))
    steps: list[Step] = []
    node: Question | Outcome = _entry(tree)
    while isinstance(node, Question):
        if any(step.question.id == node.id for step in steps):
            raise WalkError(f"the walk comes back to {node.id}: the tree has a cycle")
        if node.id not in answers:
            raise WalkError(
                f"the walk stops at {node.id} ({node.text}) with no answer; "
                f"give --answer {node.id}=KEY, valid answers: {describe_answers(node)}"
            )
        answer = _choose(node, answers[node.id])
        steps.append(Step(node, answer))
        node = next_node(tree, answer)
    unused = [qid for qid in answers if qid not in {s.question.id for s in steps}]
    if unused:
        path = " -> ".join([s.question.id for s in steps] + [f"[{node.id}]"])
        raise WalkError(
            f"answers given for questions not on the path ({path}): {', '.join(unused)}"
        )
    return Walk(tuple(steps), node)


def walk_json(walk: Walk) -> dict[str, Any]:
    """The walk as ``{"path": [{"question", "answer", "label"}], "outcome": {…}}``."""
    return {
        "path": [
            {"question": s.question.id, "answer": s.answer.key, "label": s.answer.label}
            for s in walk.steps
        ],
        "outcome": {"id": walk.outcome.id, "label": walk.outcome.label, "code": walk.outcome.code},
    }


def _answer_text(answer: Answer) -> str:
    return answer.key if answer.label == answer.key else f"{answer.key}: {answer.label}"


def render_walk(walk: Walk) -> str:
    """The walk as text: each question with the answer taken, then the outcome."""
    lines: list[str] = []
    for step in walk.steps:
        lines.append(f"{step.question.id}: {step.question.text}")
        lines.append(f"  -> {_answer_text(step.answer)}")
    outcome = walk.outcome
    lines.append(f"outcome: [{outcome.id}] {outcome.label}")
    lines += [f"  {key}: {value}" for key, value in outcome.fields]
    return "\n".join(lines) + "\n"


def _show_question(question: Question, path: list[Step]) -> str:
    lines = [""]
    if path:
        trail = " > ".join(f"{s.question.id}={s.answer.key}" for s in path)
        lines.append(f"path: {trail}")
    lines.append(f"{question.id}: {question.text}")
    if question.hint:
        lines.append(
            textwrap.fill(
                question.hint, width=88, initial_indent="  hint: ", subsequent_indent="        "
            )
        )
    for answer in question.answers:
        same = answer.label == answer.key
        lines.append(f"  {answer.key}" if same else f"  {answer.key}) {answer.label}")
    return "\n".join(lines)


def ask_tree(
    tree: Tree, read: Callable[[str], str | None], write: Callable[[str], None]
) -> Walk | None:
    """Walk ``tree`` interactively: ``read(prompt)`` gives a line (None at end of input).

    Accepts a key or a unique label prefix, ``back`` and ``quit``; anything else re-prompts
    with the valid choices. Returns the walk, or None when the user quits. Raise
    :class:`WalkError` when the input ends before an outcome.
    """
    steps: list[Step] = []
    node: Question | Outcome = _entry(tree)
    shown = False
    while isinstance(node, Question):
        question = node
        if not shown:
            write(_show_question(question, steps))
            shown = True
        keys = "/".join(a.key for a in question.answers)
        line = read(f"answer [{keys}, back, quit]: ")
        if line is None:
            raise WalkError(
                f"input ended at {question.id} before an outcome was reached; "
                f"valid answers: {describe_answers(question)}"
            )
        text = line.strip()
        command = text.casefold()
        if command == "quit":
            write(f"stopped at {question.id}; no outcome.")
            return None
        if command == "back":
            if not steps:
                write("already at the first question.")
                continue
            node = steps.pop().question
            shown = False
            continue
        found = match_answers(question, text)
        if len(found) != 1:
            what = "ambiguous" if found else "not an answer"
            choices = describe_answers(question if not found else _only(question, found))
            write(f"{text!r} is {what}; choose one of: {choices} (or back, quit)")
            continue
        steps.append(Step(question, found[0]))
        node = next_node(tree, found[0])
        shown = False
    walk = Walk(tuple(steps), node)
    write("")
    write(render_walk(walk).rstrip("\n"))
    return walk


def _only(question: Question, answers: list[Answer]) -> Question:
    return Question(id=question.id, text=question.text, answers=tuple(answers))
