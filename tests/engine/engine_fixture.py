"""Shared builders for the engine tests: a seed-like project, a real DuckDB store, a book."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from seed_fixture import TREE_FIELDS, seed_bindings, seed_project, seed_tree
from tierline.policy.model import Condition, FieldDef, Project, Rule, RuleTable, Segmentation
from tierline.store import Store

CUSTOM_FIELDS: tuple[FieldDef, ...] = TREE_FIELDS

T0 = datetime(2026, 1, 1)
AS_OF = datetime(2026, 2, 1)


def tree_segmentation(q4_acv: int = 150000) -> Segmentation:
    """The seed tree bound as in the seed pack (Q4's ACV threshold adjustable)."""
    return seed_tree("track", seed_bindings(q2_null="no", q4_acv=q4_acv))


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
    segmentations = (
        tree_segmentation(q4_acv),
        Segmentation("tier", table=tier_table(enterprise_acv)),
    )
    return seed_project(segmentations, CUSTOM_FIELDS, version=version)


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


def add_book(store: Store) -> Store:
    """Add the five accounts the assign and decision tests share; returns ``store``.

    a1 ($5k); a2 ($50k) with no ``technical_team`` (Q2's NULL answer); a3 ($200k) and a5
    ($120k), both needing integration, on either side of Q4's ACV threshold; a4 ($3k, needs
    configuration), which no rule of the tier table matches (its gap).
    """
    add_account(store, "a1", 5000)
    add_account(store, "a2", 50000, technical_team=None)
    add_account(store, "a3", 200000, needs_integration=True)
    add_account(store, "a4", 3000, needs_configuration=True)
    add_account(store, "a5", 120000, needs_integration=True)
    return store
