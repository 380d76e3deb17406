"""Shared builders for the engine tests: a seed-like project, a real DuckDB store, a book."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

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
from tierline.store import Store

SEED = Path(__file__).resolve().parents[2] / "src" / "tierline" / "packs" / "seed"
TREE_PATH = SEED / "trees" / "onboarding-track.dag"

CUSTOM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("technical_team", "boolean"),
    FieldDef("needs_integration", "boolean"),
    FieldDef("needs_migration", "boolean"),
    FieldDef("custom_config", "boolean"),
    FieldDef("needs_configuration", "boolean"),
    FieldDef("expected_users", "integer"),
)

T0 = datetime(2026, 1, 1)


def tree_segmentation(q4_acv: int = 150000) -> Segmentation:
    """The seed tree bound as in the seed pack (Q4's ACV threshold adjustable)."""
    loc = Loc("tierline.yaml", 12, 7)
    bindings = (
        Binding("Q1", field="acv", loc=loc),
        Binding("Q2", field="technical_team", null="no", loc=loc),
        Binding(
            "Q3",
            when=Condition("needs_integration OR needs_migration OR custom_config", loc),
            loc=loc,
        ),
        Binding("Q4", when=Condition(f"acv > {q4_acv} OR expected_users > 200", loc), loc=loc),
    )
    tree = load_tree(TREE_PATH)
    return Segmentation("track", tree=tree, tree_path=str(TREE_PATH), bindings=bindings)


def tier_table(enterprise_acv: int = 25000) -> RuleTable:
    """A seed-000-like tier table with a gap (small accounts needing configuration)."""
    return RuleTable(
        "tier",
        "first",
        (
            Rule(
                "self_serve",
                "SELF_SERVE",
                all=(Condition("acv < 5000"), Condition("NOT needs_configuration")),
            ),
            Rule(
                "tech_touch",
                "TECH_TOUCH",
                all=(Condition("acv >= 5000"), Condition(f"acv < {enterprise_acv}")),
            ),
            Rule("high_touch", "HIGH_TOUCH", when=Condition(f"acv >= {enterprise_acv}")),
        ),
        path="rules/tier.yaml",
    )


def make_project(version: str = "v1", q4_acv: int = 150000, enterprise_acv: int = 25000) -> Project:
    """A project with the seed tree (``track``) and a tier table (``tier``)."""
    return Project(
        root=Path("."),
        name="test",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS + CUSTOM_FIELDS,
        segmentations=(
            tree_segmentation(q4_acv),
            Segmentation("tier", table=tier_table(enterprise_acv)),
        ),
        version=version,
    )


def with_version(project: Project, version: str) -> Project:
    """The same project under another policy version."""
    return dataclasses.replace(project, version=version)


def open_store(path: Path) -> Store:
    """A real DuckDB store file under ``path`` with the custom fields added."""
    return Store.open(path / "book.duckdb", CUSTOM_FIELDS)


def add_account(
    store: Store,
    account_id: str,
    acv: float,
    *,
    version: int = 1,
    loaded_at: datetime = T0,
    closed_won_at: datetime = T0,
    technical_team: bool | None = True,
    needs_integration: bool = False,
    needs_configuration: bool = False,
    expected_users: int = 10,
) -> None:
    """Insert one account version with SQL."""
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, technical_team, "
        "needs_integration, needs_migration, custom_config, needs_configuration, "
        "expected_users, version, loaded_at, source) "
        "VALUES (?, ?, ?, ?, ?, ?, false, false, ?, ?, ?, ?, 'test')",
        [
            account_id,
            f"Account {account_id}",
            acv,
            closed_won_at,
            technical_team,
            needs_integration,
            needs_configuration,
            expected_users,
            version,
            loaded_at,
        ],
    )


def add_person(store: Store, pid: str, role: str, manager_id: str | None = None) -> None:
    """Insert one roster row (role csm | manager)."""
    store.con.execute(
        "INSERT INTO csms (id, name, email, pool, capacity, loaded_cost, role, manager_id) "
        "VALUES (?, ?, ?, 'default', 50, 100000, ?, ?)",
        [pid, pid.title(), f"{pid}@example.com", role, manager_id],
    )
