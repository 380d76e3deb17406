"""CSM staffing policy: the ``csm_assignment`` section of ``tierline.yaml``.

An account that needs a CSM (its track is driven by a CSM or by professional services, or it
was upgraded by a rule with ``assign_csm``) is routed to a *pool* of the CSM roster (the
``pool`` column of ``csms``) by its touch level and its value band, then to one CSM of the
pool by a ``strategy``::

    csm_assignment:
      strategy: least_accounts          # least_accounts | least_arr | round_robin
      band_segmentation: value_band     # the segmentation whose outcomes are value bands
      pools:                            # tried in order: the first that matches wins
        - {id: self_service, tracks: [self_serve, tech_touch]}
        - {id: high_touch, value_bands: [HIGH_TOUCH]}
        - {id: medium_touch, levels: [3, 4, 5], value_bands: [MEDIUM_TOUCH]}

A pool matches an account when its track is one of ``tracks`` (or its level one of
``levels``; neither given: any track) and its value band one of ``value_bands`` (none given:
any band). A CSM's capacity (accounts) comes from ``capacity_from``:

- ``roster`` (default): the roster's ``capacity`` column when set, else the pool's band
  capacity;
- ``value_band``: the pool's band capacity, whatever the roster says.

The band capacity is the upper bound of the ``accounts_per_csm: [min, max]`` meta of the
pool's value bands (seed 003: 15–25, 30–50, 50–80/100, 500+), the smallest one when a pool
spans several bands; ``null`` (``500+``) means no upper bound.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tierline.diagnostics import suggest
from tierline.policy.model import Loc, RuleTable, Segmentation
from tierline.policy.schema import CsmPoolEdge
from tierline.policy.shape import Report, quiet
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos

__all__ = [
    "CAPACITY_SOURCES",
    "STRATEGIES",
    "CapacityFrom",
    "CsmAssignment",
    "CsmPool",
    "Strategy",
    "band_capacities",
    "read_csm_assignment",
]

Strategy = Literal["least_accounts", "least_arr", "round_robin"]
CapacityFrom = Literal["roster", "value_band"]
STRATEGIES: tuple[Strategy, ...] = ("least_accounts", "least_arr", "round_robin")
CAPACITY_SOURCES: tuple[CapacityFrom, ...] = ("roster", "value_band")
_SECTION = "csm_assignment"


@dataclass(frozen=True)
class CsmPool:
    """One pool route: which accounts it takes (tracks or levels × value bands), capacity.

    ``band_capacity`` is the per-CSM capacity its value bands give (None: no upper bound, or
    no band declares one).
    """

    id: str
    tracks: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    value_bands: tuple[str, ...] = ()
    capacity_from: CapacityFrom = "roster"
    band_capacity: int | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class CsmAssignment:
    """The ``csm_assignment`` policy: a strategy and the pools, in match order."""

    pools: tuple[CsmPool, ...]
    strategy: Strategy = "least_accounts"
    band_segmentation: str = "value_band"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    def pool(self, pid: str) -> CsmPool | None:
        """The pool with id ``pid``, if there is one."""
        return next((p for p in self.pools if p.id == pid), None)


def _upper_bound(meta: tuple[tuple[str, object], ...]) -> tuple[bool, int | None]:
    """(declared, max) of a rule's ``accounts_per_csm: [min, max]`` meta."""
    value = dict(meta).get("accounts_per_csm")
    if not isinstance(value, tuple) or len(value) != 2:
        return False, None
    high = value[1]
    if high is None:
        return True, None
    if isinstance(high, int) and not isinstance(high, bool) and high > 0:
        return True, high
    return False, None


def band_capacities(table: RuleTable) -> dict[str, tuple[bool, int | None]]:
    """Each band (outcome) of a value-band table → (declares a ratio, its max per CSM)."""
    out: dict[str, tuple[bool, int | None]] = {}
    for rule in table.rules:
        declared, high = _upper_bound(rule.meta)
        if declared and (rule.then not in out or not out[rule.then][0]):
            out[rule.then] = (declared, high)
        out.setdefault(rule.then, (False, None))
    return out


def _smallest(values: Sequence[int | None]) -> int | None:
    bounded = [v for v in values if v is not None]
    return min(bounded) if bounded else None


def read_csm_assignment(
    report: Report,
    path: str,
    data: MarkedDict,
    segmentations: Sequence[Segmentation],
    track_levels: Mapping[str, int | None],
) -> CsmAssignment | None:
    """Check the ``csm_assignment`` section of tierline.yaml (shape checked already).

    ``track_levels``: every declared track id → its level (None when unreadable). Returns
    None when the section is absent or has any error (each one reported at its place).
    """
    raw = data.get(_SECTION)
    if not isinstance(raw, MarkedDict):
        return None  # absent, or not a mapping (the shape check reported it)
    strategy = raw.get("strategy", "least_accounts")
    band_segmentation = raw.get("band_segmentation", "value_band")
    items = raw.get("pools")
    if not isinstance(items, MarkedList):
        return None  # the shape check reported it
    # Each pool is read on its own, so that one pool's shape error hides no other problem.
    parsed = [(quiet(CsmPoolEdge, item), item) for item in items]
    edges = [(e, item) for e, item in parsed if e is not None and isinstance(item, MarkedDict)]
    declared = data.get("segmentations")
    broken = {str(k) for k in declared} if isinstance(declared, MarkedDict) else set()
    broken -= {s.id for s in segmentations}
    before = len(report.errors_in(path))
    reader = _Reader(report, path, raw, segmentations, track_levels, broken)
    bands_from = band_segmentation if isinstance(band_segmentation, str) else None
    pools = reader.pools(bands_from, edges, bool(items))
    chosen = next((s for s in STRATEGIES if s == strategy), None)
    if chosen is None or bands_from is None or len(edges) < len(items):
        return None  # shape errors, reported by the shape check
    if len(report.errors_in(path)) > before:
        return None
    at = data.key_pos[_SECTION]
    return CsmAssignment(
        pools=pools,
        strategy=chosen,
        band_segmentation=bands_from,
        loc=Loc(path, at.line, at.col, at.length),
    )


class _Reader:
    def __init__(
        self,
        report: Report,
        path: str,
        raw: MarkedDict,
        segmentations: Sequence[Segmentation],
        track_levels: Mapping[str, int | None],
        broken: set[str],
    ) -> None:
        self.broken = broken
        self.report = report
        self.path = path
        self.raw = raw
        self.segmentations = segmentations
        self.track_levels = track_levels

    def at(self, holder: MarkedDict, key: str, text: str | None = None) -> Pos:
        pos = holder.value_pos[key]
        return Pos(pos.line, pos.content_col, max(1, len(text))) if text else pos

    def bands(self, sid: str | None) -> dict[str, tuple[bool, int | None]] | None:
        """The band segmentation's bands, when some pool needs them (None: reported)."""
        if sid is None:
            return None  # not a name: the shape check reported it
        seg = next((s for s in self.segmentations if s.id == sid), None)
        where = (
            self.at(self.raw, "band_segmentation", sid)
            if "band_segmentation" in self.raw
            else self.raw.start
        )
        if seg is None and sid in self.broken:
            return None  # declared, but broken: reported where it is defined
        if seg is None:
            ids = [s.id for s in self.segmentations]
            self.report.add(
                self.path,
                where,
                f"csm_assignment: unknown band segmentation {sid!r}",
                suggest(sid, ids) or "set band_segmentation: to a rule-table segmentation",
            )
            return None
        if seg.table is None:
            self.report.add(
                self.path,
                where,
                f"csm_assignment: band segmentation {sid!r} must be a rule table "
                "(its rules' meta carry accounts_per_csm)",
            )
            return None
        return band_capacities(seg.table)

    def pools(
        self,
        band_segmentation: str | None,
        edges: Sequence[tuple[CsmPoolEdge, MarkedDict]],
        listed: bool,
    ) -> tuple[CsmPool, ...]:
        if not listed:
            self.report.add(self.path, self.raw.key_pos["pools"], "csm_assignment has no pools")
            return ()
        needs_bands = any(p.value_bands or p.capacity_from == "value_band" for p, _ in edges)
        bands = self.bands(band_segmentation) if needs_bands else {}
        seen: dict[str, int] = {}
        out: list[CsmPool] = []
        for p_edge, item in edges:
            key_pos = item.key_pos["id"]
            if p_edge.id in seen:
                self.report.add(
                    self.path,
                    self.at(item, "id", p_edge.id),
                    f"pool {p_edge.id!r} is listed already (line {seen[p_edge.id]})",
                    "list each pool once; give it every track or band it takes",
                )
            seen.setdefault(p_edge.id, key_pos.line)
            if not p_edge.id.strip():
                self.report.add(self.path, self.at(item, "id"), "the pool id is empty")
            self.check_routes(item, p_edge.tracks, p_edge.levels)
            capacity = self.check_bands(item, p_edge.value_bands or [], bands, p_edge.capacity_from)
            out.append(
                CsmPool(
                    id=p_edge.id,
                    tracks=tuple(p_edge.tracks or ()),
                    levels=tuple(p_edge.levels or ()),
                    value_bands=tuple(p_edge.value_bands or ()),
                    capacity_from=p_edge.capacity_from,
                    band_capacity=capacity,
                    loc=Loc(self.path, key_pos.line, key_pos.col, key_pos.length),
                )
            )
        return tuple(out)

    def check_routes(
        self, item: MarkedDict, tracks: list[str] | None, levels: list[int] | None
    ) -> None:
        if tracks is not None and levels is not None:
            self.report.add(
                self.path,
                item.key_pos["levels"],
                "a pool takes `tracks:` or `levels:`, not both",
            )
        for key, values in (("tracks", tracks), ("levels", levels)):
            if values is not None and not values:
                self.report.add(self.path, item.key_pos[key], f"empty `{key}:` list")
        known_levels = {v for v in self.track_levels.values() if v is not None}
        names = list(self.track_levels)
        listed = item.get("tracks")
        for j, track in enumerate(tracks or []):
            if track not in self.track_levels:
                assert isinstance(listed, MarkedList)
                pos = listed.item_pos[j]
                self.report.add(
                    self.path,
                    Pos(pos.line, pos.content_col, max(1, len(track))),
                    f"unknown track {track!r}",
                    suggest(track, names)
                    or (f"the tracks are {', '.join(names)}" if names else "tracks/ is empty"),
                )
        listed = item.get("levels")
        for j, level in enumerate(levels or []):
            if level not in known_levels:
                assert isinstance(listed, MarkedList)
                shown = ", ".join(str(v) for v in sorted(known_levels)) or "none"
                self.report.add(
                    self.path,
                    listed.item_pos[j],
                    f"no track has level {level} (the levels are {shown})",
                )

    def check_bands(
        self,
        item: MarkedDict,
        value_bands: list[str],
        bands: dict[str, tuple[bool, int | None]] | None,
        capacity_from: CapacityFrom,
    ) -> int | None:
        if bands is None:
            return None  # the band segmentation was reported
        listed = item.get("value_bands")
        highs: list[int | None] = []
        for j, band in enumerate(value_bands):
            assert isinstance(listed, MarkedList)
            pos = listed.item_pos[j]
            at = Pos(pos.line, pos.content_col, max(1, len(band)))
            found = bands.get(band)
            if found is None:
                self.report.add(
                    self.path,
                    at,
                    f"unknown value band {band!r}; the bands are {', '.join(bands)}",
                    suggest(band, list(bands)),
                )
                continue
            declared, high = found
            if capacity_from == "value_band" and not declared:
                self.report.add(
                    self.path,
                    at,
                    f"value band {band!r} declares no `accounts_per_csm: [min, max]` meta",
                    "add it to the band's rule, or use capacity_from: roster",
                )
            if declared:
                highs.append(high)
        if listed is not None and not value_bands:
            self.report.add(self.path, item.key_pos["value_bands"], "empty `value_bands:` list")
        if capacity_from == "value_band" and not value_bands:
            self.report.add(
                self.path,
                item.value_pos["capacity_from"],
                "capacity_from: value_band needs the pool's `value_bands:`",
            )
        return _smallest(highs)
