"""Rule tables compile to SQL: every hit policy, all/any/when, defaults, stable rule ids."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from compile_fixture import book_table, cond, project, tier_table

from tierline.compile import segmentation_select, to_sql
from tierline.errors import CompileError
from tierline.policy.model import Rule, RuleTable, Segmentation


def decide(table: RuleTable, **account: Any) -> tuple[str | None, dict[str, Any]]:
    """Run the compiled table for one account on DuckDB."""
    seg = Segmentation("t", table=table)
    con = duckdb.connect()
    try:
        book_table(con, [{"id": "a1", **account}])
        rows = con.execute(to_sql(segmentation_select(seg, project(seg)), "duckdb")).fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    return rows[0][1], json.loads(rows[0][2])


def test_first_hit_names_the_rule_and_the_inputs() -> None:
    outcome, explanation = decide(tier_table("first"), acv=30000, needs_configuration=False)
    assert outcome == "ENTERPRISE"
    assert explanation == {
        "kind": "rules",
        "table": "onboarding_tier",
        "hit": "first",
        "matched": ["enterprise", "tech_touch"],
        "inputs": {"acv": 30000, "needs_configuration": False},
        "rule": "enterprise",
        "outcome": "ENTERPRISE",
    }


def test_no_match_without_default_is_unassigned() -> None:
    outcome, explanation = decide(tier_table("first"), acv=4999, needs_configuration=False)
    assert outcome is None
    assert explanation["matched"] == []
    assert explanation["unassigned"] is True
    assert explanation["reason"] == "no rule matches"


def test_null_condition_counts_as_not_matched_and_default_applies() -> None:
    outcome, explanation = decide(
        tier_table("first", default="SELF_SERVE"), acv=10000, needs_configuration=None
    )
    assert outcome == "SELF_SERVE"
    assert explanation["default"] is True and explanation["rule"] is None
    assert explanation["inputs"] == {"acv": 10000, "needs_configuration": None}


def test_unique_refuses_several_matches() -> None:
    outcome, explanation = decide(tier_table("unique"), acv=30000, needs_configuration=False)
    assert outcome is None
    assert explanation["reason"] == "several rules match: enterprise, tech_touch"
    outcome, explanation = decide(tier_table("unique"), acv=6000, needs_configuration=False)
    assert (outcome, explanation["rule"]) == ("TECH_TOUCH", "tech_touch")


def _bands(hit: str) -> RuleTable:
    return RuleTable(
        "bands",
        hit,  # type: ignore[arg-type]
        (
            Rule("big", "HIGH", when=cond("acv >= 100000"), priority=1),
            Rule("many_users", "HIGH", when=cond("expected_users > 200"), priority=2),
            Rule("mid", "MID", all=(cond("acv >= 10000"), cond("acv < 150000")), priority=3),
            Rule("any_low", "LOW", any=(cond("acv < 10000"), cond("expected_users <= 5"))),
        ),
    )


def test_any_accepts_agreeing_rules_and_refuses_disagreeing_ones() -> None:
    outcome, explanation = decide(_bands("any"), acv=200000, expected_users=300)
    assert outcome == "HIGH"
    assert explanation["matched"] == ["big", "many_users"]
    assert explanation["rule"] == "big"
    outcome, explanation = decide(_bands("any"), acv=120000, expected_users=300)
    assert outcome is None
    assert explanation["reason"] == (
        "matching rules disagree: big → HIGH, many_users → HIGH, mid → MID"
    )


def test_collect_joins_the_distinct_outputs() -> None:
    outcome, explanation = decide(_bands("collect"), acv=120000, expected_users=3)
    assert outcome == "HIGH,LOW,MID"
    assert explanation["matched"] == ["big", "mid", "any_low"]
    assert explanation["outcome"] == "HIGH,LOW,MID"


def test_priority_takes_the_highest_then_file_order() -> None:
    outcome, explanation = decide(_bands("priority"), acv=120000, expected_users=300)
    assert (outcome, explanation["rule"]) == ("MID", "mid")
    outcome, explanation = decide(_bands("priority"), acv=200000, expected_users=300)
    assert (outcome, explanation["rule"]) == ("HIGH", "many_users")
    tied = RuleTable(
        "tied",
        "priority",
        (Rule("one", "A", when=cond("acv > 0")), Rule("two", "B", when=cond("acv > 1"))),
    )
    assert decide(tied, acv=5)[1]["rule"] == "one"


def test_rule_without_condition_always_matches() -> None:
    table = RuleTable("t", "first", (Rule("never", "X", when=cond("acv < 0")), Rule("all", "Y")))
    assert decide(table, acv=None)[0] == "Y"


def test_empty_table_gives_the_default() -> None:
    assert decide(RuleTable("t", "unique", (), default="D"), acv=1)[0] == "D"


def test_unknown_field_in_rule_is_a_compile_error_with_suggestion() -> None:
    table = RuleTable("t", "first", (Rule("r", "X", when=cond("expected_user > 3", 7)),))
    seg = Segmentation("t", table=table)
    with pytest.raises(CompileError, match="did you mean 'expected_users'"):
        segmentation_select(seg, project(seg))
