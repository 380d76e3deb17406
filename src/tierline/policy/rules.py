"""Read one rule table file (``rules/*.yaml``) into a :class:`~tierline.policy.model.RuleTable`.

The file's shape is checked by :class:`~tierline.policy.schema.RuleTableEdge`; then rule ids
(given, or ``rule1``, ``rule2`` … by position), outcome names and every condition (parsed
and checked by sqlglot against the known account fields) are checked, every problem going
to the project's :class:`~tierline.policy.shape.Report`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tierline.expr.condition import check_condition
from tierline.policy.model import Condition, Loc, Rule, RuleTable
from tierline.policy.schema import RuleEdge, RuleTableEdge
from tierline.policy.shape import Report, quiet, read_yaml, validate_shape
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos

__all__ = ["NAME", "FileReader", "check_sql", "freeze", "read_rule_table"]

# What ids and outcome names must look like: letters, digits and _, not starting with a digit.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_sql(
    report: Report, path: str, sql: str, pos: Pos, known: Mapping[str, str]
) -> Condition | None:
    """The condition written at ``pos`` of ``path`` when valid; else None (problems reported)."""
    loc = Loc(path, pos.line, pos.content_col, pos.length)
    _, problems = check_condition(sql, known, loc)
    report.extend(problems)
    return None if problems else Condition(sql, loc)


def freeze(value: object) -> object:
    """A YAML value made immutable: mappings become tuples of pairs, lists tuples."""
    if isinstance(value, dict):
        return tuple((str(k), freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def read_rule_table(
    report: Report, path: str, text: str | None, known: Mapping[str, str]
) -> RuleTable | None:
    """Check a rule table file's text; the table, or None when it has any error."""
    if text is None:
        return None
    before = len(report.diagnostics)
    data = read_yaml(report, path, text)
    if not isinstance(data, MarkedDict):
        if len(report.diagnostics) == before:
            what = "is empty" if data is None else "must be a mapping (key: value)"
            report.add(path, Pos(), f"the rule table {what}; it needs id, hit and rules")
        return None
    edge = validate_shape(report, path, RuleTableEdge, data)
    reader = _TableReader(report, path, data, known)
    rules = reader.rules(edge)
    if edge is None or len(report.errors_in(path)) > 0:
        return None
    reader.check_name(edge.id, "id")
    if edge.default is not None:
        reader.check_name(edge.default, "default")
    if len(report.errors_in(path)) > 0:
        return None
    key = data.key_pos["id"]
    return RuleTable(
        id=edge.id,
        hit=edge.hit,
        rules=rules,
        default=edge.default,
        description=edge.description,
        path=path,
        loc=Loc(path, key.line, key.col, key.length),
    )


class FileReader:
    """What a reader of one policy file holds, and how it reports a problem at its place.

    ``report`` collects every problem, each at a position in ``path``; ``data`` is the file's
    top-level mapping (with positions); ``known`` maps account field names to their types, to
    check conditions against. The rule table reader here and
    :class:`tierline.policy.touch.PartReader` (track files) build on it.
    """

    def __init__(
        self, report: Report, path: str, data: MarkedDict, known: Mapping[str, str]
    ) -> None:
        self.report = report
        self.path = path
        self.data = data
        self.known = known

    def add(self, pos: Pos, message: str, hint: str | None = None) -> None:
        """Report an error at ``pos`` of this file."""
        self.report.add(self.path, pos, message, hint)

    def warn(self, pos: Pos, message: str, hint: str | None = None) -> None:
        """Report a warning at ``pos`` of this file."""
        self.report.add(self.path, pos, message, hint, severity="warning")


class _TableReader(FileReader):
    def check_name(self, value: str, key: str, holder: MarkedDict | None = None) -> bool:
        where = holder if holder is not None else self.data
        if NAME.match(value):
            return True
        pos = where.value_pos[key]
        self.add(
            Pos(pos.line, pos.content_col, max(1, len(value))),
            f"{key} {value!r} must be a name: letters, digits and _ (e.g. HIGH_TOUCH)",
        )
        return False

    def rules(self, edge: RuleTableEdge | None) -> tuple[Rule, ...]:
        raw = self.data.get("rules")
        if not isinstance(raw, MarkedList):
            return ()
        if not raw:
            self.add(self.data.key_pos["rules"], "the table has no rules")
            return ()
        hit = edge.hit if edge is not None else None
        out: list[Rule] = []
        seen: dict[str, Pos] = {}
        for i, item in enumerate(raw):
            rule_edge = quiet(RuleEdge, item)
            if rule_edge is None or not isinstance(item, MarkedDict):
                continue  # the shape check reported it
            rid = rule_edge.id if rule_edge.id is not None else f"rule{i + 1}"
            at = item.key_pos.get("id", raw.item_pos[i])
            if rid in seen:
                first = seen[rid].line
                self.add(at, f"duplicate rule id {rid!r} (first on line {first})")
            else:
                seen[rid] = at
            rule = self.rule(rid, item, rule_edge, raw.item_pos[i], hit)
            if rule is not None:
                out.append(rule)
        return tuple(out)

    def rule(
        self, rid: str, item: MarkedDict, edge: RuleEdge, pos: Pos, hit: str | None
    ) -> Rule | None:
        ok = self.check_name(edge.then, "then", item)
        if edge.id is not None:
            ok = self.check_name(edge.id, "id", item) and ok
        if edge.priority is not None and hit is not None and hit != "priority":
            self.warn(
                item.key_pos["priority"],
                f"`priority:` is read only with hit: priority (this table is hit: {hit})",
            )
        when = None
        if edge.when is not None:
            when = check_sql(self.report, self.path, edge.when, item.value_pos["when"], self.known)
            ok = ok and when is not None
        parts: dict[str, tuple[Condition, ...]] = {}
        for key in ("all", "any"):
            sqls: list[str] | None = getattr(edge, key)
            if sqls is None:
                parts[key] = ()
                continue
            raw = item[key]
            assert isinstance(raw, MarkedList)
            if not sqls:
                self.add(item.key_pos[key], f"empty `{key}:` list")
                ok = False
            conds = [
                check_sql(self.report, self.path, sql, raw.item_pos[j], self.known)
                for j, sql in enumerate(sqls)
            ]
            ok = ok and all(c is not None for c in conds)
            parts[key] = tuple(c for c in conds if c is not None)
        if not ok:
            return None
        meta = freeze(edge.meta or {})
        assert isinstance(meta, tuple)
        return Rule(
            id=rid,
            then=edge.then,
            all=parts["all"],
            any=parts["any"],
            when=when,
            priority=edge.priority or 0,
            meta=meta,
            loc=Loc(self.path, pos.line, pos.col, pos.length),
        )
