"""Read ``tracks/*.yaml`` into :class:`~tierline.policy.track.Track` objects.

Each file's shape is checked by :class:`~tierline.policy.track_schema.TrackEdge`; then the
reader checks what a shape cannot: names (milestone and touchpoint ids, the milestones that
``upgrade.missed``, ``unless`` and ``until`` name, the touchpoint ``after`` names, without
cycles), time spans (``"5 business days"``, ``"2 weeks"``, ``"24 hours"``), the targets
(``ttfv_target_days: [lo, hi]``, ``completion_target: [0.65, 0.80]`` / ``["65%", "80%"]`` /
``"85%+"``), exactly one TTFV milestone, and the graduation condition (SQL over account
fields and metric names). :func:`check_tracks` then checks the tracks against each other
(ids, levels, upgrade and graduation targets) and :func:`check_track_refs` the tracks a
segmentation's ``tracks:`` mapping names. Every problem goes to the project's
:class:`~tierline.policy.shape.Report`, at its line and column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tierline.policy.model import Condition
from tierline.policy.quantity import parse_completion
from tierline.policy.rules import check_sql
from tierline.policy.shape import Report, quiet, read_yaml, validate_shape
from tierline.policy.touch import PartReader, declared_ids, loc_of, pos_of
from tierline.policy.track import (
    Gate,
    GateKind,
    GraduateRule,
    Milestone,
    StallRule,
    Track,
    UpgradeRule,
)
from tierline.policy.track_schema import (
    GateEdge,
    GraduateEdge,
    MilestoneEdge,
    StallEdge,
    TrackEdge,
    UpgradeEdge,
)
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos

__all__ = ["MILESTONES_MAX", "MILESTONES_MIN", "TrackFile", "read_track_file", "track_files"]

_ALL_AND = re.compile(r"^\s*all\s+milestones\s*(?:$|AND\s+)", re.IGNORECASE)
_SHARE_HINT = "write [0.65, 0.80], ['65%', '80%'], '65-80%' or '85%+' (85% or more)"
MILESTONES_MIN, MILESTONES_MAX = 3, 5


def track_files(root: Path) -> list[str]:
    """The project-relative POSIX paths of ``tracks/*.yaml`` (and ``*.yml``), sorted."""
    folder = root / "tracks"
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )


@dataclass(frozen=True)
class TrackFile:
    """One read track file: its declared id, its track (None when the file has errors)."""

    path: str
    declared: str | None
    track: Track | None
    data: MarkedDict | None

    @property
    def level(self) -> int | None:
        """The level the file declares, when it is a whole number."""
        value = self.data.get("level") if self.data is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_track_file(
    report: Report, path: str, text: str | None, known: Mapping[str, str]
) -> TrackFile:
    """Check one track file's text (``known``: names a graduation condition may read)."""
    if text is None:
        return TrackFile(path, None, None, None)
    before = len(report.diagnostics)
    data = read_yaml(report, path, text)
    if not isinstance(data, MarkedDict):
        if len(report.diagnostics) == before:
            what = "is empty" if data is None else "must be a mapping (key: value)"
            report.add(path, Pos(), f"the track file {what}; it needs id, level, milestones …")
        return TrackFile(path, None, None, None)
    edge = validate_shape(report, path, TrackEdge, data)
    declared = data.get("id")
    reader = _TrackReader(report, path, data, known)
    track = reader.track(edge)
    if report.errors_in(path):
        track = None
    return TrackFile(path, declared if isinstance(declared, str) else None, track, data)


class _TrackReader(PartReader):
    """Turns one file's marked data into a :class:`Track`, reporting every problem."""

    # the track

    def track(self, edge: TrackEdge | None) -> Track | None:
        data = self.data
        self.name(data, "id", "track id")
        ttfv = self.ttfv_target()
        completion = self.completion_target()
        level = data.get("level")
        if isinstance(level, int) and not isinstance(level, bool) and level < 1:
            self.add(
                pos_of(data, "level"), f"level must be 1 or more (1 = least touch), not {level}"
            )
        milestones = self.milestones()
        # Milestones named in the file count even when broken (reported once, not at each use).
        ids = declared_ids(data.get("milestones"))
        touchpoints = self.touchpoints(ids)
        stall = self.stall()
        upgrade = self.upgrade(ids, milestones)
        graduate = self.graduate()
        self.check_ttfv_due(milestones, ttfv)
        if edge is None or ttfv is None or completion is None:
            return None
        key = data.key_pos["id"]
        return Track(
            id=edge.id,
            name=edge.name or edge.id.replace("_", " ").title(),
            level=edge.level,
            driver=edge.driver,
            ttfv_target_days=ttfv,
            completion_target=completion,
            milestones=milestones,
            touchpoints=touchpoints,
            stall=stall,
            upgrade=upgrade,
            graduate=graduate,
            pool=edge.pool,
            description=edge.description,
            path=self.path,
            loc=loc_of(self.path, key),
        )

    def ttfv_target(self) -> tuple[int, int] | None:
        raw = self.data.get("ttfv_target_days")
        if not isinstance(raw, MarkedList) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in raw
        ):
            return None  # missing, or the shape check reported it
        pos = self.data.value_pos["ttfv_target_days"]
        if len(raw) != 2:
            self.add(pos, "ttfv_target_days must be [lo, hi] days, e.g. [7, 14]")
            return None
        lo, hi = cast(int, raw[0]), cast(int, raw[1])
        if lo < 0 or lo > hi:
            self.add(pos, f"ttfv_target_days [{lo}, {hi}]: need 0 <= lo <= hi")
            return None
        return lo, hi

    def completion_target(self) -> tuple[float, float] | None:
        if "completion_target" not in self.data:
            return None  # the shape check reported it
        raw = self.data["completion_target"]
        pos = self.data.value_pos["completion_target"]
        found = parse_completion(raw)
        if found is None:
            shown = list(raw) if isinstance(raw, list) else raw
            self.add(pos, f"cannot read completion_target {shown!r} as shares", _SHARE_HINT)
            return None
        lo, hi = found
        if lo > hi:
            self.add(pos, f"completion_target: lo {lo:g} is above hi {hi:g}")
            return None
        return found

    def check_ttfv_due(
        self, milestones: tuple[Milestone, ...], target: tuple[int, int] | None
    ) -> None:
        first = next((m for m in milestones if m.ttfv), None)
        if first is None or target is None or first.due_days <= target[1]:
            return
        self.warn(
            Pos(first.loc.line, first.loc.col, first.loc.length),
            f"TTFV milestone {first.id!r} is due on day {first.due_days}, after the TTFV "
            f"target of {target[0]}–{target[1]} days",
        )

    # milestones

    def milestones(self) -> tuple[Milestone, ...]:
        raw = self.data.get("milestones")
        if not isinstance(raw, MarkedList):
            return ()
        where = self.data.key_pos["milestones"]
        if not MILESTONES_MIN <= len(raw) <= MILESTONES_MAX:
            self.warn(
                where,
                f"{len(raw)} milestone{'' if len(raw) == 1 else 's'}; a track is best "
                f"organised around {MILESTONES_MIN}–{MILESTONES_MAX} outcome-based gates",
            )
        out: list[Milestone] = []
        seen: dict[str, Pos] = {}
        ttfv: Milestone | None = None
        for i, item in enumerate(raw):
            edge = quiet(MilestoneEdge, item)
            if edge is None or not isinstance(item, MarkedDict):
                continue  # the shape check reported it
            at = item.key_pos["id"]
            if edge.id in seen:
                self.add(
                    pos_of(item, "id", edge.id),
                    f"duplicate milestone id {edge.id!r} (first on line {seen[edge.id].line})",
                )
            seen.setdefault(edge.id, at)
            milestone = self.milestone(edge, item, raw.item_pos[i])
            if milestone is None:
                continue
            if milestone.ttfv and ttfv is not None:
                self.add(
                    item.key_pos["ttfv"],
                    f"a second TTFV milestone: {ttfv.id!r} (line {ttfv.loc.line}) is the "
                    "TTFV milestone already",
                    "a track has exactly one `ttfv: true` milestone",
                )
            elif milestone.ttfv:
                ttfv = milestone
            out.append(milestone)
        if ttfv is None and len(out) == len(raw) and out:
            self.add(
                where,
                "no TTFV milestone: mark the first-value milestone with `ttfv: true`",
                "TTFV is the time from the track start to that milestone",
            )
        return tuple(out)

    def milestone(self, edge: MilestoneEdge, item: MarkedDict, pos: Pos) -> Milestone | None:
        ok = self.name(item, "id", "milestone id")
        if edge.due_days < 0:
            self.add(pos_of(item, "due_days"), f"due_days must be 0 or more, not {edge.due_days}")
            ok = False
        when = item["when"]
        assert isinstance(when, MarkedDict)
        gate = self.gate(edge.when, when, item.value_pos["when"])
        if gate is None or not ok:
            return None
        return Milestone(
            id=edge.id,
            gate=gate,
            due_days=edge.due_days,
            name=edge.name,
            ttfv=edge.ttfv,
            owner=edge.owner or "customer",
            loc=loc_of(self.path, item.key_pos["id"]),
        )

    def gate(self, edge: GateEdge, raw: MarkedDict, pos: Pos) -> Gate | None:
        kinds: list[GateKind] = [k for k in ("first", "count", "distinct_users") if k in raw]
        if len(kinds) != 1:
            has = f" (it has {', '.join(kinds)})" if kinds else ""
            self.add(
                pos,
                f"a gate needs exactly one of first, count, distinct_users{has}",
                "e.g. {first: {event: report_reviewed}} or "
                "{distinct_users: {event: workflow_completed}, at_least: 3}",
            )
            return None
        kind = kinds[0]
        event = getattr(edge, kind)
        assert event is not None
        body = raw[kind]
        assert isinstance(body, MarkedDict)
        ok = True
        if not event.event.strip():
            self.add(pos_of(body, "event"), "the event name is empty")
            ok = False
        at_least = edge.at_least
        if kind == "first":
            if at_least is not None:
                self.add(
                    raw.key_pos["at_least"],
                    "`at_least:` applies to count and distinct_users, not to first",
                    "drop it, or use {count: …}",
                )
                ok = False
        elif at_least is None:
            self.add(
                pos,
                f"`{kind}:` needs `at_least: N`",
                f"e.g. {{{kind}: {{event: {event.event}}}, at_least: 3}}",
            )
            ok = False
        elif at_least < 1:
            self.add(pos_of(raw, "at_least"), f"at_least must be 1 or more, not {at_least}")
            ok = False
        properties: list[tuple[str, str]] = []
        raw_props = body.get("properties")
        for key, value in (event.properties or {}).items():
            if isinstance(value, bool):
                properties.append((key, "true" if value else "false"))
            elif isinstance(value, str | int | float):
                properties.append((key, str(value)))
            else:
                assert isinstance(raw_props, MarkedDict)
                self.add(
                    pos_of(raw_props, key),
                    f"property {key!r} must be a single value (text or number) to match",
                )
                ok = False
        if not ok:
            return None
        return Gate(
            kind=kind,
            event=event.event,
            at_least=at_least or 1,
            properties=tuple(properties),
            loc=loc_of(self.path, pos),
        )

    # rules that move an account

    def stall(self) -> StallRule | None:
        raw = self.data.get("stall")
        edge = quiet(StallEdge, raw)
        if edge is None or not isinstance(raw, MarkedDict):
            return None
        ok = True
        if edge.after_days < 1:
            self.add(
                pos_of(raw, "after_days"), f"after_days must be 1 or more, not {edge.after_days}"
            )
            ok = False
        action = self.action(raw, edge.action, edge.task, self.data.key_pos["stall"], "stall")
        if action is None or not ok:
            return None
        return StallRule(edge.after_days, action, loc_of(self.path, self.data.key_pos["stall"]))

    def upgrade(self, ids: list[str], milestones: tuple[Milestone, ...]) -> UpgradeRule | None:
        raw = self.data.get("upgrade")
        edge = quiet(UpgradeEdge, raw)
        if edge is None or not isinstance(raw, MarkedDict):
            return None
        ok = self.ref(raw, "missed", edge.missed, ids, "milestone")
        if edge.after_days < 1:
            self.add(
                pos_of(raw, "after_days"), f"after_days must be 1 or more, not {edge.after_days}"
            )
            ok = False
        ok = self.name(raw, "to", "upgrade to:") and ok
        missed = next((m for m in milestones if m.id == edge.missed), None)
        if missed is not None and edge.after_days < missed.due_days:
            self.warn(
                pos_of(raw, "after_days"),
                f"the upgrade fires on day {edge.after_days}, before {missed.id!r} is due "
                f"(day {missed.due_days})",
            )
        if not ok:
            return None
        loc = loc_of(self.path, self.data.key_pos["upgrade"])
        return UpgradeRule(edge.missed, edge.after_days, edge.to, edge.assign_csm, loc)

    def graduate(self) -> GraduateRule | None:
        raw = self.data.get("graduate")
        edge = quiet(GraduateEdge, raw)
        if edge is None or not isinstance(raw, MarkedDict):
            return None
        ok = self.name(raw, "to", "graduate to:")
        when: Condition | None = None
        if edge.when is not None:
            pos = raw.value_pos["when"]
            sql = edge.when
            match = _ALL_AND.match(sql)
            if match is not None:
                # "all milestones AND …": all milestones done is implied by graduation.
                sql = sql[match.end() :]
                pos = Pos(pos.line, pos.content_col + match.end(), max(1, len(sql)))
            if sql.strip():
                when = check_sql(self.report, self.path, sql, pos, self.known)
                ok = ok and when is not None
        if not ok:
            return None
        loc = loc_of(self.path, self.data.key_pos["graduate"])
        return GraduateRule(when, edge.to, edge.approval, loc)
