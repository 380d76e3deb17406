"""Checks across track files: the tracks as a ladder of touch levels.

:func:`check_tracks` checks that track ids and levels are unique and that every upgrade
goes up (``to: next`` needs a track with a higher level; a named track must exist and be
higher) and every graduation goes down (``to: previous`` / a lower named track).
:func:`check_track_refs` checks that every track a segmentation's ``tracks:`` mapping names
is defined. Tracks declared in a file that has other errors count as defined, so that one
broken file does not cascade into "unknown track" errors elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tierline.diagnostics import suggest
from tierline.policy.shape import Report
from tierline.policy.touch import NAME, pos_of
from tierline.policy.tracks import TrackFile
from tierline.policy.yaml_marks import MarkedDict, Pos

__all__ = ["check_track_refs", "check_tracks"]


def check_tracks(report: Report, files: Sequence[TrackFile]) -> None:
    """Unique ids and levels; upgrades go to a higher level, graduations to a lower one."""
    ids: dict[str, TrackFile] = {}
    levels: dict[int, TrackFile] = {}
    for f in files:
        if f.declared is None or f.data is None:
            continue
        if f.declared in ids:
            other = ids[f.declared].path
            report.add(
                f.path,
                pos_of(f.data, "id", f.declared),
                f"track id {f.declared!r} is defined in {other} already",
            )
        else:
            ids[f.declared] = f
        level = f.level
        if level is None:
            continue
        if level in levels:
            other_file = levels[level]
            report.add(
                f.path,
                pos_of(f.data, "level"),
                f"level {level} is the level of track {other_file.declared!r} already",
                "each track has its own touch level: upgrades go to the next higher one",
            )
        else:
            levels[level] = f
    for f in files:
        _check_move(report, f, "upgrade", ids)
        _check_move(report, f, "graduate", ids)


def _check_move(
    report: Report,
    f: TrackFile,
    rule: Literal["upgrade", "graduate"],
    ids: dict[str, TrackFile],
) -> None:
    raw = f.data.get(rule) if f.data is not None else None
    level = f.level
    if f.data is None or not isinstance(raw, MarkedDict) or level is None:
        return
    up = rule == "upgrade"
    relative = "next" if up else "previous"
    to = raw.get("to", relative)
    if not isinstance(to, str) or not NAME.match(to):
        return  # the track file reported it
    at = pos_of(raw, "to", to) if "to" in raw else f.data.key_pos[rule]
    word = "higher" if up else "lower"
    if to == relative:
        found = [t for t, g in ids.items() if g.level is not None and _beyond(g.level, level, up)]
        if not found:
            report.add(
                f.path,
                at,
                f"{rule} to: {relative}, but no track has a level {word} than {level}",
                f"name the target track, or drop `{rule}:`",
            )
        return
    target = ids.get(to)
    if target is None:
        hint = suggest(to, ids) or f"the tracks are {', '.join(sorted(ids))}"
        report.add(f.path, at, f"unknown track {to!r}", hint)
        return
    if target.level is not None and not _beyond(target.level, level, up):
        report.add(
            f.path,
            at,
            f"{rule} goes to a {word} level, but {to!r} has level {target.level} "
            f"(this track: {level})",
        )


def _beyond(other: int, level: int, up: bool) -> bool:
    return other > level if up else other < level


def check_track_refs(
    report: Report, path: str, data: MarkedDict, files: Sequence[TrackFile]
) -> None:
    """Every track a segmentation's ``tracks:`` mapping names is defined by a track file."""
    ids = sorted({f.declared for f in files if f.declared is not None})
    segmentations = data.get("segmentations")
    if not isinstance(segmentations, MarkedDict):
        return
    for body in segmentations.values():
        mapping = body.get("tracks") if isinstance(body, MarkedDict) else None
        if not isinstance(mapping, MarkedDict):
            continue
        for outcome, track in mapping.items():
            if not isinstance(track, str) or not NAME.match(track) or track in ids:
                continue
            pos = mapping.value_pos[outcome]
            at = Pos(pos.line, pos.content_col, max(1, len(track)))
            hint = suggest(track, ids) or (
                f"the tracks are {', '.join(ids)}"
                if ids
                else f"define it in tracks/{track}.yaml (id: {track})"
            )
            report.add(path, at, f"unknown track {track!r} for outcome {outcome}", hint)
