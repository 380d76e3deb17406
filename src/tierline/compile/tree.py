"""Compile a bound decision tree into one nested CASE over the account row.

Every question reached from the entry gets the SQL test of each of its answers from its
binding (see :class:`tierline.policy.model.Binding`). The nested CASE yields the number of
the leaf an account reaches: an outcome, or an *unassigned* leaf when a question's input is
NULL (or matches no answer) and the binding has no ``null`` answer — never a silent
fall-through. A flat CASE over the leaf number then gives the outcome and the explanation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlglot import exp

from tierline.compile.decision import DECISION_COLUMN, Decision, DecisionSelect, template_text
from tierline.compile.fragment import (
    concat,
    condition_columns,
    json_inputs,
    json_text,
    literal,
    parse_condition_sql,
    sql_text,
)
from tierline.dsl.model import Answer, Question, Tree
from tierline.errors import CompileError
from tierline.expr.ranges import Interval, intervals_for_answers
from tierline.policy.model import Binding, Project, Segmentation

__all__ = [
    "LEAF_COLUMN",
    "BoundQuestion",
    "answer_intervals",
    "bind_question",
    "compile_tree",
    "compile_tree_decisions",
    "entry_question",
    "is_yes_no",
]

LEAF_COLUMN = "tierline_leaf"


@dataclass(frozen=True)
class BoundQuestion:
    """A question with the SQL test of each answer, tried in order.

    ``null_test`` is TRUE when the input is NULL (it tells a NULL input from one that
    matches no answer); ``null_answer`` is the answer taken then, or None (unassigned).
    """

    question: Question
    mode: str
    tests: tuple[tuple[Answer, exp.Expression], ...]
    null_test: exp.Expression | None
    null_answer: Answer | None
    inputs: tuple[str, ...]
    subject: str


@dataclass(frozen=True)
class _Step:
    question: str
    answer: str | None
    label: str | None
    inputs: tuple[str, ...]
    via_null: bool = False


@dataclass(frozen=True)
class _Leaf:
    steps: tuple[_Step, ...]
    outcome: str | None
    reason: str | None


def is_yes_no(question: Question) -> bool:
    """True when the question's answers are exactly ``yes`` and ``no``."""
    return sorted(a.key.lower() for a in question.answers) == ["no", "yes"]


def entry_question(tree: Tree) -> str:
    """The id of the tree's entry question (the ``entry:`` header, else the first)."""
    entry = tree.entry or (tree.questions[0].id if tree.questions else None)
    if entry is None or tree.question(entry) is None:
        raise CompileError(f"{tree.path}: the tree has no entry question {entry!r}")
    return entry


def answer_intervals(question: Question) -> list[Interval] | None:
    """The interval of each answer when every answer label is a range, else None."""
    found = intervals_for_answers([a.label for a in question.answers])
    if not found or any(i is None for i in found):
        return None
    return [i for i in found if i is not None]


def _bound(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isinf(number) else number


def interval_test(column: str, interval: Interval) -> exp.Expression:
    """``column >= lo AND column < hi`` (closedness as the interval says)."""
    col = exp.column(column)
    parts: list[exp.Expression] = []
    low, high = _bound(interval.low), _bound(interval.high)
    if low is not None:
        op = exp.GTE if interval.low_closed else exp.GT
        parts.append(op(this=col.copy(), expression=literal(low)))
    if high is not None:
        op2 = exp.LTE if interval.high_closed else exp.LT
        parts.append(op2(this=col.copy(), expression=literal(high)))
    if not parts:
        return exp.Not(this=exp.Is(this=col, expression=exp.Null()))
    out = parts[0]
    for part in parts[1:]:
        out = exp.And(this=out, expression=part)
    return out


def _answer(question: Question, key: str, binding: Binding) -> Answer:
    for a in question.answers:
        if a.key == key or a.key.lower() == key.lower():
            return a
    keys = ", ".join(a.key for a in question.answers)
    raise CompileError(
        f"{binding.loc.path}:{binding.loc.line}: binding of {question.id} names answer "
        f"{key!r}; the answers are {keys}"
    )


def bind_question(seg: Segmentation, project: Project, question: Question) -> BoundQuestion:
    """Turn a question and its binding into answer tests, or raise CompileError."""
    binding = seg.binding(question.id)
    if binding is None:
        raise CompileError(
            f"segmentation {seg.id!r}: question {question.id} is reachable but has no "
            f"binding (add one under bindings: {question.id}: …)"
        )
    null_answer = _answer(question, binding.null, binding) if binding.null else None
    if binding.field is not None:
        name = binding.field
        field = project.field_def(name)
        if field is None:
            raise CompileError(
                f"{binding.loc.path}:{binding.loc.line}: binding of {question.id} names "
                f"unknown field {name!r}"
            )
        col = exp.column(name)
        null_test = exp.Is(this=col.copy(), expression=exp.Null())
        if field.type == "boolean" and is_yes_no(question):
            yes = _answer(question, "yes", binding)
            no = _answer(question, "no", binding)
            tests: tuple[tuple[Answer, exp.Expression], ...] = (
                (yes, col.copy()),
                (no, exp.Not(this=col.copy())),
            )
            return BoundQuestion(question, "boolean", tests, null_test, null_answer, (name,), name)
        intervals = answer_intervals(question)
        if field.type in ("integer", "number") and intervals is not None:
            ranged = tuple(
                (a, interval_test(name, i))
                for a, i in zip(question.answers, intervals, strict=True)
            )
            return BoundQuestion(question, "range", ranged, null_test, null_answer, (name,), name)
        raise CompileError(
            f"{binding.loc.path}:{binding.loc.line}: {question.id} is bound to {field.type} "
            f"field {name!r}, but its answers are not "
            + ("range labels" if field.type != "boolean" else "yes / no")
        )
    if binding.when is not None:
        if not is_yes_no(question):
            raise CompileError(
                f"{binding.loc.path}:{binding.loc.line}: {question.id} has a `when` binding "
                f"but its answers are not yes / no"
            )
        cond = parse_condition_sql(binding.when, project)
        yes = _answer(question, "yes", binding)
        no = _answer(question, "no", binding)
        tests = ((yes, cond.copy()), (no, exp.Not(this=exp.Paren(this=cond.copy()))))
        null_test = exp.Is(this=exp.Paren(this=cond.copy()), expression=exp.Null())
        inputs = tuple(condition_columns([cond]))
        return BoundQuestion(
            question, "when", tests, null_test, null_answer, inputs, binding.when.sql
        )
    if binding.answers:
        parsed = [
            (_answer(question, key, binding), parse_condition_sql(c, project))
            for key, c in binding.answers
        ]
        inputs = tuple(condition_columns(c for _, c in parsed))
        return BoundQuestion(
            question, "answers", tuple(parsed), None, null_answer, inputs, "no answer"
        )
    raise CompileError(
        f"{binding.loc.path}:{binding.loc.line}: binding of {question.id} has neither "
        "field, when nor answers"
    )


def unassigned_reason(bound: BoundQuestion, is_null: bool) -> str:
    """Why an account stops at this question (shared with the reference evaluator)."""
    qid = bound.question.id
    if bound.mode == "answers":
        return f"{qid}: no answer's condition is TRUE and the binding has no null rule"
    if is_null:
        return f"{qid}: {bound.subject} is NULL and the binding has no null rule"
    return f"{qid}: {bound.subject} matches no answer and the binding has no null rule"


class _TreeCompiler:
    def __init__(self, seg: Segmentation, project: Project, tree: Tree) -> None:
        self.seg = seg
        self.project = project
        self.tree = tree
        self.leaves: list[_Leaf] = []
        self.bound: dict[str, BoundQuestion] = {}

    def bound_question(self, qid: str) -> BoundQuestion:
        if qid not in self.bound:
            question = self.tree.question(qid)
            if question is None:
                raise CompileError(f"{self.tree.path}: unknown question {qid!r}")
            self.bound[qid] = bind_question(self.seg, self.project, question)
        return self.bound[qid]

    def leaf(self, steps: tuple[_Step, ...], outcome: str | None, reason: str | None) -> int:
        self.leaves.append(_Leaf(steps, outcome, reason))
        return len(self.leaves) - 1

    def follow(
        self,
        bound: BoundQuestion,
        answer: Answer,
        steps: tuple[_Step, ...],
        seen: frozenset[str],
        via_null: bool = False,
    ) -> exp.Expression:
        step = _Step(bound.question.id, answer.key, answer.label, bound.inputs, via_null)
        target = answer.target
        if target.is_outcome:
            if self.tree.outcome(target.id) is None:
                raise CompileError(f"{self.tree.path}: unknown outcome [{target.id}]")
            return literal(self.leaf((*steps, step), target.id, None))
        return self.node(target.id, (*steps, step), seen)

    def node(self, qid: str, steps: tuple[_Step, ...], seen: frozenset[str]) -> exp.Expression:
        if qid in seen:
            raise CompileError(f"{self.tree.path}: the tree has a cycle through {qid}")
        seen = seen | {qid}
        bound = self.bound_question(qid)
        case = exp.Case()
        for answer, test in bound.tests:
            case = case.when(test.copy(), self.follow(bound, answer, steps, seen))
        if bound.null_answer is not None:
            fallback = self.follow(bound, bound.null_answer, steps, seen, via_null=True)
        else:
            stop = _Step(qid, None, None, bound.inputs)
            on_null = literal(self.leaf((*steps, stop), None, unassigned_reason(bound, True)))
            if bound.null_test is None or bound.mode in ("boolean", "when"):
                fallback = on_null
            else:
                no_match = self.leaf((*steps, stop), None, unassigned_reason(bound, False))
                fallback = exp.Case().when(bound.null_test.copy(), on_null).else_(literal(no_match))
        return case.else_(fallback)


def _step_json(step: _Step, project: Project) -> list[exp.Expression]:
    head = {"question": step.question, "answer": step.answer, "label": step.label}
    text = json_text(head)[:-1] + ","
    if step.via_null:
        text += '"null":true,'
    return [sql_text(text + '"inputs":'), *json_inputs(step.inputs, project), sql_text("}")]


def leaf_explanation(leaf: _Leaf, project: Project) -> exp.Expression:
    """The JSON explanation of a leaf as one SQL string expression."""
    parts: list[exp.Expression] = [sql_text('{"kind":"tree","path":[')]
    for i, step in enumerate(leaf.steps):
        if i:
            parts.append(sql_text(","))
        parts.extend(_step_json(step, project))
    if leaf.outcome is None:
        tail = {"unassigned": True, "reason": leaf.reason, "outcome": None}
    else:
        tail = {"outcome": leaf.outcome}
    parts.append(sql_text("]," + json_text(tail)[1:]))
    return concat(parts)


def _compiler(seg: Segmentation, project: Project, source: str) -> tuple[_TreeCompiler, exp.Select]:
    """The tree's compiler (its leaves) and the inner SELECT numbering each account's leaf."""
    if seg.tree is None:
        raise CompileError(f"segmentation {seg.id!r} has no tree")
    for b in seg.bindings:
        if seg.tree.question(b.question) is None:
            raise CompileError(
                f"{b.loc.path}:{b.loc.line}: binding for unknown question {b.question!r} "
                f"in segmentation {seg.id!r}"
            )
    compiler = _TreeCompiler(seg, project, seg.tree)
    nested = compiler.node(entry_question(seg.tree), (), frozenset())
    inputs: dict[str, None] = {}
    for bound in compiler.bound.values():
        for name in bound.inputs:
            inputs.setdefault(name, None)
    inner = (
        exp.select(exp.column("id"), *(exp.column(n) for n in inputs if n != "id"))
        .select(exp.alias_(nested, LEAF_COLUMN))
        .from_(source)
    )
    return compiler, inner


def _by_leaf(values: list[tuple[int, exp.Expression]]) -> exp.Expression:
    """``CASE leaf WHEN i THEN value … END``, or a typed NULL when there is no value."""
    if not values:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))
    case = exp.Case(this=exp.column(LEAF_COLUMN))
    for i, value in values:
        case = case.when(literal(i), value)
    return case


def compile_tree(seg: Segmentation, project: Project, source: str = "accounts") -> exp.Select:
    """The SELECT giving ``account_id, outcome, explanation`` for a tree segmentation."""
    compiler, inner = _compiler(seg, project, source)
    leaf = exp.column(LEAF_COLUMN)
    outcome = exp.Case(this=leaf.copy())
    explanation = exp.Case(this=leaf.copy())
    for i, lf in enumerate(compiler.leaves):
        if lf.outcome is not None:
            outcome = outcome.when(literal(i), sql_text(lf.outcome))
        explanation = explanation.when(literal(i), leaf_explanation(lf, project))
    return exp.select(
        exp.alias_(exp.column("id"), "account_id"),
        exp.alias_(outcome, "outcome"),
        exp.alias_(explanation, "explanation"),
    ).from_(exp.alias_(exp.Subquery(this=inner), "t", table=True))


def _leaf_template(leaf: _Leaf) -> str:
    path: list[dict[str, object]] = []
    for step in leaf.steps:
        item: dict[str, object] = {
            "question": step.question,
            "answer": step.answer,
            "label": step.label,
        }
        if step.via_null:
            item["null"] = True
        item["inputs"] = list(step.inputs)
        path.append(item)
    tail: dict[str, object] = (
        {"outcome": leaf.outcome}
        if leaf.outcome is not None
        else {"unassigned": True, "reason": leaf.reason, "outcome": None}
    )
    return template_text({"kind": "tree", "path": path, **tail})


def compile_tree_decisions(
    seg: Segmentation, project: Project, source: str = "accounts"
) -> DecisionSelect:
    """The decision SELECT of a tree segmentation: the leaf number is the decision code."""
    compiler, inner = _compiler(seg, project, source)
    leaves = list(enumerate(compiler.leaves))
    outcome = _by_leaf([(i, sql_text(lf.outcome)) for i, lf in leaves if lf.outcome is not None])
    unassigned = _by_leaf(
        [(i, leaf_explanation(lf, project)) for i, lf in leaves if lf.outcome is None]
    )
    select = exp.select(
        exp.alias_(exp.column("id"), "account_id"),
        exp.alias_(outcome, "outcome"),
        exp.alias_(exp.column(LEAF_COLUMN), DECISION_COLUMN),
        exp.alias_(unassigned, "explanation"),
    ).from_(exp.alias_(exp.Subquery(this=inner), "t", table=True))
    decisions = tuple(
        Decision(i, lf.outcome, _leaf_template(lf), leaf_explanation(lf, project))
        for i, lf in leaves
    )
    return DecisionSelect(select, decisions)
