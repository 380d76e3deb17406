"""The edge models of ``tracks/*.yaml``: pydantic shapes, checked before the track reader.

Like :mod:`tierline.policy.schema`, these check only the shape (known keys, types, allowed
words); every model forbids unknown keys, so ``due_dys:`` is an error with a suggestion.
Values whose meaning needs more than a type (time spans such as ``"5 business days"``, a
completion target such as ``"85%+"``, milestone and touchpoint names) are read by
:mod:`tierline.policy.tracks`, which reports each problem at its place in the file.

Shorthands, expanded before validation:

- an action body may be a string: ``task: "Kickoff call"`` is a task for the CSM with that
  text, ``email: welcome`` an email from the template ``welcome``, ``notify: slack_cs`` a
  notification on that channel;
- ``unless:`` may name one milestone instead of a list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from tierline.policy.schema import EdgeModel
from tierline.policy.track import Driver

__all__ = [
    "ActionBodyEdge",
    "ActionEdge",
    "EventEdge",
    "GateEdge",
    "GraduateEdge",
    "MilestoneEdge",
    "StallEdge",
    "TouchpointEdge",
    "TrackEdge",
    "UpgradeEdge",
]


def _body(key: str) -> BeforeValidator:
    def expand(value: object) -> object:
        return {key: value} if isinstance(value, str) else value

    return BeforeValidator(expand)


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


class ActionBodyEdge(EdgeModel):
    """Who gets the action and what it says: ``{to: csm, template: stall_outreach}``."""

    to: str | None = None
    template: str | None = None
    text: str | None = None
    channel: str | None = None


class ActionEdge(EdgeModel):
    """``{task: …}`` / ``{email: …}`` / ``{notify: …}`` (exactly one)."""

    task: Annotated[ActionBodyEdge | None, _body("text")] = None
    email: Annotated[ActionBodyEdge | None, _body("template")] = None
    notify: Annotated[ActionBodyEdge | None, _body("channel")] = None


class EventEdge(EdgeModel):
    """The events a gate counts: a name and equality filters on the event's properties."""

    event: str
    properties: dict[str, Any] | None = None


class GateEdge(EdgeModel):
    """``{first: {event: X}}``, ``{count: {event: X}, at_least: N}`` or
    ``{distinct_users: {event: X}, at_least: N}``."""

    first: EventEdge | None = None
    count: EventEdge | None = None
    distinct_users: EventEdge | None = None
    at_least: int | None = None


class MilestoneEdge(EdgeModel):
    """One outcome-based milestone gate."""

    id: str
    name: str | None = None
    when: GateEdge
    due_days: int
    ttfv: bool = False
    owner: str | None = None


class TouchpointEdge(EdgeModel):
    """A scheduled touch: once (``due``) or repeating (``every`` … ``until`` / ``for``)."""

    id: str
    due: Any = None
    every: Any = None
    after: str | None = None
    until: str | None = None
    for_: Any = Field(default=None, alias="for")
    unless: Annotated[list[str] | None, BeforeValidator(_listed)] = None
    optional: bool = False
    task: Annotated[ActionBodyEdge | None, _body("text")] = None
    action: ActionEdge | None = None


class StallEdge(EdgeModel):
    """No milestone progress for ``after_days`` → the action (``action:`` or ``task:``)."""

    after_days: int
    action: ActionEdge | None = None
    task: Annotated[ActionBodyEdge | None, _body("text")] = None


class UpgradeEdge(EdgeModel):
    """Milestone ``missed`` not reached ``after_days`` after the start → a higher track."""

    missed: str
    after_days: int
    to: str = "next"
    assign_csm: bool = True


class GraduateEdge(EdgeModel):
    """All milestones done and ``when`` true → recommend a lower track (manager approval)."""

    when: str | None = None
    to: str = "previous"
    approval: Literal["manager"] = "manager"


class TrackEdge(EdgeModel):
    """A whole ``tracks/*.yaml`` file."""

    id: str
    name: str | None = None
    description: str | None = None
    level: int
    driver: Driver
    pool: str | None = None
    ttfv_target_days: list[int]
    completion_target: Any
    milestones: list[MilestoneEdge]
    touchpoints: list[TouchpointEdge] | None = None
    stall: StallEdge | None = None
    upgrade: UpgradeEdge | None = None
    graduate: GraduateEdge | None = None
