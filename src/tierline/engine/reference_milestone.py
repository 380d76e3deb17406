"""The pure-Python reference for milestone progress: a TEST ORACLE, never used by the engine.

It evaluates one account's gates by looping over its events, the obvious way, so that the
tests can check the set-based SQL of :mod:`tierline.engine.milestone` against it on random
event sets. The semantics are those documented there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierline.engine.milestone import DEFAULT_STALL_DAYS
from tierline.policy.track import Gate, Track

__all__ = [
    "MilestoneState",
    "RefEvent",
    "evaluate_track",
    "gate_reached_at",
    "property_matches",
]


@dataclass(frozen=True)
class RefEvent:
    """One product event of the account (``properties`` as the JSON text or None)."""

    person_id: str | None
    event: str
    ts: datetime
    properties: str | None = None


@dataclass(frozen=True)
class MilestoneState:
    """One milestone's due time, reached time and status as of T."""

    milestone_id: str
    due_at: datetime
    reached_at: datetime | None
    status: str
    is_ttfv: bool


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def property_matches(properties: str | None, key: str, wanted: str) -> bool:
    """Whether the event's JSON ``properties`` has ``key`` equal to ``wanted``."""
    if properties is None:
        return False
    data = json.loads(properties)
    if not isinstance(data, Mapping) or key not in data:
        return False
    value = data[key]
    if _as_text(value) == wanted:
        return True
    want_number = _as_number(wanted)
    got_number = _as_number(value)
    return want_number is not None and got_number is not None and want_number == got_number


def gate_reached_at(gate: Gate, events: Iterable[RefEvent], as_of: datetime) -> datetime | None:
    """The moment ``gate`` first became true over ``events`` with ts <= as_of, or None."""
    matching = sorted(
        (
            e
            for e in events
            if e.event == gate.event
            and e.ts <= as_of
            and all(property_matches(e.properties, k, v) for k, v in gate.properties)
        ),
        key=lambda e: e.ts,
    )
    wanted = 1 if gate.kind == "first" else max(1, gate.at_least)
    if gate.kind == "distinct_users":
        first_by_person: dict[str, datetime] = {}
        for e in matching:
            if e.person_id is not None and e.person_id not in first_by_person:
                first_by_person[e.person_id] = e.ts
        moments = sorted(first_by_person.values())
    else:
        moments = [e.ts for e in matching]
    return moments[wanted - 1] if len(moments) >= wanted else None


def evaluate_track(
    track: Track, started_at: datetime, events: Iterable[RefEvent], as_of: datetime
) -> list[MilestoneState]:
    """Every milestone of ``track`` for a stint started at ``started_at``, as of ``as_of``."""
    seen = list(events)
    reached = [gate_reached_at(m.gate, seen, as_of) for m in track.milestones]
    last = max([started_at, *(r for r in reached if r is not None)])
    stall_days = track.stall.after_days if track.stall else DEFAULT_STALL_DAYS
    stalled = as_of >= last + timedelta(days=stall_days)
    states: list[MilestoneState] = []
    for milestone, reached_at in zip(track.milestones, reached, strict=True):
        due_at = started_at + timedelta(days=milestone.due_days)
        if reached_at is not None:
            status = "done_on_time" if reached_at <= due_at else "done_late"
        elif stalled:
            status = "stuck"
        elif as_of >= due_at:
            status = "behind"
        else:
            status = "on_track"
        states.append(MilestoneState(milestone.id, due_at, reached_at, status, milestone.ttfv))
    return states
