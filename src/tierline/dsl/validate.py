"""Check a parsed :class:`~tierline.dsl.model.Tree` and report every problem at once.

Errors: unknown targets, duplicate ids (questions and outcomes share one namespace), a
missing or unknown ``entry``, cycles, questions without answers, two answers of a question
with the same key or label. Warnings: nodes no path from the entry reaches, and answers
whose range labels leave a gap or overlap (only when every answer is a range label).
"""

from __future__ import annotations

from collections.abc import Iterable

from tierline.diagnostics import Diagnostic, Severity, closest
from tierline.dsl.model import Answer, Question, Span, Tree
from tierline.errors import DslValidationError
from tierline.expr.ranges import find_gaps, find_overlaps, format_number, intervals_for_answers

__all__ = ["check_tree", "validate_tree"]


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'X'?`` for an id; ids are short, so ``Q9`` may still mean ``Q4``."""
    best = closest(name, candidates, cutoff=0.5)
    return f"did you mean {best!r}?" if best else None


class _Report:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.lines = tree.source.splitlines() if tree.source is not None else []
        self.items: list[Diagnostic] = []

    def add(
        self,
        span: Span,
        message: str,
        severity: Severity = "error",
        hint: str | None = None,
    ) -> None:
        line = span.line
        source_line = self.lines[line - 1] if 1 <= line <= len(self.lines) else None
        self.items.append(
            Diagnostic(
                path=self.tree.path,
                line=line,
                col=span.col,
                message=message,
                severity=severity,
                length=span.length,
                hint=hint,
                source_line=source_line,
            )
        )


def _check_ids(tree: Tree, report: _Report) -> None:
    seen: dict[str, Span] = {}
    nodes: list[tuple[str, Span]] = [(q.id, q.span) for q in tree.questions]
    nodes += [(o.id, o.span) for o in tree.outcomes]
    for node_id, span in sorted(nodes, key=lambda n: (n[1].line, n[1].col)):
        if node_id in seen:
            first = seen[node_id]
            where = f" (first defined on line {first.line})" if first.line else ""
            report.add(span, f"duplicate id {node_id!r}{where}")
        else:
            seen[node_id] = span


def _check_entry(tree: Tree, report: _Report) -> str | None:
    """Report a missing or unknown entry; return the entry question id when it is valid."""
    entry = next((h for h in tree.headers if h.key == "entry"), None)
    question_ids = [q.id for q in tree.questions]
    if entry is None:
        first = question_ids[0] if question_ids else "Q1"
        report.add(Span(1, 1, 1), "missing 'entry' header", hint=f"add 'entry: {first}'")
        return None
    value = entry.value.strip()
    if value in question_ids:
        return value
    if any(o.id == value.strip("[]") for o in tree.outcomes):
        report.add(entry.span, f"entry {value!r} is an outcome; it must name a question")
        return None
    if not value:
        report.add(entry.span, "'entry' names no question", hint=suggest("Q1", question_ids))
        return None
    report.add(entry.span, f"unknown entry {value!r}", hint=suggest(value, question_ids))
    return None


def _check_answers(question: Question, tree: Tree, report: _Report) -> None:
    if not question.answers:
        report.add(question.span, f"question {question.id!r} has no answers")
        return
    keys: dict[str, Answer] = {}
    labels: dict[str, Answer] = {}
    for answer in question.answers:
        if answer.key in keys:
            report.add(answer.span, f"question {question.id!r} has two answers {answer.key!r}")
        keys.setdefault(answer.key, answer)
        folded = answer.label.casefold()
        if folded in labels and answer.key != labels[folded].key:
            report.add(
                answer.span,
                f"question {question.id!r} has two answers labelled {answer.label!r} "
                f"({labels[folded].key} and {answer.key})",
            )
        labels.setdefault(folded, answer)
    for answer in question.answers:
        _check_target(answer, tree, report)


def _check_target(answer: Answer, tree: Tree, report: _Report) -> None:
    target = answer.target
    question_ids = [q.id for q in tree.questions]
    outcome_ids = [o.id for o in tree.outcomes]
    hint: str | None
    if target.is_outcome:
        if target.id in outcome_ids:
            return
        if target.id in question_ids:
            hint = f"{target.id!r} is a question; write {target.id!r} without brackets"
        else:
            hint = _suggest_target(target.id, outcome_ids, question_ids)
        report.add(target.span, f"unknown outcome {str(target)!r}", hint=hint)
        return
    if target.id in question_ids:
        return
    if target.id in outcome_ids:
        hint = f"{target.id!r} is an outcome; write '[{target.id}]'"
    else:
        hint = _suggest_target(target.id, question_ids, outcome_ids)
    report.add(target.span, f"unknown target {target.id!r}", hint=hint)


def _suggest_target(name: str, same_kind: list[str], other_kind: list[str]) -> str | None:
    hint = suggest(name, same_kind)
    if hint is None:
        other = suggest(name, other_kind)
        if other is not None:
            hint = other
    return hint


def _edges(tree: Tree) -> dict[str, list[Answer]]:
    """Question id → its answers that lead to a known question (first definition wins)."""
    known = {q.id for q in tree.questions}
    out: dict[str, list[Answer]] = {}
    for q in tree.questions:
        if q.id in out:
            continue
        out[q.id] = [a for a in q.answers if not a.target.is_outcome and a.target.id in known]
    return out


def _check_cycles(tree: Tree, report: _Report) -> None:
    edges = _edges(tree)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for answer in edges.get(node, []):
            nxt = answer.target.id
            if state.get(nxt) == 1:
                ring = path[path.index(nxt) :]
                key = frozenset(ring)
                if key not in found:
                    found.add(key)
                    shown = " -> ".join([*ring, nxt])
                    report.add(answer.target.span, f"cycle: {shown}")
            elif state.get(nxt) is None:
                visit(nxt)
        path.pop()
        state[node] = 2

    for q in tree.questions:
        if state.get(q.id) is None:
            visit(q.id)


def _reachable(tree: Tree, entry: str) -> set[str]:
    by_id: dict[str, Question] = {}
    for q in tree.questions:
        by_id.setdefault(q.id, q)
    seen = {entry}
    todo = [entry]
    while todo:
        question = by_id.get(todo.pop())
        if question is None:
            continue
        for answer in question.answers:
            if answer.target.id not in seen:
                seen.add(answer.target.id)
                todo.append(answer.target.id)
    return seen


def _check_reach(tree: Tree, entry: str, report: _Report) -> None:
    seen = _reachable(tree, entry)
    for q in tree.questions:
        if q.id not in seen:
            report.add(
                q.span,
                f"question {q.id!r} is unreachable from entry {entry!r}",
                severity="warning",
            )
    for o in tree.outcomes:
        if o.id not in seen:
            report.add(
                o.span,
                f"unreachable outcome [{o.id}]: no path from entry {entry!r} reaches it",
                severity="warning",
            )


def _check_ranges(question: Question, report: _Report) -> None:
    answers = question.answers
    intervals = intervals_for_answers([a.label for a in answers])
    if intervals is None:
        return
    for gap in find_gaps(intervals):
        at = answers[gap.after].span if gap.after is not None else question.span
        if gap.after is None and gap.before is not None:
            at = answers[gap.before].span
        report.add(
            at,
            f"answers of {question.id} leave a gap: {format_number(gap.witness)} matches no answer",
            severity="warning",
        )
    for overlap in find_overlaps(intervals):
        a, b = answers[overlap.first], answers[overlap.second]
        report.add(
            b.span,
            f"answers of {question.id} overlap: {format_number(overlap.witness)} matches both "
            f"{a.key} ({a.label!r}) and {b.key} ({b.label!r})",
            severity="warning",
        )


def _ordered(items: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(items, key=lambda d: (d.line, d.col))


def validate_tree(tree: Tree) -> list[Diagnostic]:
    """Every error and warning of ``tree``, in file order."""
    report = _Report(tree)
    _check_ids(tree, report)
    entry = _check_entry(tree, report)
    for question in tree.questions:
        _check_answers(question, tree, report)
        _check_ranges(question, report)
    _check_cycles(tree, report)
    if entry is not None:
        _check_reach(tree, entry, report)
    return _ordered(report.items)


def check_tree(tree: Tree, strict: bool = False) -> Tree:
    """Return ``tree`` when valid; raise :class:`DslValidationError` with every diagnostic.

    Warnings fail only when ``strict``.
    """
    diagnostics = validate_tree(tree)
    failing = [d for d in diagnostics if d.is_error or (strict and d.severity == "warning")]
    if failing:
        sources = {tree.path: tree.source} if tree.source is not None else {}
        raise DslValidationError(diagnostics, sources=sources)
    return tree
