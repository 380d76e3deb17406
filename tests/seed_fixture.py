"""Builders the compile and engine test fixtures share: the seed pack's onboarding tree, its
custom account fields and bindings, and a test project around given segmentations.

``tests/`` is on ``sys.path`` (pytest inserts the folder of the top-level ``conftest.py``),
so a fixture module anywhere below imports this one as ``seed_fixture``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tierline.dsl import load_tree
from tierline.policy.model import (
    CORE_ACCOUNT_FIELDS,
    Binding,
    Condition,
    FieldDef,
    Loc,
    Project,
    Segmentation,
)

SEED = Path(__file__).resolve().parents[1] / "src" / "tierline" / "packs" / "seed"
TREE_PATH = SEED / "trees" / "onboarding-track.dag"

# The seed pack's custom account fields that its onboarding tree and tier rule read.
TREE_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("technical_team", "boolean"),
    FieldDef("needs_integration", "boolean"),
    FieldDef("needs_migration", "boolean"),
    FieldDef("custom_config", "boolean"),
    FieldDef("needs_configuration", "boolean"),
    FieldDef("expected_users", "integer"),
)

# Every custom account field the seed pack declares: the tree's, then two more.
SEED_FIELDS: tuple[FieldDef, ...] = (
    *TREE_FIELDS,
    FieldDef("config_hours", "number"),
    FieldDef("stakeholders", "integer"),
)


def seed_bindings(q2_null: str | None = None, q4_acv: int = 150000) -> tuple[Binding, ...]:
    """The seed pack's bindings of the onboarding tree, each at its line of ``tierline.yaml``.

    ``q2_null`` is Q2's answer for a NULL ``technical_team`` (None: unassigned); ``q4_acv`` is
    the ACV above which Q4 answers yes (the pack's 150000).
    """
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
            when=Condition(f"acv > {q4_acv} OR expected_users > 200", loc),
            loc=Loc("tierline.yaml", 15, 7),
        ),
    )


def seed_tree(sid: str, bindings: tuple[Binding, ...]) -> Segmentation:
    """Segmentation ``sid``: the seed pack's onboarding tree, read from its file, bound so."""
    tree = load_tree(TREE_PATH)
    return Segmentation(sid, tree=tree, tree_path=str(TREE_PATH), bindings=bindings)


def seed_project(
    segmentations: Sequence[Segmentation],
    fields: tuple[FieldDef, ...],
    *,
    version: str,
    root: Path | None = None,
) -> Project:
    """A UTC / USD in-memory project ``test``: the core fields plus ``fields``, the given
    segmentations, and policy ``version``."""
    return Project(
        root=root or Path("."),
        name="test",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS + fields,
        segmentations=tuple(segmentations),
        version=version,
    )
