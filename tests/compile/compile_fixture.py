"""Shared builders for the compile tests: a seed-like project built from model objects."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tierline.dsl import load_tree
from tierline.policy.model import (
    CORE_ACCOUNT_FIELDS,
    Binding,
    Condition,
    FieldDef,
    Loc,
    Project,
    Rule,
    RuleTable,
    Segmentation,
)

SEED = Path(__file__).resolve().parents[2] / "src" / "tierline" / "packs" / "seed"
TREE_PATH = SEED / "trees" / "onboarding-track.dag"

CUSTOM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("technical_team", "boolean"),
    FieldDef("needs_integration", "boolean"),
    FieldDef("needs_migration", "boolean"),
    FieldDef("custom_config", "boolean"),
    FieldDef("needs_configuration", "boolean"),
    FieldDef("expected_users", "integer"),
    FieldDef("config_hours", "number"),
    FieldDef("stakeholders", "integer"),
)

# The account columns the random books carry (besides id).
BOOK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("acv", "DOUBLE"),
    ("technical_team", "BOOLEAN"),
    ("needs_integration", "BOOLEAN"),
    ("needs_migration", "BOOLEAN"),
    ("custom_config", "BOOLEAN"),
    ("needs_configuration", "BOOLEAN"),
    ("expected_users", "BIGINT"),
    ("plan", "VARCHAR"),
    ("config_hours", "DOUBLE"),
    ("stakeholders", "BIGINT"),
)


def cond(sql: str, line: int = 1) -> Condition:
    """A condition located in a fake rules file."""
    return Condition(sql, Loc("rules/t.yaml", line, 10))


def seed_bindings(q2_null: str | None = None) -> tuple[Binding, ...]:
    """The seed pack's bindings of the onboarding tree (Q2's NULL rule optional)."""
    loc = Loc("tierline.yaml", 12, 7)
    return (
        Binding("Q1", field="acv", loc=loc),
        Binding("Q2", field="technical_team", null=q2_null, loc=Loc("tierline.yaml", 13, 7)),
        Binding(
            "Q3",
            when=Condition("needs_integration OR needs_migration OR custom_config", loc),
            loc=Loc("tierline.yaml", 14, 7),
        ),
        Binding(
            "Q4",
            when=Condition("acv > 150000 OR expected_users > 200", loc),
            loc=Loc("tierline.yaml", 15, 7),
        ),
    )


def tree_segmentation(sid: str = "onboarding_track", q2_null: str | None = None) -> Segmentation:
    """The seed tree bound as in the seed pack."""
    tree = load_tree(TREE_PATH)
    return Segmentation(sid, tree=tree, tree_path=str(TREE_PATH), bindings=seed_bindings(q2_null))


def tier_table(hit: str = "first", default: str | None = None) -> RuleTable:
    """The seed 000 tier rule: enterprise on acv or configuration, tech-touch above $5k."""
    return RuleTable(
        "onboarding_tier",
        hit,  # type: ignore[arg-type]
        (
            Rule(
                "enterprise",
                "ENTERPRISE",
                any=(cond("acv >= 25000", 5), cond("needs_configuration", 5)),
                loc=Loc("rules/t.yaml", 4, 5),
            ),
            Rule(
                "tech_touch",
                "TECH_TOUCH",
                all=(cond("acv >= 5000", 8), cond("NOT needs_configuration", 8)),
                loc=Loc("rules/t.yaml", 7, 5),
            ),
        ),
        default=default,
        path="rules/t.yaml",
        loc=Loc("rules/t.yaml", 1, 1),
    )


def project(*segs: Segmentation, root: Path | None = None) -> Project:
    """A project with the core fields, the custom fields and the given segmentations."""
    return Project(
        root=root or Path("."),
        name="test",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS + CUSTOM_FIELDS,
        segmentations=segs,
        version="test",
    )


def book_table(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    """Create table ``accounts`` (id + BOOK_COLUMNS) holding ``rows``."""
    cols = ", ".join(f"{n} {t}" for n, t in BOOK_COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE accounts (id VARCHAR, {cols})")
    names = ["id", *(n for n, _ in BOOK_COLUMNS)]
    marks = ", ".join("?" for _ in names)
    con.executemany(
        f"INSERT INTO accounts VALUES ({marks})", [[r.get(n) for n in names] for r in rows]
    )
