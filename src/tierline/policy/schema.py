"""The edge models: pydantic shapes of ``tierline.yaml`` and ``rules/*.yaml``.

These check only the shape (known keys, types, allowed words); names, files and conditions
are checked by the loader, which then builds the frozen model of
:mod:`tierline.policy.model`. Every model forbids unknown keys so that a typo such as
``segmentaions`` is an error with a suggestion, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from tierline.policy.model import FieldType, HitPolicy

__all__ = [
    "BindingEdge",
    "CsmAssignmentEdge",
    "CsmPoolEdge",
    "EdgeModel",
    "ProjectEdge",
    "RuleEdge",
    "RuleTableEdge",
    "RunEdge",
    "SegmentationEdge",
]


def _answer_key(value: object) -> object:
    # YAML 1.1 reads an unquoted ``no`` / ``yes`` as a boolean; an answer key means the word.
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


AnswerKey = Annotated[str, BeforeValidator(_answer_key)]


class EdgeModel(BaseModel):
    """Base of the edge models: unknown keys are errors, values are not coerced to str."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BindingEdge(EdgeModel):
    """``Q1: {field: acv}`` / ``{when: "SQL"}`` / ``{answers: {A: "SQL"}}`` + ``null:``."""

    field: str | None = None
    when: str | None = None
    answers: dict[AnswerKey, str] | None = None
    null: AnswerKey | None = None


class SegmentationEdge(EdgeModel):
    """A segmentation: a tree with bindings, or a rule table; plus outcome → track."""

    tree: str | None = None
    bindings: dict[str, BindingEdge] | None = None
    rules: str | None = None
    tracks: dict[str, str] | None = None
    description: str | None = None


class CsmPoolEdge(EdgeModel):
    """One ``csm_assignment.pools`` entry: a roster pool and the accounts it takes."""

    id: str
    tracks: list[str] | None = None
    levels: list[int] | None = None
    value_bands: list[str] | None = None
    capacity_from: Literal["roster", "value_band"] = "roster"


class CsmAssignmentEdge(EdgeModel):
    """``csm_assignment:``: the pick strategy, the value-band segmentation, the pools."""

    strategy: Literal["least_accounts", "least_arr", "round_robin"] = "least_accounts"
    band_segmentation: str = "value_band"
    pools: list[CsmPoolEdge]


class RunEdge(EdgeModel):
    """``run:``: how runs treat overdue actions; ``catch_up`` (``7 days``, ``all``) is read
    and checked by :mod:`tierline.policy.catchup`."""

    catch_up: Any = None


class ProjectEdge(EdgeModel):
    """The whole of ``tierline.yaml``."""

    name: str
    timezone: str = "UTC"
    currency: str = "USD"
    store: str = ".tierline/tierline.duckdb"
    fields: dict[str, FieldType] | None = None
    segmentations: dict[str, SegmentationEdge] | None = None
    channels: dict[str, dict[str, Any]] | None = None
    csm_assignment: CsmAssignmentEdge | None = None
    run: RunEdge | None = None


class RuleEdge(EdgeModel):
    """One rule of a rule table."""

    id: str | None = None
    then: str
    all: list[str] | None = None
    any: list[str] | None = None
    when: str | None = None
    priority: int | None = None
    meta: dict[str, Any] | None = None


class RuleTableEdge(EdgeModel):
    """A whole ``rules/*.yaml`` file."""

    id: str
    description: str | None = None
    hit: HitPolicy
    rules: list[RuleEdge]
    default: str | None = None
