"""The canonical JSON form of a tree, and reading a tree back from JSON.

:func:`tree_to_json` writes the keys of the published Decision DAG JSON (``meta``,
``questions``, ``outcomes``, ``dsl``) plus ``dag``, our full structural form::

    {"headers": [{"key", "value"}],
     "questions": [{"id", "text", "hint",
                    "answers": [{"key", "label", "target": {"id", "kind": "question"|"outcome"}}],
                    "extra": [{"key", "value"}]}],
     "outcomes": [{"id", "label", "fields": [{"key", "value"}]}]}

Other top-level keys of an imported JSON (``_meta``, ``author``, ``file`` …) are kept on the
tree and written back first, in their order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tierline.diagnostics import Diagnostic
from tierline.dsl.layout import tree_to_dsl
from tierline.dsl.model import Answer, Header, Outcome, Question, Target, Tree
from tierline.dsl.parser import parse_tree
from tierline.errors import DslSyntaxError, UsageError

__all__ = ["load_tree_json", "tree_from_json", "tree_to_json"]

_OURS = ("meta", "questions", "outcomes", "dsl", "dag")
_META_ORDER = ("description", "mode", "entry", "tags", "image")


def _pairs(items: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items]


def _meta(tree: Tree) -> dict[str, Any]:
    values: dict[str, Any] = {
        "description": tree.header("description"),
        "mode": tree.header("mode") or "decision",
        "entry": tree.entry,
        "tags": tree.tags if tree.header("tags") is not None else None,
        "image": tree.header("image"),
    }
    return {k: values[k] for k in _META_ORDER if values[k] is not None}


def _dag(tree: Tree) -> dict[str, Any]:
    return {
        "headers": [{"key": h.key, "value": h.value} for h in tree.headers],
        "questions": [
            {
                "id": q.id,
                "text": q.text,
                "hint": q.hint,
                "answers": [
                    {
                        "key": a.key,
                        "label": a.label,
                        "target": {
                            "id": a.target.id,
                            "kind": "outcome" if a.target.is_outcome else "question",
                        },
                    }
                    for a in q.answers
                ],
                "extra": _pairs(q.extra),
            }
            for q in tree.questions
        ],
        "outcomes": [
            {"id": o.id, "label": o.label, "fields": _pairs(o.fields)} for o in tree.outcomes
        ],
    }


def tree_to_json(tree: Tree) -> dict[str, Any]:
    """The canonical JSON of ``tree``: ``meta``, ``questions``, ``outcomes``, ``dsl``, ``dag``."""
    out: dict[str, Any] = {key: json.loads(value) for key, value in tree.extra_json}
    out["meta"] = _meta(tree)
    out["questions"] = [{"id": q.id, "text": q.text} for q in tree.questions]
    out["outcomes"] = [{"id": o.id, "label": o.label} for o in tree.outcomes]
    out["dsl"] = tree_to_dsl(tree)
    out["dag"] = _dag(tree)
    return out


class _Shape:
    """Reads the structural ``dag`` form, collecting every shape problem as a diagnostic."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Diagnostic] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Diagnostic(self.path, 1, 1, f"{where}: {message}"))

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.fail(where, f"expected an object, got {type(value).__name__}")
        return {}

    def items(self, value: object, where: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.fail(where, f"expected a list, got {type(value).__name__}")
        return []

    def text(self, value: object, where: str, optional: bool = False) -> str:
        if isinstance(value, str):
            return value
        if value is None and optional:
            return ""
        self.fail(where, f"expected a string, got {type(value).__name__}")
        return ""

    def pairs(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for i, item in enumerate(self.items(value, where)):
            at = f"{where}[{i}]"
            entry = self.obj(item, at)
            out.append(
                (self.text(entry.get("key"), f"{at}.key"), self.text(entry.get("value"), at))
            )
        return tuple(out)

    def answer(self, value: object, where: str) -> Answer:
        raw = self.obj(value, where)
        target = self.obj(raw.get("target"), f"{where}.target")
        kind = target.get("kind")
        if kind not in ("question", "outcome"):
            self.fail(f"{where}.target.kind", f"expected 'question' or 'outcome', got {kind!r}")
        key = self.text(raw.get("key"), f"{where}.key")
        return Answer(
            key=key,
            label=self.text(raw.get("label"), f"{where}.label", optional=True) or key,
            target=Target(
                id=self.text(target.get("id"), f"{where}.target.id"), is_outcome=kind == "outcome"
            ),
        )

    def question(self, value: object, where: str) -> Question:
        raw = self.obj(value, where)
        hint = raw.get("hint")
        return Question(
            id=self.text(raw.get("id"), f"{where}.id"),
            text=self.text(raw.get("text"), f"{where}.text"),
            answers=tuple(
                self.answer(a, f"{where}.answers[{i}]")
                for i, a in enumerate(self.items(raw.get("answers"), f"{where}.answers"))
            ),
            hint=None if hint is None else self.text(hint, f"{where}.hint"),
            extra=self.pairs(raw.get("extra"), f"{where}.extra"),
        )

    def outcome(self, value: object, where: str) -> Outcome:
        raw = self.obj(value, where)
        return Outcome(
            id=self.text(raw.get("id"), f"{where}.id"),
            label=self.text(raw.get("label"), f"{where}.label"),
            fields=self.pairs(raw.get("fields"), f"{where}.fields"),
        )


def _from_dag(dag: object, path: str) -> Tree:
    shape = _Shape(path)
    raw = shape.obj(dag, "dag")
    headers = tuple(Header(k, v) for k, v in shape.pairs(raw.get("headers"), "dag.headers"))
    questions = tuple(
        shape.question(q, f"dag.questions[{i}]")
        for i, q in enumerate(shape.items(raw.get("questions"), "dag.questions"))
    )
    outcomes = tuple(
        shape.outcome(o, f"dag.outcomes[{i}]")
        for i, o in enumerate(shape.items(raw.get("outcomes"), "dag.outcomes"))
    )
    if shape.problems:
        raise DslSyntaxError(shape.problems)
    return Tree(headers=headers, questions=questions, outcomes=outcomes, path=path)


def tree_from_json(obj: object, path: str = "<json>") -> Tree:
    """A tree from its JSON object: parses ``dsl`` when present, else reads ``dag``.

    Unknown top-level keys (``_meta``, ``author``, ``file`` …) are kept on the tree.
    """
    if not isinstance(obj, dict):
        raise DslSyntaxError(
            [Diagnostic(path, 1, 1, f"expected a JSON object, got {type(obj).__name__}")]
        )
    extra = tuple((k, json.dumps(v, ensure_ascii=False)) for k, v in obj.items() if k not in _OURS)
    dsl = obj.get("dsl")
    if isinstance(dsl, str):
        tree = parse_tree(dsl, path)
    elif "dag" in obj:
        tree = _from_dag(obj["dag"], path)
    else:
        raise DslSyntaxError(
            [Diagnostic(path, 1, 1, "the JSON has neither a 'dsl' text nor a 'dag' object")]
        )
    return Tree(
        headers=tree.headers,
        questions=tree.questions,
        outcomes=tree.outcomes,
        source=tree.source,
        path=tree.path,
        extra_json=extra,
    )


def load_tree_json(path: str | Path) -> Tree:
    """Read a tree from a JSON file (UTF-8)."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{str(path)!r} is not UTF-8 text: {exc.reason}") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DslSyntaxError(
            [Diagnostic(str(path), exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")],
            sources={str(path): text},
        ) from exc
    return tree_from_json(obj, str(path))
