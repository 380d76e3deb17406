"""The compiled SQL, run on DuckDB, agrees with the reference evaluator on random books."""

from __future__ import annotations

import functools
import json
from typing import Any

import duckdb
import sqlglot
from compile_fixture import SEED, book_table, cond, project, tier_table, tree_segmentation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline.compile import DIALECTS, segmentation_select, to_sql
from tierline.engine.reference import evaluate_segmentation
from tierline.policy.load import load_project
from tierline.policy.model import HitPolicy, Project, Rule, RuleTable, Segmentation

HIT_POLICIES: list[HitPolicy] = ["first", "unique", "any", "collect", "priority"]
BOUNDARIES = [0.0, 4999.0, 5000.0, 9999.99, 10000.0, 25000.0, 75000.0, 75000.01, 150000.0]

acvs = st.one_of(
    st.sampled_from([*BOUNDARIES, 150000.01, 24999.5, 5000.5]),
    st.floats(min_value=0, max_value=1_000_000, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=400_000).map(float),
    st.none(),
)
flags = st.one_of(st.booleans(), st.none())
plans = st.one_of(
    st.sampled_from(["pro", "team", "Enterprise", "PRO", 'say "hi"', "back\\slash", "a\nb\tc"]),
    st.text(alphabet=st.sampled_from('abeEnPRt _%"\\\n\té'), max_size=8),
    st.none(),
)
users = st.one_of(st.sampled_from([0, 1, 199, 200, 201]), st.integers(0, 10_000), st.none())

accounts = st.fixed_dictionaries(
    {
        "acv": acvs,
        "technical_team": flags,
        "needs_integration": flags,
        "needs_migration": flags,
        "custom_config": flags,
        "needs_configuration": flags,
        "expected_users": users,
        "plan": plans,
        "config_hours": st.one_of(st.sampled_from([0.0, 1.5, 2.0, 2.5]), st.none()),
        "stakeholders": st.one_of(st.integers(0, 5), st.none()),
    }
)
books = st.lists(accounts, min_size=1, max_size=40)

# Conditions the random rule tables draw from: every construct the evaluator supports.
ATOMS = [
    "acv >= 25000",
    "acv >= 5000",
    "acv < 5000",
    "acv BETWEEN 5000 AND 25000",
    "acv NOT BETWEEN 10000 AND 75000",
    "needs_configuration",
    "NOT needs_configuration",
    "needs_integration OR needs_migration",
    "COALESCE(custom_config, FALSE) = TRUE",
    "expected_users IN (1, 200, 201)",
    "expected_users NOT IN (0, 199)",
    "expected_users > 200 OR acv > 150000",
    "acv / NULLIF(expected_users, 0) > 100",
    "acv * 2 - 1000 >= 49000",
    "expected_users % 7 = 3",
    "GREATEST(acv, expected_users * 100) > 20000",
    "LEAST(acv, 60000) < 10000",
    "technical_team IS NULL",
    "technical_team IS NOT NULL AND NOT technical_team",
    "ABS(acv - 75000) <= 1",
    "needs_configuration = TRUE",
    "acv <> 10000",
    "plan IN ('pro', 'team')",
    "LOWER(plan) LIKE 'ent%'",
    "UPPER(plan) = 'PRO'",
    "plan ILIKE '%a_e%'",
    "plan NOT ILIKE 'p%'",
    "needs_migration IS TRUE",
    "custom_config IS NOT FALSE",
    "plan IS NULL OR plan NOT LIKE '%\"%'",
]


def _run(seg: Segmentation, proj: Project, rows: list[dict[str, Any]]) -> None:
    book = [{"id": f"a{i:03d}", **r} for i, r in enumerate(rows)]
    con = duckdb.connect()
    try:
        book_table(con, book)
        sql = to_sql(segmentation_select(seg, proj), "duckdb")
        got = {a: (o, json.loads(e)) for a, o, e in con.execute(sql).fetchall()}
    finally:
        con.close()
    assert len(got) == len(book)
    for account in book:
        outcome, explanation = evaluate_segmentation(seg, proj, account)
        assert got[str(account["id"])] == (outcome, explanation), account


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books, st.sampled_from([None, "no", "yes"]))
def test_seed_tree_sql_matches_reference(rows: list[dict[str, Any]], q2_null: str | None) -> None:
    seg = tree_segmentation(q2_null=q2_null)
    _run(seg, project(seg), rows)


@functools.cache
def seed_pack() -> Project:
    """The shipped seed pack, loaded by the real project loader."""
    return load_project(SEED)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["onboarding_track", "onboarding_tier", "value_band"]), books)
def test_seed_pack_sql_matches_reference(sid: str, rows: list[dict[str, Any]]) -> None:
    proj = seed_pack()
    seg = proj.segmentation(sid)
    assert seg is not None
    _run(seg, proj, rows)


@st.composite
def rules(draw: st.DrawFn, index: int) -> Rule:
    shape = draw(st.sampled_from(["when", "all", "any", "mixed", "always"]))
    pick = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3, unique=True)
    then = draw(st.sampled_from(["HIGH", "MID", "LOW"]))
    priority = draw(st.integers(0, 3))
    when = cond(draw(st.sampled_from(ATOMS))) if shape in ("when", "mixed") else None
    all_ = tuple(cond(s) for s in draw(pick)) if shape in ("all", "mixed") else ()
    any_ = tuple(cond(s) for s in draw(pick)) if shape in ("any", "mixed") else ()
    return Rule(f"r{index}", then, all=all_, any=any_, when=when, priority=priority)


@st.composite
def tables(draw: st.DrawFn) -> RuleTable:
    count = draw(st.integers(1, 5))
    found = tuple(draw(rules(i)) for i in range(count))
    hit: HitPolicy = draw(st.sampled_from(HIT_POLICIES))
    default = draw(st.sampled_from([None, "DEFAULT"]))
    return RuleTable("random", hit, found, default=default)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), books)
def test_rule_table_sql_matches_reference(table: RuleTable, rows: list[dict[str, Any]]) -> None:
    seg = Segmentation("t", table=table)
    _run(seg, project(seg), rows)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["first", "unique", "any", "collect", "priority"]), books)
def test_seed_tier_table_matches_reference(hit: str, rows: list[dict[str, Any]]) -> None:
    seg = Segmentation("tier", table=tier_table(hit))
    _run(seg, project(seg), rows)


def test_emitted_sql_parses_back_in_every_dialect() -> None:
    table = RuleTable(
        "mixed",
        "unique",
        tuple(
            Rule(f"r{i}", then, when=cond(atom))
            for i, (atom, then) in enumerate(zip(ATOMS, ["A", "B", "C"] * 10, strict=False))
        ),
    )
    segs = [tree_segmentation(), tree_segmentation("t2", q2_null="no")]
    segs += [
        Segmentation(f"tier_{h}", table=tier_table(h))
        for h in ("first", "unique", "any", "collect", "priority")
    ]
    segs.append(Segmentation("mixed", table=table))
    proj = project(*segs)
    for seg in segs:
        for dialect in DIALECTS:
            text = to_sql(segmentation_select(seg, proj), dialect)
            back = sqlglot.parse_one(text, read=dialect)
            assert isinstance(back, sqlglot.exp.Select)
            assert back.find(sqlglot.exp.Case) is not None
            assert back.named_selects == ["account_id", "outcome", "explanation"]
