"""Policy projects: YAML with line marks, validated into the frozen policy model."""

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
]
