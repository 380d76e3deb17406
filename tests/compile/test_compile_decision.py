"""Decision codes: the decision SELECT and every code's explanation SQL agree with the
compiled explanation SELECT, on random books (the agreement tests' generators), in memory
and through a real store (assigned by reference, rendered as of the assignment).
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from compile_fixture import CUSTOM_FIELDS, book_table, project, tier_table, tree_segmentation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compile_agreement import books, seed_pack, tables

from tierline.compile import DecisionSelect, segmentation_decisions, segmentation_select, to_sql
from tierline.engine.assign import assign_accounts, decided_sql
from tierline.engine.decision import recorded_explanations
from tierline.policy.model import Project, Segmentation
from tierline.store import Store


def _rendered(decisions: DecisionSelect, column: str = "d.decision") -> str:
    """SQL rendering each code's explanation over the account row in scope."""
    whens = " ".join(f"WHEN {d.code} THEN {to_sql(d.explanation)}" for d in decisions.decisions)
    return f"CASE {column} {whens} END"


def _check(seg: Segmentation, proj: Project, rows: list[dict[str, Any]]) -> None:
    book = [{"id": f"a{i:03d}", **r} for i, r in enumerate(rows)]
    decisions = segmentation_decisions(seg, proj)
    con = duckdb.connect()
    try:
        book_table(con, book)
        got = con.execute(
            f"""
            SELECT e.account_id, e.outcome, e.explanation, d.outcome, d.decision,
                   d.explanation, {_rendered(decisions)}
            FROM ({to_sql(segmentation_select(seg, proj))}) e
            JOIN ({to_sql(decisions.select)}) d USING (account_id)
            JOIN accounts ON accounts.id = e.account_id
            """
        ).fetchall()
    finally:
        con.close()
    assert len(got) == len(book)
    codes = {d.code: d for d in decisions.decisions}
    for _, outcome, explanation, d_outcome, code, d_expl, rendered in got:
        assert d_outcome == outcome
        assert int(code) in codes
        # The full explanation, rendered from the code's SQL, is the compiled one, exactly.
        assert rendered == explanation
        assert d_expl == (explanation if outcome is None else None)
        decision = codes[int(code)]
        if decision.outcome is not None:
            assert outcome == decision.outcome
        _check_template(json.loads(decision.template), json.loads(str(explanation)))


def _check_template(template: dict[str, Any], explanation: dict[str, Any]) -> None:
    """The template has the explanation's shape: the same steps or rule, names, no values."""
    assert template["kind"] == explanation["kind"]
    if template["kind"] == "tree":
        steps = [(s["question"], s["answer"], list(s["inputs"])) for s in explanation["path"]]
        assert [(s["question"], s["answer"], s["inputs"]) for s in template["path"]] == steps
        assert template["outcome"] == explanation["outcome"]
        assert template.get("reason") == explanation.get("reason")
    else:
        assert template["inputs"] == list(explanation["inputs"])
        assert template["rule"] == explanation["rule"]
        assert set(explanation["matched"]) <= {r["id"] for r in template["rules"]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books, st.sampled_from([None, "no", "yes"]))
def test_tree_decisions_render_the_compiled_explanation(
    rows: list[dict[str, Any]], q2_null: str | None
) -> None:
    seg = tree_segmentation(q2_null=q2_null)
    _check(seg, project(seg), rows)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["onboarding_track", "onboarding_tier", "value_band"]), books)
def test_seed_pack_decisions_render_the_compiled_explanation(
    sid: str, rows: list[dict[str, Any]]
) -> None:
    proj = seed_pack()
    seg = proj.segmentation(sid)
    assert seg is not None
    _check(seg, proj, rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), books)
def test_rule_table_decisions_render_the_compiled_explanation(
    table: Any, rows: list[dict[str, Any]]
) -> None:
    seg = Segmentation("t", table=table)
    _check(seg, project(seg), rows)


def test_codes_are_leaves_and_deciding_rules() -> None:
    seg = tree_segmentation()
    tree = segmentation_decisions(seg, project(seg))
    assert [d.code for d in tree.decisions] == list(range(len(tree.decisions)))
    assert {d.outcome for d in tree.decisions} >= {
        "SELF_SERVE",
        "GUIDED_ONBOARDING",
        "HIGH_TOUCH",
        "ENTERPRISE_PS",
        None,
    }
    assert tree.select.named_selects == ["account_id", "outcome", "decision", "explanation"]
    table = Segmentation("t", table=tier_table("first", default="LOW"))
    first = segmentation_decisions(table, project(table))
    assert [(d.code, d.outcome) for d in first.decisions] == [
        (0, "LOW"),
        (1, "ENTERPRISE"),
        (2, "TECH_TOUCH"),
    ]
    template = json.loads(first.decision(1).template)
    assert template["rule"] == "enterprise" and template["inputs"] == [
        "acv",
        "needs_configuration",
    ]
    assert template["rules"][0] == {
        "id": "enterprise",
        "then": "ENTERPRISE",
        "any": ["acv >= 25000", "needs_configuration"],
    }
    collect = Segmentation("t", table=tier_table("collect"))
    assert [d.code for d in segmentation_decisions(collect, project(collect)).decisions] == [0]


# --- through a real store: assigned by reference, rendered as of the assignment ---------

T0 = datetime(2026, 1, 1)
AS_OF = datetime(2026, 2, 1)
_COLUMNS = (
    "acv",
    "technical_team",
    "needs_integration",
    "needs_migration",
    "custom_config",
    "needs_configuration",
    "expected_users",
    "plan",
    "config_hours",
    "stakeholders",
)


def _load(store: Store, rows: list[dict[str, Any]], version: int, loaded_at: datetime) -> None:
    names = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    store.con.executemany(
        f"INSERT INTO account_versions (id, closed_won_at, version, loaded_at, source, {names}) "
        f"VALUES (?, ?, ?, ?, 'test', {marks})",
        [
            [f"a{i:03d}", T0, version, loaded_at, *(r.get(c) for c in _COLUMNS)]
            for i, r in enumerate(rows)
        ],
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), books, books)
def test_store_renders_what_the_policy_explained(
    table: Any, rows: list[dict[str, Any]], later: list[dict[str, Any]]
) -> None:
    tree = tree_segmentation("track", q2_null="no")
    proj = project(tree, Segmentation("t", table=table))
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "s.duckdb") as store:
        store.ensure_fields(CUSTOM_FIELDS)
        _load(store, rows, 1, T0)
        # New versions loaded after the assignment must not change what is rendered.
        _load(store, later, 2, AS_OF + timedelta(days=1))
        assign_accounts(store, proj, AS_OF, now=AS_OF)
        recorded = store.con.execute(
            "SELECT id, account_id, segmentation, explanation, decision_id FROM assignments"
        ).fetchall()
        assert all(e is None and d is not None for _, _, _, e, d in recorded)
        rendered = recorded_explanations(store.con, [int(str(r[0])) for r in recorded])
        for seg in proj.segmentations:
            compiled = {
                str(a): e
                for a, _, e in store.con.execute(decided_sql(seg, proj), [AS_OF, AS_OF]).fetchall()
            }
            mine = {str(a): rendered[int(str(i))] for i, a, s, _, _ in recorded if s == seg.id}
            assert mine == {a: compiled[a] for a in mine}
