"""Policy projects: YAML with line marks, validated into the frozen policy model."""

from __future__ import annotations

from pathlib import Path

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

__all__ = [
    "CORE_ACCOUNT_FIELDS",
    "Binding",
    "Condition",
    "FieldDef",
    "Loc",
    "Project",
    "Rule",
    "RuleTable",
    "Segmentation",
    "find_project",
    "load_project",
]


# The loader imports the condition checker, which imports this package's model: importing
# the loader lazily keeps ``import tierline.expr.condition`` free of an import cycle.


def load_project(root: Path) -> Project:
    """Read and validate the project at ``root`` (see :func:`tierline.policy.load.load_project`)."""
    from tierline.policy.load import load_project as load

    return load(root)


def find_project(project: Path | None = None, start: Path | None = None) -> Path:
    """The project root: ``project``, or the nearest folder up holding a tierline.yaml."""
    from tierline.policy.load import find_project as find

    return find(project, start)
