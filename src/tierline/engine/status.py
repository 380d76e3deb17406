"""Where accounts stand as of a time: one account's onboarding, or the book by track and state.

Both read the recorded state (assignments and the outbox) and the book as of ``as_of``; they
rebuild the temporary progress and touchpoint tables on the connection
(:func:`tierline.engine.milestone.milestone_progress`,
:func:`tierline.engine.touchpoint.materialise_touchpoints`) and write nothing else.
Transitions a run has not recorded yet (an upgrade due but not run) do not show here.

- :func:`account_status`: the account's track and stint, each milestone with its due and
  reached times and status, TTFV against the track's target range, the next touchpoints, the
  open tasks (pending ``task`` rows of the outbox due by then) and its CSM;
- :func:`book_status`: per track, how many accounts are on track / behind / stuck /
  complete, with the median TTFV; totals, accounts on no track, open tasks, and the tasks
  recorded as expired (due before a run's catch-up window: history, never open tasks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from tierline.engine.lookup import require_account
from tierline.engine.milestone import ACCOUNT_STATES, SUMMARY_TABLE, milestone_progress
from tierline.engine.outbox import (
    OUTBOX_TABLE,
    STATUS_EXPIRED,
    STATUS_PENDING,
    OutboxRow,
    ensure_outbox,
    outbox_rows,
)
from tierline.engine.state import utc_naive
from tierline.engine.touchpoint import UPCOMING_TABLE, materialise_touchpoints
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.policy.track import Track
from tierline.store import Store

__all__ = [
    "AccountStatus",
    "BookStatus",
    "Csm",
    "MilestoneLine",
    "TouchLine",
    "TrackLine",
    "account_status",
    "book_status",
    "find_csm",
    "local_time",
    "ttfv_verdict",
]

_OPEN_TASKS = (
    f"account_id = ? AND kind = 'task' AND status = '{STATUS_PENDING}' "
    "AND coalesce(due_at, created_at) <= CAST(? AS TIMESTAMP)"
)


@dataclass(frozen=True)
class MilestoneLine:
    """One milestone of the account's track: due, reached (None: not yet) and status."""

    id: str
    title: str
    owner: str
    due_at: datetime
    reached_at: datetime | None
    status: str
    ttfv: bool

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "title": self.title,
            "owner": self.owner,
            "due_at": _iso(self.due_at),
            "reached_at": _iso(self.reached_at),
            "status": self.status,
            "ttfv": self.ttfv,
        }


@dataclass(frozen=True)
class TouchLine:
    """A scheduled touch: the next occurrence of one touchpoint after the as-of time."""

    touchpoint_id: str
    rule: str
    kind: str
    due_at: datetime
    occurrence: int
    to: str | None
    text: str | None
    optional: bool

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "touchpoint": self.touchpoint_id,
            "rule": self.rule,
            "kind": self.kind,
            "due_at": _iso(self.due_at),
            "occurrence": self.occurrence,
            "to": self.to,
            "text": self.text,
            "optional": self.optional,
        }


@dataclass(frozen=True)
class Csm:
    """The account's CSM: from the book's ``csm_id``, else the outbox's CSM assignment."""

    id: str
    name: str | None
    email: str | None
    manager_id: str | None
    source: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "manager_id": self.manager_id,
            "source": self.source,
        }


@dataclass(frozen=True)
class AccountStatus:
    """One account's onboarding as of ``as_of`` (times naive UTC; ``timezone`` for display)."""

    account_id: str
    name: str
    as_of: datetime
    track: Track
    source: str
    started_at: datetime
    onboarding_started_at: datetime
    timezone: str
    state: str
    milestones: tuple[MilestoneLine, ...]
    done: int
    completion: float | None
    ttfv_at: datetime | None
    ttfv_days: float | None
    stalled_since: datetime | None
    next_touchpoints: tuple[TouchLine, ...]
    open_tasks: tuple[OutboxRow, ...]
    csm: Csm | None

    @property
    def ttfv_verdict(self) -> str:
        """TTFV against the track's target range (see :func:`ttfv_verdict`)."""
        elapsed = (self.as_of - self.started_at) / timedelta(days=1)
        return ttfv_verdict(self.ttfv_days, self.track.ttfv_target_days, elapsed)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times as ISO-8601 UTC)."""
        low, high = self.track.ttfv_target_days
        return {
            "account_id": self.account_id,
            "name": self.name,
            "as_of": _iso(self.as_of),
            "track": {
                "id": self.track.id,
                "name": self.track.name,
                "level": self.track.level,
                "driver": self.track.driver,
            },
            "source": self.source,
            "started_at": _iso(self.started_at),
            "onboarding_started_at": _iso(self.onboarding_started_at),
            "timezone": self.timezone,
            "state": self.state,
            "milestones": [m.to_dict() for m in self.milestones],
            "done": self.done,
            "completion": self.completion,
            "completion_target": list(self.track.completion_target),
            "ttfv_at": _iso(self.ttfv_at),
            "ttfv_days": self.ttfv_days,
            "ttfv_target_days": [low, high],
            "ttfv_verdict": self.ttfv_verdict,
            "stalled_since": _iso(self.stalled_since),
            "next_touchpoints": [t.to_dict() for t in self.next_touchpoints],
            "open_tasks": [t.to_dict() for t in self.open_tasks],
            "csm": None if self.csm is None else self.csm.to_dict(),
        }


@dataclass(frozen=True)
class TrackLine:
    """One track's accounts by state as of the time, with the median TTFV (days)."""

    track_id: str
    name: str
    level: int
    states: Mapping[str, int]
    total: int
    median_ttfv_days: float | None
    ttfv_target_days: tuple[int, int]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "track": self.track_id,
            "name": self.name,
            "level": self.level,
            **{state: self.states.get(state, 0) for state in ACCOUNT_STATES},
            "total": self.total,
            "median_ttfv_days": self.median_ttfv_days,
            "ttfv_target_days": list(self.ttfv_target_days),
        }


@dataclass(frozen=True)
class BookStatus:
    """The book as of ``as_of``: accounts per track and state, and totals."""

    as_of: datetime
    tracks: tuple[TrackLine, ...]
    totals: Mapping[str, int]
    enrolled: int
    unenrolled: int
    open_tasks: int
    expired_tasks: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "as_of": _iso(self.as_of),
            "tracks": [t.to_dict() for t in self.tracks],
            "totals": {state: self.totals.get(state, 0) for state in ACCOUNT_STATES},
            "enrolled": self.enrolled,
            "unenrolled": self.unenrolled,
            "open_tasks": self.open_tasks,
            "expired_tasks": self.expired_tasks,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def local_time(moment: datetime, zone: str) -> datetime:
    """The naive UTC ``moment`` as an aware datetime in ``zone`` (UTC if unknown).

    >>> local_time(datetime(2026, 3, 9, 14, 0), "America/New_York").isoformat()
    '2026-03-09T10:00:00-04:00'
    """
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)


def ttfv_verdict(ttfv_days: float | None, target: tuple[int, int], elapsed_days: float) -> str:
    """``faster``, ``within`` or ``slower`` than the target range; not reached yet:
    ``pending`` (still inside the range) or ``overdue`` (past its upper end).

    >>> ttfv_verdict(9.5, (7, 14), 30.0), ttfv_verdict(None, (7, 14), 15.0)
    ('within', 'overdue')
    """
    low, high = target
    if ttfv_days is None:
        return "overdue" if elapsed_days > high else "pending"
    if ttfv_days < low:
        return "faster"
    return "within" if ttfv_days <= high else "slower"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def find_csm(con: duckdb.DuckDBPyConnection, account_id: str, as_of: datetime) -> Csm | None:
    """The account's CSM as of ``as_of``: the book's ``csm_id``, else the outbox's pick."""
    ensure_outbox(con)
    row = con.execute(
        f"""
WITH book AS (
  SELECT nullif(trim(csm_id), '') AS csm_id FROM accounts_as_of(CAST($as_of AS TIMESTAMP))
  WHERE id = $account
),
picked AS (
  SELECT json_extract_string(payload, '$.csm_id') AS csm_id FROM {OUTBOX_TABLE}
  WHERE account_id = $account AND kind = 'csm_assignment'
    AND coalesce(due_at, created_at) <= CAST($as_of AS TIMESTAMP)
  ORDER BY seq DESC LIMIT 1
),
chosen AS (
  SELECT csm_id, 'book' AS source FROM book WHERE csm_id IS NOT NULL
  UNION ALL
  SELECT csm_id, 'outbox' FROM picked
  WHERE csm_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM book WHERE csm_id IS NOT NULL)
)
SELECT c.csm_id, r.name, r.email, r.manager_id, c.source
FROM chosen AS c LEFT JOIN csms AS r ON r.id = c.csm_id
""",
        {"as_of": as_of, "account": account_id},
    ).fetchone()
    if row is None:
        return None
    return Csm(str(row[0]), _text(row[1]), _text(row[2]), _text(row[3]), str(row[4]))


def _touches(con: duckdb.DuckDBPyConnection, account_id: str) -> tuple[TouchLine, ...]:
    rows = con.execute(
        f"SELECT touchpoint_id, rule, kind, due_at, occurrence, CAST(payload AS VARCHAR), "
        f"optional FROM {UPCOMING_TABLE} WHERE account_id = ? ORDER BY due_at, rule",
        [account_id],
    ).fetchall()
    lines: list[TouchLine] = []
    for tid, rule, kind, due, occurrence, payload, optional in rows:
        body = json.loads(str(payload)) if payload is not None else {}
        lines.append(
            TouchLine(
                str(tid),
                str(rule),
                str(kind),
                due,
                int(occurrence),
                _text(body.get("to")),
                _text(body.get("text") or body.get("template")),
                bool(optional),
            )
        )
    return tuple(lines)


def account_status(
    store: Store, project: Project, account_id: str, as_of: datetime
) -> AccountStatus:
    """One account's onboarding as of ``as_of`` (EngineError when it is on no track)."""
    con = store.con
    moment = utc_naive(as_of)
    name = require_account(con, account_id)
    milestone_progress(con, project, moment)
    row = con.execute(
        "SELECT track_id, source, started_at, onboarding_started_at, timezone, state, done, "
        f"completion, ttfv_at, ttfv_days, stalled_since FROM {SUMMARY_TABLE} "
        "WHERE account_id = ?",
        [account_id],
    ).fetchone()
    if row is None:
        raise EngineError(
            f"account {account_id!r} is on no onboarding track as of {moment:%Y-%m-%d %H:%M} "
            "UTC: it is not closed-won by then, or no run has assigned it yet "
            f"(run `tierline run --as-of {moment:%Y-%m-%d}`)"
        )
    track = project.track(str(row[0]))
    if track is None:
        raise EngineError(f"account {account_id!r} is on track {row[0]!r}, which is not defined")
    materialise_touchpoints(con, project, moment)
    owners = {m.id: m for m in track.milestones}
    lines = tuple(
        MilestoneLine(
            id=str(mid),
            title=owners[str(mid)].title if str(mid) in owners else str(mid),
            owner=owners[str(mid)].owner if str(mid) in owners else "customer",
            due_at=due,
            reached_at=_time(reached),
            status=str(status),
            ttfv=bool(ttfv),
        )
        for mid, due, reached, status, ttfv in con.execute(
            "SELECT milestone_id, due_at, reached_at, status, is_ttfv FROM milestone_progress "
            "WHERE account_id = ? ORDER BY ord",
            [account_id],
        ).fetchall()
    )
    return AccountStatus(
        account_id=account_id,
        name=name,
        as_of=moment,
        track=track,
        source=str(row[1]),
        started_at=row[2],
        onboarding_started_at=row[3],
        timezone=str(row[4] or project.timezone),
        state=str(row[5]),
        milestones=lines,
        done=int(row[6]),
        completion=None if row[7] is None else float(row[7]),
        ttfv_at=_time(row[8]),
        ttfv_days=None if row[9] is None else float(row[9]),
        stalled_since=_time(row[10]),
        next_touchpoints=_touches(con, account_id),
        open_tasks=outbox_rows(con, _OPEN_TASKS, [account_id, moment]),
        csm=find_csm(con, account_id, moment),
    )


def book_status(store: Store, project: Project, as_of: datetime) -> BookStatus:
    """Accounts per track and state as of ``as_of``, with totals."""
    con = store.con
    moment = utc_naive(as_of)
    milestone_progress(con, project, moment)
    ensure_outbox(con)
    grouped = con.execute(
        f"SELECT track_id, state, count(*) FROM {SUMMARY_TABLE} GROUP BY track_id, state"
    ).fetchall()
    medians = dict(
        con.execute(
            f"SELECT track_id, median(ttfv_days) FROM {SUMMARY_TABLE} GROUP BY track_id"
        ).fetchall()
    )
    per_track: dict[str, dict[str, int]] = {}
    for tid, state, n in grouped:
        per_track.setdefault(str(tid), {})[str(state)] = int(n)
    lines = tuple(
        TrackLine(
            track_id=t.id,
            name=t.name,
            level=t.level,
            states={s: per_track.get(t.id, {}).get(s, 0) for s in ACCOUNT_STATES},
            total=sum(per_track.get(t.id, {}).values()),
            median_ttfv_days=None if medians.get(t.id) is None else float(medians[t.id]),
            ttfv_target_days=t.ttfv_target_days,
        )
        for t in project.tracks
    )
    totals = {s: sum(line.states.get(s, 0) for line in lines) for s in ACCOUNT_STATES}
    enrolled = sum(line.total for line in lines)
    book = con.execute(
        "SELECT count(*) FROM accounts_as_of(CAST(? AS TIMESTAMP)) "
        "WHERE closed_won_at <= CAST(? AS TIMESTAMP)",
        [moment, moment],
    ).fetchone()
    tasks = con.execute(
        f"SELECT count(*) FILTER (WHERE status = '{STATUS_PENDING}'), "
        f"count(*) FILTER (WHERE status = '{STATUS_EXPIRED}') FROM {OUTBOX_TABLE} "
        "WHERE kind = 'task' AND coalesce(due_at, created_at) <= CAST(? AS TIMESTAMP)",
        [moment],
    ).fetchone()
    return BookStatus(
        as_of=moment,
        tracks=lines,
        totals=totals,
        enrolled=enrolled,
        unenrolled=max(0, (int(book[0]) if book else 0) - enrolled),
        open_tasks=int(tasks[0]) if tasks else 0,
        expired_tasks=int(tasks[1]) if tasks else 0,
    )
