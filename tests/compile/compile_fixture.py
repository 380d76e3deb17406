"""Shared builders for the compile tests: a seed-like project built from model objects."""

from __future__ import annotations

from pathlib import Path

import duckdb

from seed_fixture import SEED, SEED_FIELDS, seed_bindings, seed_project, seed_tree
from tierline.policy.model import Condition, FieldDef, Loc, Project, Rule, RuleTable, Segmentation

__all__ = [
    "BOOK_COLUMNS",
    "CUSTOM_FIELDS",
    "SEED",
    "book_table",
    "cond",
    "project",
    "seed_bindings",
    "tier_table",
    "tree_segmentation",
]

CUSTOM_FIELDS: tuple[FieldDef, ...] = SEED_FIELDS

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


def tree_segmentation(sid: str = "onboarding_track", q2_null: str | None = None) -> Segmentation:
    """The seed tree bound as in the seed pack (Q2's NULL rule optional)."""
    return seed_tree(sid, seed_bindings(q2_null))


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
    return seed_project(segs, CUSTOM_FIELDS, version="test", root=root)


def book_table(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    """Create table ``accounts`` (id + BOOK_COLUMNS) holding ``rows``."""
    cols = ", ".join(f"{n} {t}" for n, t in BOOK_COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE accounts (id VARCHAR, {cols})")
    names = ["id", *(n for n, _ in BOOK_COLUMNS)]
    marks = ", ".join("?" for _ in names)
    con.executemany(
        f"INSERT INTO accounts VALUES ({marks})", [[r.get(n) for n in names] for r in rows]
    )
