"""Explain an account: per segmentation, its current assignment, the path or rule that
decided it with the values of the fields read at each step, and its overrides.

The explanation JSON of each assignment (see :mod:`tierline.compile`), recorded in the row
or, for a policy-made row, rendered from its decision (:mod:`tierline.engine.decision`),
carries the tree path (question, answer, label, inputs) or the rule table's matched rules and
inputs. For an assignment made by an override, the path shown is the one of the account's
latest policy-made assignment. ``policy_now`` is what the project's current policy decides
for the account as it is now (so an unassigned account shows why it is unassigned).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from tierline.engine.assign import decided_sql
from tierline.engine.decision import recorded_explanations
from tierline.engine.lookup import require_account
from tierline.engine.override import OverrideRequest, list_overrides
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.model import Project, Segmentation

if TYPE_CHECKING:
    from tierline.store import Store

__all__ = [
    "AccountExplanation",
    "Assignment",
    "SegmentationExplanation",
    "describe_steps",
    "explain_account",
]

Json = dict[str, object]


@dataclass(frozen=True)
class Assignment:
    """One recorded assignment row (``explanation`` parsed from its JSON)."""

    outcome: str
    source: str
    policy_version: str
    assigned_at: datetime
    explanation: Json

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "outcome": self.outcome,
            "source": self.source,
            "policy_version": self.policy_version,
            "assigned_at": self.assigned_at.isoformat() + "Z",
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class SegmentationExplanation:
    """One segmentation's view of the account.

    ``current`` is the current assignment (None: not assigned); ``decided_by`` the latest
    policy-made assignment (the path or rule); ``policy_now`` the current policy's
    explanation for the account as it is now; ``steps`` human-readable lines of the path.
    """

    segmentation: str
    current: Assignment | None
    decided_by: Assignment | None
    policy_now: Json
    steps: tuple[str, ...]
    overrides: tuple[OverrideRequest, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "segmentation": self.segmentation,
            "current": None if self.current is None else self.current.to_dict(),
            "decided_by": None if self.decided_by is None else self.decided_by.to_dict(),
            "policy_now": self.policy_now,
            "steps": list(self.steps),
            "overrides": [o.to_dict() for o in self.overrides],
        }


@dataclass(frozen=True)
class AccountExplanation:
    """Everything :func:`explain_account` knows about one account."""

    account_id: str
    name: str
    policy_version: str
    segmentations: tuple[SegmentationExplanation, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "account_id": self.account_id,
            "name": self.name,
            "policy_version": self.policy_version,
            "segmentations": [s.to_dict() for s in self.segmentations],
        }


def _parse(text: object) -> Json:
    if text is None:
        return {}
    try:
        value = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise EngineError(f"a recorded explanation is not JSON: {exc}") from exc
    return value if isinstance(value, dict) else {"value": value}


def _assignment(
    con: duckdb.DuckDBPyConnection, row: tuple[object, ...] | None
) -> Assignment | None:
    """An assignment row (``_ROW``'s columns), its explanation rendered if by reference."""
    if row is None:
        return None
    at = row[3]
    if not isinstance(at, datetime):
        raise EngineError("a recorded assignment has no time")
    text = row[4]
    if text is None and row[5] is not None:
        text = recorded_explanations(con, [int(str(row[5]))]).get(int(str(row[5])))
    return Assignment(str(row[0]), str(row[1]), str(row[2]), at, _parse(text))


def _value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def _inputs(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return ""
    return ", ".join(f"{k} = {_value(v)}" for k, v in value.items())


def _question_text(seg: Segmentation | None, qid: str) -> str:
    question = seg.tree.question(qid) if seg is not None and seg.tree is not None else None
    return f" {question.text}" if question is not None else ""


def _rule_text(seg: Segmentation | None, rule_id: str) -> str:
    table = seg.table if seg is not None else None
    rule = next((r for r in table.rules if r.id == rule_id), None) if table else None
    if rule is None:
        return ""
    parts: list[str] = []
    if rule.when is not None:
        parts.append(f"when {rule.when.sql}")
    if rule.all:
        parts.append("all of: " + "; ".join(c.sql for c in rule.all))
    if rule.any:
        parts.append("any of: " + "; ".join(c.sql for c in rule.any))
    return f" ({', '.join(parts)})" if parts else " (no condition: always)"


def describe_steps(explanation: Mapping[str, object], seg: Segmentation | None = None) -> list[str]:
    """Human-readable lines for an explanation JSON (tree path, rule, or override)."""
    kind = explanation.get("kind")
    lines: list[str] = []
    if kind == "tree":
        path = explanation.get("path")
        for step in path if isinstance(path, list) else []:
            if not isinstance(step, Mapping):
                continue
            qid = str(step.get("question"))
            inputs = _inputs(step.get("inputs"))
            read = f"  [{inputs}]" if inputs else ""
            answer = step.get("answer")
            if answer is None:
                lines.append(f"{qid}:{_question_text(seg, qid)} → no answer{read}")
                continue
            label = step.get("label")
            shown = f"{answer} ({label})" if label and label != answer else str(answer)
            null = " (input NULL: the binding's null rule)" if step.get("null") else ""
            lines.append(f"{qid}:{_question_text(seg, qid)} → {shown}{null}{read}")
    elif kind == "rules":
        matched = explanation.get("matched")
        names = ", ".join(str(m) for m in matched) if isinstance(matched, list) else ""
        inputs = _inputs(explanation.get("inputs"))
        lines.append(f"table {explanation.get('table')} (hit {explanation.get('hit')})")
        lines.append(f"inputs: {inputs or 'none'}")
        lines.append(f"matching rules: {names or 'none'}")
        if explanation.get("default"):
            lines.append("no rule matched → the table's default")
        elif explanation.get("rule") is not None:
            rule_id = str(explanation.get("rule"))
            lines.append(f"rule {rule_id} decides{_rule_text(seg, rule_id)}")
    elif kind == "override":
        lines.append(
            f"override #{explanation.get('request_id')}: {explanation.get('from')} → "
            f"{explanation.get('outcome')}, requested by {explanation.get('requested_by')}, "
            f"approved by {explanation.get('approved_by')}: {explanation.get('reason')}"
        )
    if explanation.get("unassigned"):
        lines.append(f"unassigned: {explanation.get('reason')}")
    elif "outcome" in explanation and kind != "override":
        lines.append(f"→ {explanation.get('outcome')}")
    return lines


_ROW = "SELECT outcome, source, policy_version, assigned_at, explanation, id FROM "


def _policy_now(
    con: duckdb.DuckDBPyConnection, seg: Segmentation, project: Project, account_id: str
) -> Json:
    now = utc_naive(None)
    sql = f"SELECT explanation FROM ({decided_sql(seg, project)}) WHERE account_id = ?"
    try:
        row = con.execute(sql, [now, now, account_id]).fetchone()
    except duckdb.Error as exc:
        raise EngineError(f"segmentation {seg.id!r}: cannot evaluate the policy: {exc}") from exc
    if row is None:
        return {"unassigned": True, "reason": "not closed-won yet", "outcome": None}
    return _parse(row[0])


def explain_account(store: Store, project: Project, account_id: str) -> AccountExplanation:
    """Explain ``account_id`` in every segmentation; EngineError (did you mean) if unknown."""
    con = store.con
    name = require_account(con, account_id)
    overrides = list_overrides(store, account_id=account_id)
    parts: list[SegmentationExplanation] = []
    for seg in project.segmentations:
        key = [account_id, seg.id]
        current = _assignment(
            con,
            con.execute(
                _ROW + "current_assignments WHERE account_id = ? AND segmentation = ?", key
            ).fetchone(),
        )
        decided = _assignment(
            con,
            con.execute(
                _ROW + "assignments WHERE account_id = ? AND segmentation = ? "
                "AND source <> 'override' ORDER BY assigned_at DESC, id DESC LIMIT 1",
                key,
            ).fetchone(),
        )
        now = _policy_now(con, seg, project, account_id)
        steps: list[str] = []
        if current is not None and current.source == "override":
            steps.extend(describe_steps(current.explanation, seg))
        basis = decided.explanation if decided is not None else now
        steps.extend(describe_steps(basis, seg))
        parts.append(
            SegmentationExplanation(
                segmentation=seg.id,
                current=current,
                decided_by=decided,
                policy_now=now,
                steps=tuple(steps),
                overrides=tuple(o for o in overrides if o.segmentation == seg.id),
            )
        )
    return AccountExplanation(account_id, name, project.version, tuple(parts))
