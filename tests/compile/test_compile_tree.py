"""A bound decision tree compiles to one CASE: range labels, booleans, `when:`, NULL rules."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from compile_fixture import book_table, project, seed_bindings, tree_segmentation

from tierline.compile import segmentation_select, to_sql
from tierline.dsl import parse_tree
from tierline.errors import CompileError
from tierline.policy.model import Binding, Condition, Loc, Segmentation


def decide(seg: Segmentation, **account: Any) -> tuple[str | None, dict[str, Any]]:
    """Run the compiled SQL for one account on DuckDB."""
    con = duckdb.connect()
    try:
        book_table(con, [{"id": "a1", **account}])
        sql = to_sql(segmentation_select(seg, project(seg)), "duckdb")
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    assert len(rows) == 1 and rows[0][0] == "a1"
    return rows[0][1], json.loads(rows[0][2])


def answers(explanation: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(s["question"], s["answer"]) for s in explanation["path"]]


SEED = tree_segmentation()
TECH = {"technical_team": True, "needs_integration": False, "needs_migration": False}


@pytest.mark.parametrize(
    ("acv", "answer"),
    [(0, "A"), (9999.99, "A"), (10000, "B"), (50000, "B"), (75000, "B"), (75000.01, "C")],
)
def test_q1_range_labels_are_intervals(acv: float, answer: str) -> None:
    _, explanation = decide(SEED, acv=acv, **TECH, custom_config=False)
    first = explanation["path"][0]
    assert (first["question"], first["answer"]) == ("Q1", answer)
    assert first["inputs"] == {"acv": acv}


def test_small_account_is_self_serve_with_its_path() -> None:
    outcome, explanation = decide(SEED, acv=4000)
    assert outcome == "SELF_SERVE"
    assert explanation == {
        "kind": "tree",
        "path": [
            {"question": "Q1", "answer": "A", "label": "Under $10,000", "inputs": {"acv": 4000}}
        ],
        "outcome": "SELF_SERVE",
    }


def test_boolean_field_and_when_expression_route_the_tree() -> None:
    outcome, explanation = decide(
        SEED, acv=50000, technical_team=True, needs_integration=False,
        needs_migration=True, custom_config=False, expected_users=250,
    )  # fmt: skip
    assert outcome == "ENTERPRISE_PS"
    assert answers(explanation) == [("Q1", "B"), ("Q2", "yes"), ("Q3", "yes"), ("Q4", "yes")]
    assert explanation["path"][2]["inputs"] == {
        "needs_integration": False,
        "needs_migration": True,
        "custom_config": False,
    }
    assert list(explanation["path"][2]["inputs"]) == [
        "needs_integration",
        "needs_migration",
        "custom_config",
    ]  # the order the condition names them
    assert explanation["path"][3]["inputs"] == {"acv": 50000, "expected_users": 250}
    outcome, explanation = decide(SEED, acv=50000, technical_team=False)
    assert outcome == "GUIDED_ONBOARDING"
    assert answers(explanation) == [("Q1", "B"), ("Q2", "no")]


def test_null_input_without_null_rule_is_unassigned_with_reason() -> None:
    outcome, explanation = decide(SEED, acv=20000, technical_team=None)
    assert outcome is None
    assert explanation["unassigned"] is True
    assert explanation["outcome"] is None
    assert explanation["reason"] == "Q2: technical_team is NULL and the binding has no null rule"
    assert explanation["path"][-1] == {
        "question": "Q2", "answer": None, "label": None, "inputs": {"technical_team": None},
    }  # fmt: skip


def test_null_acv_stops_at_q1() -> None:
    outcome, explanation = decide(SEED, acv=None)
    assert outcome is None
    assert explanation["reason"] == "Q1: acv is NULL and the binding has no null rule"


def test_unknown_when_expression_is_unassigned_not_no() -> None:
    # needs_integration NULL and the others FALSE: the OR is UNKNOWN, not FALSE.
    outcome, explanation = decide(
        SEED, acv=100000, needs_integration=None, needs_migration=False, custom_config=False
    )
    assert outcome is None
    assert explanation["reason"].startswith("Q3: needs_integration OR needs_migration")
    assert "is NULL" in explanation["reason"]


def test_null_no_routes_null_to_the_no_answer() -> None:
    # "When in doubt, assume less sophistication": Q2 {field: technical_team, null: "no"}.
    seg = tree_segmentation(q2_null="no")
    outcome, explanation = decide(seg, acv=20000, technical_team=None)
    assert outcome == "GUIDED_ONBOARDING"
    step = explanation["path"][1]
    assert step["answer"] == "no" and step["null"] is True
    assert step["inputs"] == {"technical_team": None}


GAPPED = """dag: gapped
entry: Q1

Q1: ACV?
  A: Under $10,000 -> [SMALL]
  B: $20,000 – $75,000 -> [MID]
  C: Above $75,000 -> [BIG]

[SMALL]: Small
[MID]: Mid
[BIG]: Big
"""


def test_value_in_a_range_gap_is_unassigned_not_null() -> None:
    tree = parse_tree(GAPPED, "gapped.dag")
    seg = Segmentation("g", tree=tree, bindings=(Binding("Q1", field="acv"),))
    outcome, explanation = decide(seg, acv=15000)
    assert outcome is None
    assert explanation["reason"] == "Q1: acv matches no answer and the binding has no null rule"
    assert decide(seg, acv=20000)[0] == "MID"
    with_null = Segmentation("g", tree=tree, bindings=(Binding("Q1", field="acv", null="A"),))
    assert decide(with_null, acv=None)[0] == "SMALL"


def test_per_answer_conditions_binding() -> None:
    tree = parse_tree(GAPPED, "gapped.dag")
    binding = Binding(
        "Q1",
        answers=(("C", Condition("acv > 100000")), ("A", Condition("acv <= 100000"))),
    )
    seg = Segmentation("g", tree=tree, bindings=(binding,))
    assert decide(seg, acv=200000)[0] == "BIG"
    assert decide(seg, acv=5)[0] == "SMALL"
    outcome, explanation = decide(seg, acv=None)
    assert outcome is None
    assert "no answer's condition is TRUE" in explanation["reason"]


def _with(binding: Binding) -> Segmentation:
    others = tuple(b for b in seed_bindings() if b.question != binding.question)
    return Segmentation("s", tree=SEED.tree, bindings=(binding, *others))


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        (Binding("Q1", field="acvv", loc=Loc("tierline.yaml", 9, 5)), "unknown field 'acvv'"),
        (Binding("Q1", field="technical_team"), "answers are not yes / no"),
        (Binding("Q2", field="acv"), "answers are not range labels"),
        (Binding("Q1", when=Condition("acv > 1")), "answers are not yes / no"),
        (Binding("Q2", field="technical_team", null="maybe"), "names answer 'maybe'"),
        (Binding("Q9", field="acv"), "unknown question 'Q9'"),
        (Binding("Q2"), "neither field, when nor answers"),
    ],
)
def test_bad_bindings_raise_compile_error(binding: Binding, message: str) -> None:
    seg = _with(binding)
    with pytest.raises(CompileError, match=message):
        segmentation_select(seg, project(seg))


def test_unknown_name_in_when_suggests_the_field() -> None:
    seg = _with(Binding("Q3", when=Condition("needs_integraton", Loc("tierline.yaml", 14, 18))))
    with pytest.raises(CompileError) as err:
        segmentation_select(seg, project(seg))
    assert "tierline.yaml:14:18: error: unknown name 'needs_integraton'" in str(err.value)
    assert "did you mean 'needs_integration'?" in str(err.value)


def test_reachable_question_without_binding_is_an_error() -> None:
    seg = Segmentation("s", tree=SEED.tree, bindings=seed_bindings()[:1])
    with pytest.raises(CompileError, match="Q2 is reachable but has no binding"):
        segmentation_select(seg, project(seg))
