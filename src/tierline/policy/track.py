"""The validated model of onboarding tracks (``tracks/*.yaml``), as frozen dataclasses.

A track is the onboarding a segmentation outcome leads to: a touch ``level`` (upgrades go to
the next higher level, graduation to the next lower), who drives it, its targets, 3–5
outcome-based milestone gates, scheduled touchpoints, and the rules that move an account
(stall, upgrade, graduation). See POLICY.md, "Tracks".

Times: a track *starts* at the account's assignment to it (``closed_won_at`` for the first
assignment; the transition time for an upgrade). ``due_days`` counts calendar days from the
start; touchpoint offsets may count business days (Monday–Friday) in the account's time zone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from tierline.policy.model import Condition, Loc

__all__ = [
    "Action",
    "Driver",
    "Gate",
    "GateKind",
    "GraduateRule",
    "Milestone",
    "Offset",
    "OffsetUnit",
    "StallRule",
    "Touchpoint",
    "Track",
    "UpgradeRule",
]

Driver = Literal["product", "csm", "professional_services"]
GateKind = Literal["first", "count", "distinct_users"]
OffsetUnit = Literal["hours", "days", "business_days", "weeks"]
ActionKind = Literal["task", "email", "notify"]


@dataclass(frozen=True)
class Offset:
    """A span of time such as ``5 business days`` or ``2 weeks``."""

    amount: int
    unit: OffsetUnit
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


@dataclass(frozen=True)
class Gate:
    """An outcome-based milestone gate over product events.

    ``first``: the first matching event; ``count``: the ``at_least``-th matching event;
    ``distinct_users``: the moment the ``at_least``-th distinct person first did it.
    ``properties`` are equality filters on the event's JSON properties.
    """

    kind: GateKind
    event: str
    at_least: int = 1
    properties: tuple[tuple[str, str], ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Milestone:
    """A milestone gate with its due day (calendar days after the track start)."""

    id: str
    gate: Gate
    due_days: int
    name: str | None = None
    ttfv: bool = False
    owner: str = "customer"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    @property
    def title(self) -> str:
        """The human name: ``name`` if given, else the id with spaces."""
        return self.name or self.id.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Action:
    """What a rule does: a task for a role, an email from a template, or a notification."""

    kind: ActionKind
    to: str
    template: str | None = None
    text: str | None = None
    channel: str | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Touchpoint:
    """A scheduled touch: once (``due``) or repeating (``every`` … ``until``).

    ``after`` anchors the schedule: ``start`` (default) or a touchpoint id (e.g. the high-touch
    implementation plan is due 5 business days after the kickoff). ``until`` is ``all
    milestones``, a milestone id, or absent with ``for_`` bounding a repetition (e.g. biweekly
    check-ins for 90 days). ``unless`` lists milestones whose being reached by the due time
    cancels the touch (self-serve outreach only when key milestones are missing at day 14).
    """

    id: str
    action: Action
    due: Offset | None = None
    every: Offset | None = None
    after: str = "start"
    until: str | None = None
    for_: Offset | None = None
    unless: tuple[str, ...] = ()
    optional: bool = False
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class StallRule:
    """No milestone progress for ``after_days`` → ``action``, once per stall episode."""

    after_days: int
    action: Action
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class UpgradeRule:
    """Milestone ``missed`` not reached ``after_days`` after the start → move up a level."""

    missed: str
    after_days: int
    to: str = "next"
    assign_csm: bool = True
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class GraduateRule:
    """All milestones done and ``when`` true → recommend moving down (manager approval)."""

    when: Condition | None
    to: str = "previous"
    approval: str = "manager"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Track:
    """One onboarding track: level, driver, targets, milestones, touchpoints and rules."""

    id: str
    name: str
    level: int
    driver: Driver
    ttfv_target_days: tuple[int, int]
    completion_target: tuple[float, float]
    milestones: tuple[Milestone, ...]
    touchpoints: tuple[Touchpoint, ...] = ()
    stall: StallRule | None = None
    upgrade: UpgradeRule | None = None
    graduate: GraduateRule | None = None
    pool: str | None = None
    description: str | None = None
    path: str = "<tracks>"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    def milestone(self, mid: str) -> Milestone:
        """The milestone with id ``mid`` (KeyError if none)."""
        for m in self.milestones:
            if m.id == mid:
                return m
        raise KeyError(mid)

    @property
    def ttfv_milestone(self) -> Milestone | None:
        """The milestone whose reached_at defines time-to-first-value."""
        return next((m for m in self.milestones if m.ttfv), None)
