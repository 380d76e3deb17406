"""Outcome ranks: explicit ``rank`` where every outcome has one, else the outcome order."""

from __future__ import annotations

from pathlib import Path

from engine_fixture import make_project, open_store, tree_segmentation

from tierline.engine.rank import outcome_ranks, sync_outcome_ranks
from tierline.policy.model import Condition, Rule, RuleTable, Segmentation


def _table(*ranks: object) -> Segmentation:
    rules = tuple(
        Rule(
            rid,
            rid.upper(),
            when=Condition(f"acv >= {i * 1000}"),
            meta=(() if r is None else (("rank", r),)),
        )
        for i, (rid, r) in enumerate(zip(("high", "tech", "self"), ranks, strict=True))
    )
    return Segmentation("tier", table=RuleTable("tier", "first", rules))


def test_tree_outcomes_in_file_order() -> None:
    assert outcome_ranks(tree_segmentation()) == {
        "SELF_SERVE": 0,
        "GUIDED_ONBOARDING": 1,
        "HIGH_TOUCH": 2,
        "ENTERPRISE_PS": 3,
    }


def test_explicit_rule_meta_rank_wins() -> None:
    assert outcome_ranks(_table(3, 2, "1")) == {"HIGH": 3, "TECH": 2, "SELF": 1}


def test_partial_ranks_fall_back_to_order() -> None:
    assert outcome_ranks(_table(3, None, 1)) == {"HIGH": 0, "TECH": 1, "SELF": 2}


def test_sync_replaces_the_mirror(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    project = make_project()
    sync_outcome_ranks(store.con, project)
    sync_outcome_ranks(store.con, project)
    rows = store.con.execute(
        "SELECT outcome, rank FROM outcome_ranks WHERE segmentation = 'tier' ORDER BY rank"
    ).fetchall()
    assert rows == [("SELF_SERVE", 0), ("TECH_TOUCH", 1), ("HIGH_TOUCH", 2)]
