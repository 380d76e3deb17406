"""Compile a rule table (hit policy first | unique | any | collect | priority) to SQL.

An inner SELECT computes one boolean per rule, ``COALESCE(condition, FALSE)`` (a NULL
condition counts as not matched); the outer SELECT applies the hit policy with CASE:

- ``first``: the first matching rule in file order wins;
- ``priority``: the highest ``priority`` wins, ties broken by file order;
- ``unique``: exactly one rule may match; several → outcome NULL, reason
  ``several rules match: a, b``;
- ``any``: every matching rule must give the same ``then``; otherwise NULL with the reason;
- ``collect``: the outcome is the distinct outputs of every matching rule, sorted and
  joined with commas (``"HIGH,LOW"``); the explanation lists the matching rules.

No rule matching gives ``default`` (marked ``"default":true``), or NULL with the reason
``no rule matches``.
"""

from __future__ import annotations

from sqlglot import exp

from tierline.compile.decision import (
    DECISION_COLUMN,
    Decision,
    DecisionSelect,
    inline_columns,
    template_text,
)
from tierline.compile.fragment import (
    concat,
    condition_columns,
    json_inputs,
    json_text,
    literal,
    parse_condition_sql,
    sql_text,
)
from tierline.errors import CompileError
from tierline.policy.model import Project, Rule, RuleTable

__all__ = [
    "NO_MATCH",
    "compile_table",
    "compile_table_decisions",
    "evaluation_order",
    "flag_value",
    "match_column",
    "rule_condition",
    "table_columns",
]

NO_MATCH = "no rule matches"


def match_column(index: int) -> str:
    """The inner column holding whether rule ``index`` (file order) matched."""
    return f"tierline_m{index}"


def _conjunction(parts: list[exp.Expression], op: type[exp.And | exp.Or]) -> exp.Expression:
    out: exp.Expression = exp.Paren(this=parts[0]) if len(parts) > 1 else parts[0]
    for part in parts[1:]:
        out = op(this=out, expression=exp.Paren(this=part))
    return out


def rule_condition(rule: Rule, project: Project) -> exp.Expression | None:
    """The rule's condition: ``when`` AND (all…) AND (any OR…); None means always."""
    parts: list[exp.Expression] = []
    if rule.when is not None:
        parts.append(parse_condition_sql(rule.when, project))
    if rule.all:
        parts.append(_conjunction([parse_condition_sql(c, project) for c in rule.all], exp.And))
    if rule.any:
        parts.append(_conjunction([parse_condition_sql(c, project) for c in rule.any], exp.Or))
    if not parts:
        return None
    return _conjunction(parts, exp.And) if len(parts) > 1 else parts[0]


def evaluation_order(table: RuleTable) -> list[int]:
    """Rule indexes in the order the hit policy considers them."""
    order = list(range(len(table.rules)))
    if table.hit == "priority":
        order.sort(key=lambda i: (-table.rules[i].priority, i))
    return order


def table_columns(table: RuleTable, project: Project) -> list[str]:
    """The account columns the table's conditions read, first-seen order."""
    conds = [c for r in table.rules if (c := rule_condition(r, project)) is not None]
    return condition_columns(conds)


def _flag(index: int) -> exp.Expression:
    return exp.column(match_column(index))


def _count(flags: list[exp.Expression]) -> exp.Expression:
    terms: list[exp.Expression] = [
        exp.Case().when(f.copy(), literal(1)).else_(literal(0)) for f in flags
    ]
    out = terms[0] if terms else literal(0)
    for term in terms[1:]:
        out = exp.Add(this=out, expression=term)
    return exp.Paren(this=out)


def _joined(items: list[tuple[exp.Expression, str]], sep: str) -> exp.Expression:
    """SQL joining ``text`` for each true flag, separated by ``sep``."""
    if not items:
        return sql_text("")
    pieces = [
        exp.Case().when(f.copy(), sql_text(sep + text)).else_(sql_text("")) for f, text in items
    ]
    return exp.Substring(this=concat(pieces), start=literal(len(sep) + 1))


def _esc(text: str) -> str:
    """``text`` escaped for the inside of a JSON string."""
    return json_text(text)[1:-1]


class _TableCompiler:
    def __init__(self, table: RuleTable, project: Project) -> None:
        self.table = table
        self.project = project
        self.columns = table_columns(table, project)
        self.flags = [_flag(i) for i in range(len(table.rules))]
        self.outputs = sorted({r.then for r in table.rules})
        self.head = json_text({"kind": "rules", "table": table.id, "hit": table.hit})[:-1]

    def output_flag(self, output: str) -> exp.Expression:
        hits = [self.flags[i] for i, r in enumerate(self.table.rules) if r.then == output]
        out = hits[0].copy()
        for h in hits[1:]:
            out = exp.Or(this=out, expression=h.copy())
        return out

    def matched(self) -> exp.Expression:
        items = [(f, json_text(r.id)) for f, r in zip(self.flags, self.table.rules, strict=True)]
        return concat([sql_text("["), _joined(items, ","), sql_text("]")])

    def explain(self, fields: list[exp.Expression]) -> exp.Expression:
        return concat(
            [
                sql_text(self.head + ',"matched":'),
                self.matched(),
                sql_text(',"inputs":'),
                *json_inputs(self.columns, self.project),
                *fields,
                sql_text("}"),
            ]
        )

    def chosen(self, rule: Rule, outcome: str) -> exp.Expression:
        tail = json_text({"rule": rule.id, "outcome": outcome})[1:-1]
        return self.explain([sql_text("," + tail)])

    def unassigned(self, reason: list[exp.Expression]) -> exp.Expression:
        return self.explain(
            [
                sql_text(',"rule":null,"unassigned":true,"reason":"'),
                *reason,
                sql_text('","outcome":null'),
            ]
        )

    def nothing(self) -> tuple[exp.Expression, exp.Expression]:
        default = self.table.default
        if default is None:
            return exp.Null(), self.unassigned([sql_text(NO_MATCH)])
        tail = json_text({"rule": None, "default": True, "outcome": default})[1:-1]
        return sql_text(default), self.explain([sql_text("," + tail)])

    def first(self, order: list[int]) -> tuple[exp.Expression, exp.Expression]:
        outcome, expl = exp.Case(), exp.Case()
        for i in order:
            rule = self.table.rules[i]
            outcome = outcome.when(self.flags[i].copy(), sql_text(rule.then))
            expl = expl.when(self.flags[i].copy(), self.chosen(rule, rule.then))
        none_out, none_expl = self.nothing()
        return outcome.else_(none_out), expl.else_(none_expl)

    def counted(
        self,
        count: exp.Expression,
        one: tuple[exp.Expression, exp.Expression],
        many: tuple[exp.Expression, exp.Expression],
    ) -> tuple[exp.Expression, exp.Expression]:
        none_out, none_expl = self.nothing()
        zero = exp.EQ(this=count.copy(), expression=literal(0))
        single = exp.EQ(this=count.copy(), expression=literal(1))
        outcome = exp.Case().when(zero.copy(), none_out).when(single.copy(), one[0]).else_(many[0])
        expl = exp.Case().when(zero, none_expl).when(single, one[1]).else_(many[1])
        return outcome, expl

    def unique(self) -> tuple[exp.Expression, exp.Expression]:
        one = self.first(list(range(len(self.table.rules))))
        names = [(f, _esc(r.id)) for f, r in zip(self.flags, self.table.rules, strict=True)]
        reason = [sql_text("several rules match: "), _joined(names, ", ")]
        return self.counted(_count(self.flags), one, (exp.Null(), self.unassigned(reason)))

    def any_(self) -> tuple[exp.Expression, exp.Expression]:
        one = self.first(list(range(len(self.table.rules))))
        count = _count([self.output_flag(o) for o in self.outputs])
        items = [
            (f, _esc(f"{r.id} → {r.then}"))
            for f, r in zip(self.flags, self.table.rules, strict=True)
        ]
        reason = [sql_text("matching rules disagree: "), _joined(items, ", ")]
        return self.counted(count, one, (exp.Null(), self.unassigned(reason)))

    def collect(self) -> tuple[exp.Expression, exp.Expression]:
        flags = [self.output_flag(o) for o in self.outputs]
        joined = _joined(list(zip(flags, self.outputs, strict=True)), ",")
        escaped = _joined([(f, _esc(o)) for f, o in zip(flags, self.outputs, strict=True)], ",")
        expl = self.explain([sql_text(',"rule":null,"outcome":"'), escaped, sql_text('"')])
        none_out, none_expl = self.nothing()
        zero = exp.EQ(this=_count(flags), expression=literal(0))
        return (
            exp.Case().when(zero.copy(), none_out).else_(joined),
            exp.Case().when(zero, none_expl).else_(expl),
        )

    def decision(self) -> exp.Expression:
        """The decision code: the 1-based number of the rule that decides, else 0."""
        hit, rules = self.table.hit, self.table.rules
        if not rules or hit == "collect":
            return literal(0)
        order = evaluation_order(self.table)
        case = exp.Case()
        for i in order:
            case = case.when(self.flags[i].copy(), literal(i + 1))
        case = case.else_(literal(0))
        if hit == "unique":
            count = _count(self.flags)
        elif hit == "any":
            count = _count([self.output_flag(o) for o in self.outputs])
        else:
            return case
        single = exp.EQ(this=count, expression=literal(1))
        return exp.Case().when(single, case).else_(literal(0))

    def template(self, rule: Rule | None) -> str:
        """The explanation's shape for a decision by ``rule`` (None: code 0)."""
        table = self.table
        head: dict[str, object] = {"kind": "rules", "table": table.id, "hit": table.hit}
        if rule is not None:
            head.update({"rule": rule.id, "outcome": rule.then})
        else:
            head.update({"rule": None, "default": table.default})
        head["inputs"] = list(self.columns)
        head["rules"] = [_rule_template(r, table.hit == "priority") for r in table.rules]
        return template_text(head)

    def decisions(self, explanation: exp.Expression) -> tuple[Decision, ...]:
        """Every code with its template and its explanation over the account's columns."""
        values = {
            match_column(i): flag_value(r, self.project) for i, r in enumerate(self.table.rules)
        }
        hit = self.table.hit
        found: list[Decision] = []
        if hit != "collect":
            for i, rule in enumerate(self.table.rules):
                rendered = inline_columns(self.chosen(rule, rule.then), values)
                found.append(Decision(i + 1, rule.then, self.template(rule), rendered))
        static = hit in ("first", "priority") or not self.table.rules
        outcome = self.table.default if static else None
        found.insert(
            0, Decision(0, outcome, self.template(None), inline_columns(explanation, values))
        )
        return tuple(found)

    def policy(self) -> tuple[exp.Expression, exp.Expression]:
        hit = self.table.hit
        if not self.table.rules:
            return self.nothing()
        if hit in ("first", "priority"):
            return self.first(evaluation_order(self.table))
        if hit == "unique":
            return self.unique()
        if hit == "any":
            return self.any_()
        if hit == "collect":
            return self.collect()
        raise CompileError(f"{self.table.path}: unknown hit policy {hit!r}")


def flag_value(rule: Rule, project: Project) -> exp.Expression:
    """Whether ``rule`` matches: ``COALESCE((condition), FALSE)``, TRUE when it has none."""
    cond = rule_condition(rule, project)
    if cond is None:
        return exp.true()
    return exp.Coalesce(this=exp.Paren(this=cond), expressions=[exp.false()])


def _rule_template(rule: Rule, priority: bool) -> dict[str, object]:
    item: dict[str, object] = {"id": rule.id, "then": rule.then}
    if rule.when is not None:
        item["when"] = rule.when.sql
    if rule.all:
        item["all"] = [c.sql for c in rule.all]
    if rule.any:
        item["any"] = [c.sql for c in rule.any]
    if priority:
        item["priority"] = rule.priority
    return item


def _inner(compiler: _TableCompiler, source: str) -> exp.Select:
    table, project = compiler.table, compiler.project
    flags = [exp.alias_(flag_value(r, project), match_column(i)) for i, r in enumerate(table.rules)]
    extra = [exp.column(c) for c in compiler.columns if c != "id"]
    return exp.select(exp.column("id"), *extra, *flags).from_(source)


def compile_table(table: RuleTable, project: Project, source: str = "accounts") -> exp.Select:
    """The SELECT giving ``account_id, outcome, explanation`` for a rule table."""
    compiler = _TableCompiler(table, project)
    inner = _inner(compiler, source)
    outcome, explanation = compiler.policy()
    return exp.select(
        exp.alias_(exp.column("id"), "account_id"),
        exp.alias_(outcome, "outcome"),
        exp.alias_(explanation, "explanation"),
    ).from_(inner.subquery("t"))


def compile_table_decisions(
    table: RuleTable, project: Project, source: str = "accounts"
) -> DecisionSelect:
    """The decision SELECT of a rule table: the deciding rule's number is the code."""
    compiler = _TableCompiler(table, project)
    inner = _inner(compiler, source)
    outcome, explanation = compiler.policy()
    unassigned = exp.Case().when(
        exp.Is(this=exp.Paren(this=outcome.copy()), expression=exp.Null()), explanation.copy()
    )
    select = exp.select(
        exp.alias_(exp.column("id"), "account_id"),
        exp.alias_(outcome, "outcome"),
        exp.alias_(compiler.decision(), DECISION_COLUMN),
        exp.alias_(unassigned, "explanation"),
    ).from_(inner.subquery("t"))
    return DecisionSelect(select, compiler.decisions(explanation))
