"""The validated policy model (frozen dataclasses), separate from the YAML edge models.

The loader (``tierline.policy.load``) turns a project folder into a :class:`Project`;
the compiler and the engine read only these classes. Every element keeps a :class:`Loc`
so that later stages (lint, coverage) can point at the line that defined it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tierline.dsl.model import Tree

if TYPE_CHECKING:
    from tierline.policy.metrics import Metric
    from tierline.policy.staffing import CsmAssignment
    from tierline.policy.track import Track

__all__ = [
    "CORE_ACCOUNT_FIELDS",
    "DEFAULT_CATCH_UP",
    "Binding",
    "Condition",
    "FieldDef",
    "FieldType",
    "HitPolicy",
    "Loc",
    "Project",
    "Rule",
    "RuleTable",
    "RunSettings",
    "Segmentation",
]

FieldType = Literal["boolean", "integer", "number", "string", "date", "timestamp"]
HitPolicy = Literal["first", "unique", "any", "collect", "priority"]


@dataclass(frozen=True)
class Loc:
    """A place in a project file (1-based), for diagnostics."""

    path: str = "<policy>"
    line: int = 0
    col: int = 0
    length: int = 1


@dataclass(frozen=True)
class FieldDef:
    """An account field: a core one or a typed custom field declared in tierline.yaml."""

    name: str
    type: FieldType
    core: bool = False
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


# The core account fields every book has (see the store's ``accounts`` table).
CORE_ACCOUNT_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("id", "string", core=True),
    FieldDef("name", "string", core=True),
    FieldDef("acv", "number", core=True),
    FieldDef("currency", "string", core=True),
    FieldDef("closed_won_at", "timestamp", core=True),
    FieldDef("contract_start", "date", core=True),
    FieldDef("renewal_date", "date", core=True),
    FieldDef("plan", "string", core=True),
    FieldDef("seats", "integer", core=True),
    FieldDef("seat_limit", "integer", core=True),
    FieldDef("timezone", "string", core=True),
    FieldDef("csm_id", "string", core=True),
)


@dataclass(frozen=True)
class Condition:
    """An SQL boolean expression as the user wrote it (checked by sqlglot at load)."""

    sql: str
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Binding:
    """How one tree question reads the account row.

    Exactly one of ``field`` (range-label answers become intervals over a number field;
    yes/no answers read a boolean field) or ``when`` (the condition for ``yes``) or
    ``answers`` (a condition per answer key, tried in order) is set.

    ``null`` is the answer key taken when the input is NULL (SQL UNKNOWN). When it is
    None, an account whose input is NULL is left unassigned with the reason recorded —
    never a silent fall-through to some answer.
    """

    question: str
    field: str | None = None
    when: Condition | None = None
    answers: tuple[tuple[str, Condition], ...] = ()
    null: str | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Rule:
    """One rule of a rule table: conditions (``all`` AND-ed, ``any`` OR-ed, or ``when``).

    A rule with no condition at all always matches. A condition that is NULL for an
    account (a NULL field) counts as not matched, as in SQL.

    ``meta`` is the rule's free-form ``meta:`` mapping (e.g. a value band's CSM ratio, read
    by capacity planning), frozen: nested mappings become tuples of pairs, lists tuples.
    """

    id: str
    then: str
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()
    when: Condition | None = None
    priority: int = 0
    meta: tuple[tuple[str, object], ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class RuleTable:
    """A decision table with a hit policy (first | unique | any | collect | priority)."""

    id: str
    hit: HitPolicy
    rules: tuple[Rule, ...]
    default: str | None = None
    description: str | None = None
    path: str = "<rules>"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    @property
    def outcomes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rules:
            seen.setdefault(r.then, None)
        if self.default is not None:
            seen.setdefault(self.default, None)
        return tuple(seen)


@dataclass(frozen=True)
class Segmentation:
    """A named classification of accounts: a bound decision tree or a rule table.

    ``tracks`` maps an outcome id to the onboarding track it starts (may be empty).
    """

    id: str
    tree: Tree | None = None
    tree_path: str | None = None
    bindings: tuple[Binding, ...] = ()
    table: RuleTable | None = None
    tracks: tuple[tuple[str, str], ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    @property
    def kind(self) -> Literal["tree", "rules"]:
        return "tree" if self.tree is not None else "rules"

    @property
    def outcomes(self) -> tuple[str, ...]:
        if self.tree is not None:
            return tuple(o.id for o in self.tree.outcomes)
        assert self.table is not None
        return self.table.outcomes

    def binding(self, question: str) -> Binding | None:
        return next((b for b in self.bindings if b.question == question), None)


DEFAULT_CATCH_UP = timedelta(days=7)


@dataclass(frozen=True)
class RunSettings:
    """The ``run:`` section of tierline.yaml.

    ``catch_up``: how long after its due time an action is still worth doing. A run records a
    candidate due before ``as_of - catch_up`` as ``expired`` (kept as history, never
    delivered); None keeps every candidate pending however old.
    """

    catch_up: timedelta | None = DEFAULT_CATCH_UP
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class Project:
    """A loaded, validated policy project.

    ``version`` is the content hash of every policy file (the policy version recorded with
    every decision). ``store_url`` is absolute or a path relative to ``root``.
    """

    root: Path
    name: str
    timezone: str
    currency: str
    store_url: str
    fields: tuple[FieldDef, ...]
    segmentations: tuple[Segmentation, ...]
    version: str
    channels: tuple[tuple[str, dict[str, object]], ...] = ()
    files: tuple[str, ...] = ()
    tracks: tuple[Track, ...] = ()
    csm_assignment: CsmAssignment | None = None
    metrics: tuple[Metric, ...] = ()  # metrics.yaml, in dependency order
    run_settings: RunSettings = RunSettings()  # the `run:` section

    @property
    def custom_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if not f.core)

    def field_def(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)

    def segmentation(self, sid: str) -> Segmentation | None:
        return next((s for s in self.segmentations if s.id == sid), None)

    def track(self, tid: str) -> Track | None:
        """The track with id ``tid``, if the project defines one."""
        return next((t for t in self.tracks if t.id == tid), None)

    @property
    def store_path(self) -> str:
        """The store URL, with a relative file path resolved against the project root."""
        url = self.store_url
        if "://" in url or url == ":memory:":
            return url
        p = Path(url)
        return str(p if p.is_absolute() else self.root / p)
