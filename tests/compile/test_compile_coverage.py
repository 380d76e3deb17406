"""Coverage analysis: gaps and overlaps of rule tables and bound range questions."""

from __future__ import annotations

import re
from pathlib import Path

from compile_fixture import SEED, cond, project, tier_table, tree_segmentation

from tierline.compile.coverage import Domain, coverage_diagnostics, representatives
from tierline.dsl import parse_tree
from tierline.policy.load import load_project
from tierline.policy.model import Binding, Loc, Rule, RuleTable, Segmentation


def witness(message: str) -> dict[str, str]:
    """The ``name=value`` pairs of a diagnostic's witness."""
    return dict(re.findall(r"(\w+)=([\w.]+)", message))


def test_seed_000_style_table_reports_its_gap_with_a_witness() -> None:
    seg = Segmentation("tier", table=tier_table("first"))
    found = coverage_diagnostics(project(seg))
    gaps = [d for d in found if "has a gap" in d.message]
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.path, gap.line, gap.col, gap.severity) == ("rules/t.yaml", 1, 1, "warning")
    assert witness(gap.message) == {"acv": "4999", "needs_configuration": "false"}
    assert gap.render().startswith("rules/t.yaml:1:1: warning: rule table 'onboarding_tier'")


def test_policy_md_tier_rule_gap_is_under_the_floor_needing_configuration() -> None:
    table = RuleTable(
        "onboarding_tier",
        "first",
        (
            Rule("high_touch", "HIGH_TOUCH", any=(cond("acv >= 25000"), cond("needs_integration"))),
            Rule(
                "tech_touch",
                "TECH_TOUCH",
                all=(cond("acv >= 5000"), cond("acv < 25000"), cond("NOT needs_integration")),
            ),
            Rule(
                "self_serve",
                "SELF_SERVE",
                all=(
                    cond("acv < 5000"),
                    cond("NOT needs_configuration"),
                    cond("NOT needs_integration"),
                ),
            ),
        ),
        path="rules/onboarding-tier.yaml",
        loc=Loc("rules/onboarding-tier.yaml", 6, 1),
    )
    found = coverage_diagnostics(project(Segmentation("tier", table=table)))
    gaps = [d for d in found if "has a gap" in d.message]
    assert [(d.path, d.line, d.col) for d in gaps] == [("rules/onboarding-tier.yaml", 6, 1)]
    assert witness(gaps[0].message) == {
        "acv": "4999",
        "needs_integration": "false",
        "needs_configuration": "true",
    }


def test_a_default_closes_the_gap() -> None:
    seg = Segmentation("tier", table=tier_table("first", default="SELF_SERVE"))
    assert not [d for d in coverage_diagnostics(project(seg)) if d.severity == "warning"]


def test_null_only_gap_is_a_note() -> None:
    seg = Segmentation("tier", table=tier_table("first"))
    notes = [d for d in coverage_diagnostics(project(seg)) if d.severity == "note"]
    assert len(notes) == 1
    assert "no rule matches when needs_configuration is NULL" in notes[0].message
    assert witness(notes[0].message)["needs_configuration"] == "NULL"


def test_unique_table_overlap_has_a_witness() -> None:
    seg = Segmentation("tier", table=tier_table("unique"))
    overlaps = [d for d in coverage_diagnostics(project(seg)) if "match together" in d.message]
    assert len(overlaps) == 1
    message = overlaps[0].message
    assert "rules enterprise and tech_touch match together" in message
    found = witness(message.split("e.g.")[1])
    assert float(found["acv"]) >= 25000 and found["needs_configuration"] == "false"
    assert (overlaps[0].path, overlaps[0].line) == ("rules/t.yaml", 1)


def test_first_table_reports_no_overlap() -> None:
    seg = Segmentation("tier", table=tier_table("first", default="X"))
    assert coverage_diagnostics(project(seg)) == []


def test_any_table_reports_disagreeing_rules() -> None:
    seg = Segmentation("tier", table=tier_table("any", default="X"))
    found = [d for d in coverage_diagnostics(project(seg)) if "disagree" in d.message]
    assert len(found) == 1 and "enterprise and tech_touch" in found[0].message


def test_seed_tree_q1_on_acv_has_no_gap_or_overlap() -> None:
    assert coverage_diagnostics(project(tree_segmentation())) == []


GAPPED = """dag: gapped
entry: Q1

Q1: ACV?
  A: Under $10,000 -> [SMALL]
  B: $20,000 – $75,000 -> [MID]
  C: $70,000 or more -> [BIG]

[SMALL]: Small
[MID]: Mid
[BIG]: Big
"""


def test_gapped_range_labels_report_the_gap_and_the_overlap_at_the_binding() -> None:
    tree = parse_tree(GAPPED, "trees/gapped.dag")
    binding = Binding("Q1", field="acv", loc=Loc("tierline.yaml", 14, 7))
    seg = Segmentation("g", tree=tree, bindings=(binding,))
    found = coverage_diagnostics(project(seg))
    assert [(d.path, d.line, d.col, d.severity) for d in found] == [
        ("tierline.yaml", 14, 7, "warning"),
        ("tierline.yaml", 14, 7, "warning"),
    ]
    gap, overlap = found
    assert gap.message == "Q1 of 'g': no answer covers acv=10000; they stay unassigned"
    assert gap.hint is not None and "trees/gapped.dag:4" in gap.hint
    assert overlap.message.startswith("Q1 of 'g': answers B and C overlap at acv=70000")


def test_gap_with_a_null_answer_is_a_note() -> None:
    tree = parse_tree(GAPPED, "trees/gapped.dag")
    seg = Segmentation("g", tree=tree, bindings=(Binding("Q1", field="acv", null="A"),))
    gap = coverage_diagnostics(project(seg))[0]
    assert gap.severity == "note" and "take answer 'A'" in gap.message
    assert (gap.path, gap.line) == ("trees/gapped.dag", 4)  # no binding place: the question


def test_compile_errors_become_diagnostics_at_the_segmentation() -> None:
    table = RuleTable("t", "first", (Rule("r", "X", when=cond("acvv > 1")),))
    seg = Segmentation("t", table=table, loc=Loc("tierline.yaml", 30, 3))
    (diag,) = coverage_diagnostics(project(seg))
    assert (diag.path, diag.line, diag.col, diag.severity) == ("tierline.yaml", 30, 3, "error")
    assert "unknown name 'acvv'" in diag.message


def test_representatives_cover_every_region() -> None:
    assert representatives([5000, 25000], Domain(0.0, False, False)) == [
        0.0, 4999.0, 5000.0, 24999.0, 25000.0, 25001.0,
    ]  # fmt: skip
    assert representatives([200], Domain(0.0, True, True)) == [0.0, 199.0, 200.0, 201.0]
    assert representatives([], Domain(None, False, True)) == [0.0]


def test_seed_pack_lint_reports_the_seed_000_gap() -> None:
    proj = load_project(SEED)
    found = coverage_diagnostics(proj)
    tier = [d for d in found if "'onboarding_tier' has a gap" in d.message]
    assert tier, found
    assert all(Path(d.path).name == "onboarding-tier.yaml" and d.line >= 1 for d in tier)
    under_floor = [
        w
        for w in (witness(d.message) for d in tier)
        if float(w["acv"]) < 5000 and w["needs_configuration"] == "true"
    ]
    assert under_floor, [d.message for d in tier]
    # The seed tree (Q1 on acv) and the value bands (unique, meeting ranges) are clean.
    assert not [d for d in found if "onboarding_track" in d.message or "value_band" in d.message]
