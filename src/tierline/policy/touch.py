"""Touchpoints and actions of a track file, and the helpers every part reader shares.

:class:`PartReader` reads the parts of one ``tracks/*.yaml`` that repeat across tracks:
touchpoints (``due:`` / ``every:`` time spans, ``until``, ``for``, ``after`` anchors without
cycles, ``unless`` milestones) and actions (``task: "text"`` shorthand, or
``action: {task | email | notify: {to, template, text, channel}}``). The track reader
(:mod:`tierline.policy.tracks`) builds on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tierline.diagnostics import suggest
from tierline.policy.model import Loc
from tierline.policy.quantity import parse_offset
from tierline.policy.rules import NAME, FileReader
from tierline.policy.shape import quiet
from tierline.policy.track import Action, ActionKind, Offset, Touchpoint
from tierline.policy.track_schema import ActionBodyEdge, ActionEdge, TouchpointEdge
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos

__all__ = ["ALL_MILESTONES", "NAME", "PartReader", "declared_ids", "loc_of", "pos_of"]

ALL_MILESTONES = "all milestones"
_OFFSET_HINT = "write a number and a unit: '5 business days', '2 weeks', '24 hours', '14 days'"
_DEFAULT_TO: dict[str, str] = {"task": "csm", "email": "champion", "notify": "csm"}


def pos_of(holder: MarkedDict, key: str, text: str | None = None) -> Pos:
    """The position of the value of ``key`` (its content, ``text`` long)."""
    pos = holder.value_pos[key]
    if text is None:
        return pos
    return Pos(pos.line, pos.content_col, max(1, len(text)))


def declared_ids(items: object) -> list[str]:
    """The ``id:`` of each mapping of a marked list (broken items included), in order."""
    ids: list[str] = []
    for item in items if isinstance(items, MarkedList) else []:
        value = item.get("id") if isinstance(item, MarkedDict) else None
        if isinstance(value, str):
            ids.append(value)
    return ids


def loc_of(path: str, pos: Pos) -> Loc:
    """The model location of ``pos`` in ``path``."""
    return Loc(path, pos.line, pos.col, pos.length)


class PartReader(FileReader):
    """Reads parts of one track file, reporting every problem at its place."""

    def name(self, holder: MarkedDict, key: str, what: str) -> bool:
        value = holder.get(key)
        if not isinstance(value, str) or NAME.match(value):
            return True
        self.add(pos_of(holder, key, value), f"{what} {value!r} must be a name: letters, digits, _")
        return False

    def ref(
        self, holder: MarkedDict, key: str, value: str, names: Sequence[str], what: str
    ) -> bool:
        """Check that ``value`` (written at ``key`` of ``holder``) is one of ``names``."""
        if value in names:
            return True
        hint = suggest(value, names) or (f"its {what}s are {', '.join(names)}" if names else None)
        self.add(pos_of(holder, key, value), f"unknown {what} {value!r}", hint)
        return False

    # touchpoints

    def touchpoints(self, milestones: list[str]) -> tuple[Touchpoint, ...]:
        raw = self.data.get("touchpoints")
        if not isinstance(raw, MarkedList):
            return ()
        items: list[tuple[TouchpointEdge, MarkedDict]] = []
        for item in raw:
            edge = quiet(TouchpointEdge, item)
            if edge is not None and isinstance(item, MarkedDict):
                items.append((edge, item))
        ids = declared_ids(raw)  # broken touchpoints count: reported once, not at each use
        out: list[Touchpoint] = []
        seen: dict[str, int] = {}
        for edge, item in items:
            if edge.id in seen:
                self.add(
                    pos_of(item, "id", edge.id),
                    f"duplicate touchpoint id {edge.id!r} (first on line {seen[edge.id]})",
                )
            seen.setdefault(edge.id, item.key_pos["id"].line)
            touchpoint = self.touchpoint(edge, item, ids, milestones)
            if touchpoint is not None:
                out.append(touchpoint)
        self.check_anchors(items)
        return tuple(out)

    def offset(self, item: MarkedDict, key: str, value: object, zero: bool) -> Offset | None:
        pos = item.value_pos[key]
        if not isinstance(value, str):
            self.add(
                pos, f"{key}: needs a time span with a unit, not {_describe(value)}", _OFFSET_HINT
            )
            return None
        found = parse_offset(value)
        if found is None:
            self.add(
                pos_of(item, key, value),
                f"cannot read {key} {value!r} as a time span",
                _OFFSET_HINT,
            )
            return None
        amount, unit = found
        if amount == 0 and not zero:
            self.add(pos_of(item, key, value), f"{key} must be more than zero")
            return None
        return Offset(amount, unit, loc_of(self.path, pos_of(item, key, value)))

    def touchpoint(
        self, edge: TouchpointEdge, item: MarkedDict, ids: list[str], milestones: list[str]
    ) -> Touchpoint | None:
        ok = self.name(item, "id", "touchpoint id")
        where = item.key_pos["id"]
        due = every = for_ = None
        if "due" in item and "every" in item:
            self.add(
                item.key_pos["every"],
                f"touchpoint {edge.id!r} has both `due:` and `every:`",
                "`due:` is a one-off touch, `every:` a repeating one",
            )
            ok = False
        elif "due" in item:
            due = self.offset(item, "due", edge.due, zero=True)
            ok = ok and due is not None
        elif "every" in item:
            every = self.offset(item, "every", edge.every, zero=False)
            ok = ok and every is not None
        else:
            self.add(where, f"touchpoint {edge.id!r} needs `due:` (once) or `every:` (repeating)")
            ok = False
        if "for" in item:
            for_ = self.offset(item, "for", edge.for_, zero=False)
            ok = ok and for_ is not None
        for key in ("until", "for"):
            if key in item and "due" in item:
                self.add(
                    item.key_pos[key],
                    f"`{key}:` bounds a repeating touchpoint "
                    "(`every:`), not a one-off one (`due:`)",
                )
                ok = False
        if "every" in item and "until" not in item and "for" not in item:
            self.add(
                item.key_pos["every"],
                f"touchpoint {edge.id!r} repeats forever",
                'bound it with `until: "all milestones"`, a milestone, or `for: "90 days"`',
            )
            ok = False
        until = edge.until
        if until is not None:
            if until.strip().lower() == ALL_MILESTONES:
                until = ALL_MILESTONES
            else:
                ok = self.ref(item, "until", until, milestones, "milestone") and ok
        unless = edge.unless or []
        raw_unless = item.get("unless")
        for j, mid in enumerate(unless):
            if mid not in milestones:
                pos = raw_unless.item_pos[j] if isinstance(raw_unless, MarkedList) else None
                at = pos or item.value_pos["unless"]
                self.add(
                    Pos(at.line, at.content_col, max(1, len(mid))),
                    f"unknown milestone {mid!r}",
                    suggest(mid, milestones),
                )
                ok = False
        after = edge.after or "start"
        if after != "start" and after not in ids:
            ok = self.ref(item, "after", after, ["start", *ids], "touchpoint") and ok
        action = self.action(item, edge.action, edge.task, where, f"touchpoint {edge.id!r}")
        if action is None or not ok:
            return None
        return Touchpoint(
            id=edge.id,
            action=action,
            due=due,
            every=every,
            after=after,
            until=until,
            for_=for_,
            unless=tuple(unless),
            optional=edge.optional,
            loc=loc_of(self.path, where),
        )

    def check_anchors(self, items: list[tuple[TouchpointEdge, MarkedDict]]) -> None:
        """``after:`` names a one-off touchpoint of this track, and anchors never loop."""
        by_id = {e.id: (e, item) for e, item in items}
        reported: set[str] = set()
        for edge, item in items:
            after = edge.after
            if after is None or after not in by_id:
                continue
            if after == edge.id:
                self.add(pos_of(item, "after", after), f"touchpoint {edge.id!r} is after itself")
                reported.add(edge.id)
                continue
            anchor, _ = by_id[after]
            if anchor.every is not None and anchor.due is None:
                self.add(
                    pos_of(item, "after", after),
                    f"touchpoint {after!r} repeats; `after:` "
                    "needs a one-off touchpoint (`due:`) to count from",
                )
            chain = [edge.id]
            current: str | None = after
            while current is not None and current in by_id and current not in chain:
                chain.append(current)
                current = by_id[current][0].after
            if current == edge.id and not reported.intersection(chain):
                loop = " → ".join([*chain, edge.id])
                self.add(
                    pos_of(item, "after", after),
                    f"touchpoints form a cycle: {loop}",
                    "one of them must count from `start` or another touchpoint",
                )
                reported.update(chain)

    # actions

    def action(
        self,
        item: MarkedDict,
        action: ActionEdge | None,
        task: ActionBodyEdge | None,
        where: Pos,
        owner: str,
    ) -> Action | None:
        if action is not None and task is not None:
            self.add(
                item.key_pos["task"],
                f"{owner} has both `task:` and `action:`",
                '`task: "text"` is short for `action: {task: {text: …}}`',
            )
            return None
        if task is not None:
            return self.action_body("task", task, item, "task")
        if action is None:
            self.add(
                where,
                f'{owner} needs an action: `task: "text"` or '
                "`action: {task | email | notify: {…}}`",
            )
            return None
        raw = item["action"]
        assert isinstance(raw, MarkedDict)
        kinds: list[ActionKind] = [k for k in ("task", "email", "notify") if k in raw]
        if len(kinds) != 1:
            has = f" (it has {', '.join(kinds)})" if kinds else ""
            self.add(
                item.value_pos["action"], f"an action needs exactly one of task, email, notify{has}"
            )
            return None
        kind = kinds[0]
        body = getattr(action, kind)
        assert body is not None
        return self.action_body(kind, body, raw, kind)

    def action_body(
        self, kind: ActionKind, body: ActionBodyEdge, holder: MarkedDict, key: str
    ) -> Action | None:
        pos = holder.value_pos[key]
        if kind in ("task", "email") and body.text is None and body.template is None:
            self.add(pos, f"the {kind} needs `text:` or `template:`")
            return None
        to = body.to or (body.channel if kind == "notify" and body.channel else None)
        return Action(
            kind=kind,
            to=to or _DEFAULT_TO[kind],
            template=body.template,
            text=body.text,
            channel=body.channel,
            loc=loc_of(self.path, pos),
        )


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null" if value is None else repr(value)
