"""The pure-Python reference evaluator: a test oracle for the compiled segmentation SQL.

It walks a bound tree, or scans a rule table, for ONE account at a time, evaluating
conditions over the sqlglot AST itself with SQL three-valued logic (None is UNKNOWN). The
engine never uses it; the tests check that the compiled SQL, run on DuckDB, gives exactly
the outcome and explanation this module gives, for every account of random books.

Supported SQL: AND / OR / NOT, = <> < <= > >=, + - * / % and unary minus,
IS [NOT] NULL, IS [NOT] TRUE / FALSE, [NOT] IN (…), [NOT] BETWEEN, [NOT] [I]LIKE, literals,
columns, COALESCE, NULLIF, ABS, LOWER, UPPER, LEAST, GREATEST
(LEAST / GREATEST skip NULLs, as DuckDB and PostgreSQL do).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from tierline.dsl.model import Answer, Question
from tierline.errors import EngineError
from tierline.expr.ranges import intervals_for_answers
from tierline.policy.model import Condition, Project, Rule, RuleTable, Segmentation

__all__ = ["evaluate_condition", "evaluate_segmentation", "evaluate_sql"]

Row = Mapping[str, object]


def _and(a: object, b: object) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: object, b: object) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _not(a: object) -> bool | None:
    return None if a is None else not a


def _compare(op: Callable[[Any, Any], bool], a: object, b: object) -> bool | None:
    if a is None or b is None:
        return None
    return bool(op(a, b))


def _divide(a: Any, b: Any) -> object:
    if b == 0:
        # DuckDB's `/` is floating-point division: x/0 is ±inf, 0/0 is NaN.
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def _modulo(a: Any, b: Any) -> object:
    if b == 0:
        raise EngineError("division by zero in %")
    # SQL's % takes the sign of the dividend (truncated division), unlike Python's.
    out = math.fmod(a, b)
    return int(out) if isinstance(a, int) and isinstance(b, int) else out


_COMPARE: dict[type[exp.Expression], Callable[[Any, Any], bool]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}
_ARITH: dict[type[exp.Expression], Callable[[Any, Any], object]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: _divide,
    exp.Mod: _modulo,
}


def _like(text: object, pattern: object, fold: bool) -> bool | None:
    if text is None or pattern is None:
        return None
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(pattern)
    )
    flags = re.DOTALL | (re.IGNORECASE if fold else 0)
    return re.fullmatch(regex, str(text), flags) is not None


def _literal(node: exp.Literal) -> object:
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    return float(text) if any(c in text for c in ".eE") else int(text)


def _in(value: object, items: list[object]) -> bool | None:
    if value is None:
        return None
    if any(i is not None and i == value for i in items):
        return True
    return None if any(i is None for i in items) else False


def _extreme(values: list[object], pick: Callable[[list[Any]], object]) -> object:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def evaluate_condition(node: exp.Expression, row: Row) -> object:
    """The value of an SQL expression for one row; None stands for NULL / UNKNOWN."""
    ev = evaluate_condition
    if isinstance(node, exp.Paren):
        return ev(node.this, row)
    if isinstance(node, exp.And):
        return _and(ev(node.this, row), ev(node.expression, row))
    if isinstance(node, exp.Or):
        return _or(ev(node.this, row), ev(node.expression, row))
    if isinstance(node, exp.Not):
        return _not(ev(node.this, row))
    if type(node) in _COMPARE:
        return _compare(_COMPARE[type(node)], ev(node.this, row), ev(node.expression, row))
    if type(node) in _ARITH:
        a, b = ev(node.this, row), ev(node.expression, row)
        return None if a is None or b is None else _ARITH[type(node)](a, b)
    if isinstance(node, exp.Neg):
        value: Any = ev(node.this, row)
        return None if value is None else -value
    if isinstance(node, exp.Is):
        # IS NULL, IS TRUE, IS FALSE: never UNKNOWN.
        if isinstance(node.expression, exp.Boolean):
            return ev(node.this, row) is bool(node.expression.this)
        if not isinstance(node.expression, exp.Null):
            raise EngineError(f"unsupported IS form in {node.sql()!r}")
        return ev(node.this, row) is None
    if isinstance(node, exp.In):
        return _in(ev(node.this, row), [ev(e, row) for e in node.expressions])
    if isinstance(node, exp.Between):
        value = ev(node.this, row)
        low = _compare(_COMPARE[exp.GTE], value, ev(node.args["low"], row))
        return _and(low, _compare(_COMPARE[exp.LTE], value, ev(node.args["high"], row)))
    if isinstance(node, exp.Column):
        if node.name not in row:
            raise EngineError(f"the account has no field {node.name!r}")
        return row[node.name]
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        return _literal(node)
    return _function(node, row)


def _function(node: exp.Expression, row: Row) -> object:
    ev = evaluate_condition
    if isinstance(node, exp.Coalesce):
        for arg in [node.this, *node.expressions]:
            value = ev(arg, row)
            if value is not None:
                return value
        return None
    if isinstance(node, exp.Nullif):
        a, b = ev(node.this, row), ev(node.expression, row)
        return None if a is not None and b is not None and a == b else a
    if isinstance(node, exp.Abs):
        number: Any = ev(node.this, row)
        return None if number is None else abs(number)
    if isinstance(node, exp.Lower | exp.Upper):
        text = ev(node.this, row)
        if text is None:
            return None
        return str(text).lower() if isinstance(node, exp.Lower) else str(text).upper()
    if isinstance(node, exp.Like | exp.ILike):
        # sqlglot reads ``a NOT LIKE p`` as one Like node with ``negate`` set.
        found = _like(ev(node.this, row), ev(node.expression, row), isinstance(node, exp.ILike))
        return _not(found) if node.args.get("negate") else found
    if isinstance(node, exp.Least | exp.Greatest):
        values = [ev(a, row) for a in [node.this, *node.expressions]]
        return _extreme(values, min if isinstance(node, exp.Least) else max)
    raise EngineError(f"the reference evaluator does not support {node.sql()!r}")


def evaluate_sql(sql: str, row: Row) -> object:
    """Parse ``sql`` (DuckDB dialect) and evaluate it for one row."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if not isinstance(tree, exp.Expression):
        raise EngineError(f"not an expression: {sql!r}")
    return evaluate_condition(tree, row)


def _cond(cond: Condition, row: Row) -> object:
    return evaluate_sql(cond.sql, row)


def _columns(conds: list[Condition]) -> list[str]:
    seen: dict[str, None] = {}
    for c in conds:
        for col in sqlglot.parse_one(c.sql, read="duckdb").find_all(exp.Column, bfs=False):
            seen.setdefault(col.name, None)
    return list(seen)


def _find(question: Question, key: str) -> Answer:
    for a in question.answers:
        if a.key.lower() == key.lower():
            return a
    raise EngineError(f"{question.id} has no answer {key!r}")


def _choose(
    question: Question, seg: Segmentation, project: Project, row: Row
) -> tuple[Answer | None, bool, dict[str, object], str]:
    """The answer an account takes (None: unassigned), whether via null, inputs, reason."""
    b = seg.binding(question.id)
    if b is None:
        raise EngineError(f"question {question.id} has no binding")
    null = _find(question, b.null) if b.null else None
    answer: Answer | None = None
    if b.field is not None:
        value = row.get(b.field)
        inputs: dict[str, object] = {b.field: value}
        subject = b.field
        field = project.field_def(b.field)
        if field is not None and field.type == "boolean":
            if value is not None:
                answer = _find(question, "yes" if value else "no")
        else:
            intervals = intervals_for_answers([a.label for a in question.answers]) or []
            if value is not None:
                answer = next(
                    (
                        a
                        for a, iv in zip(question.answers, intervals, strict=True)
                        if iv.contains(float(value))  # type: ignore[arg-type]
                    ),
                    None,
                )
        is_null = value is None
    elif b.when is not None:
        inputs = {c: row.get(c) for c in _columns([b.when])}
        subject = b.when.sql
        truth = _cond(b.when, row)
        if truth is not None:
            answer = _find(question, "yes" if truth else "no")
        is_null = truth is None
    else:
        inputs = {c: row.get(c) for c in _columns([c for _, c in b.answers])}
        answer = next((_find(question, k) for k, c in b.answers if _cond(c, row) is True), None)
        if answer is None and null is None:
            reason = (
                f"{question.id}: no answer's condition is TRUE and the binding has no null rule"
            )
            return None, False, inputs, reason
        is_null = True
    if answer is not None:
        return answer, False, inputs, ""
    if null is not None:
        return null, True, inputs, ""
    state = "is NULL" if is_null else "matches no answer"
    return None, False, inputs, f"{question.id}: {subject} {state} and the binding has no null rule"


def _walk_tree(seg: Segmentation, project: Project, row: Row) -> tuple[str | None, dict[str, Any]]:
    tree = seg.tree
    assert tree is not None
    qid = tree.entry or tree.questions[0].id
    path: list[dict[str, object]] = []
    for _ in range(len(tree.questions) + 1):
        question = tree.question(qid)
        if question is None:
            raise EngineError(f"unknown question {qid!r}")
        answer, via_null, inputs, reason = _choose(question, seg, project, row)
        if answer is None:
            path.append({"question": qid, "answer": None, "label": None, "inputs": inputs})
            out = {"kind": "tree", "path": path, "unassigned": True, "reason": reason}
            return None, {**out, "outcome": None}
        step: dict[str, object] = {"question": qid, "answer": answer.key, "label": answer.label}
        if via_null:
            step["null"] = True
        path.append({**step, "inputs": inputs})
        if answer.target.is_outcome:
            return answer.target.id, {"kind": "tree", "path": path, "outcome": answer.target.id}
        qid = answer.target.id
    raise EngineError("the tree has a cycle")


def _matches(rule: Rule, row: Row) -> bool:
    truth: object = True
    if rule.when is not None:
        truth = _and(truth, _cond(rule.when, row))
    for c in rule.all:
        truth = _and(truth, _cond(c, row))
    if rule.any:
        alt: object = False
        for c in rule.any:
            alt = _or(alt, _cond(c, row))
        truth = _and(truth, alt)
    return truth is True


def _scan_table(table: RuleTable, row: Row) -> tuple[str | None, dict[str, Any]]:
    conds = [
        c for r in table.rules for c in ([r.when] if r.when else []) + list(r.all) + list(r.any)
    ]
    hits = [r for r in table.rules if _matches(r, row)]
    base: dict[str, Any] = {
        "kind": "rules",
        "table": table.id,
        "hit": table.hit,
        "matched": [r.id for r in hits],
        "inputs": {c: row.get(c) for c in _columns(conds)},
    }

    def unassigned(reason: str) -> tuple[None, dict[str, Any]]:
        return None, {**base, "rule": None, "unassigned": True, "reason": reason, "outcome": None}

    if not hits:
        if table.default is None:
            return unassigned("no rule matches")
        return table.default, {**base, "rule": None, "default": True, "outcome": table.default}
    if table.hit == "collect":
        outcome = ",".join(sorted({r.then for r in hits}))
        return outcome, {**base, "rule": None, "outcome": outcome}
    if table.hit == "unique" and len(hits) > 1:
        return unassigned("several rules match: " + ", ".join(r.id for r in hits))
    if table.hit == "any" and len({r.then for r in hits}) > 1:
        return unassigned(
            "matching rules disagree: " + ", ".join(f"{r.id} → {r.then}" for r in hits)
        )
    win = hits[0]
    if table.hit == "priority":
        win = max(hits, key=lambda r: r.priority)  # max keeps the first of equal priorities
    return win.then, {**base, "rule": win.id, "outcome": win.then}


def evaluate_segmentation(
    seg: Segmentation, project: Project, account: Mapping[str, object]
) -> tuple[str | None, dict[str, Any]]:
    """The outcome (None when unassigned) and the explanation for one account."""
    if seg.tree is not None:
        return _walk_tree(seg, project, account)
    if seg.table is not None:
        return _scan_table(seg.table, account)
    raise EngineError(f"segmentation {seg.id!r} has neither a tree nor a rule table")
