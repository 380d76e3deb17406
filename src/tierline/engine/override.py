"""Overrides: a CSM asks for another outcome with a written reason; a manager decides.

- :func:`request_override`: the requester must be in the ``csms`` roster, the reason at
  least a sentence (``MIN_REASON_CHARS`` characters and more than one word), the outcome one
  of the segmentation's outcomes and different from the account's current one; one pending
  request per account and segmentation.
- :func:`decide_override` (:func:`approve_override`, :func:`reject_override`): only a
  roster person with role ``manager``, never the requester; a request is decided once
  (``override_decisions.request_id`` is the primary key). An approval appends an
  ``assignments`` row with source ``override``, which becomes the current assignment.
- Every request and decision appends an ``audit_log`` row (who, when in UTC, before,
  after, reason).
- :func:`override_stats` reads the store's ``override_stats`` view: the override rate and
  its direction (up / down a tier) per outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import duckdb

from tierline.diagnostics import suggest
from tierline.engine.lookup import require_account, require_person, require_segmentation
from tierline.engine.rank import sync_outcome_ranks
from tierline.engine.state import append_audit, utc_naive
from tierline.errors import AuthError, EngineError, UsageError
from tierline.policy.model import Project, Segmentation

if TYPE_CHECKING:
    from tierline.store import Store

__all__ = [
    "MIN_REASON_CHARS",
    "Decision",
    "OverrideRequest",
    "OverrideStat",
    "approve_override",
    "check_reason",
    "decide_override",
    "list_overrides",
    "override_stats",
    "reject_override",
    "request_override",
]

MIN_REASON_CHARS = 20

Decision = Literal["approved", "rejected"]

_COLUMNS = (
    "id, account_id, segmentation, from_outcome, to_outcome, reason, requested_by, "
    "requested_at, status, decided_by, decided_at, note"
)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _when(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


@dataclass(frozen=True)
class OverrideRequest:
    """One override request with its decision, if any (``status`` pending | approved | …)."""

    id: int
    account_id: str
    segmentation: str
    from_outcome: str | None
    to_outcome: str
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    note: str | None

    @classmethod
    def from_row(cls, row: tuple[object, ...]) -> OverrideRequest:
        """Build from a row of ``override_status`` in ``_COLUMNS`` order."""
        requested_at = _when(row[7])
        if requested_at is None:
            raise EngineError(f"override request {row[0]} has no request time")
        return cls(
            id=int(str(row[0])),
            account_id=str(row[1]),
            segmentation=str(row[2]),
            from_outcome=_opt(row[3]),
            to_outcome=str(row[4]),
            reason=str(row[5]),
            requested_by=str(row[6]),
            requested_at=requested_at,
            status=str(row[8]),
            decided_by=_opt(row[9]),
            decided_at=_when(row[10]),
            note=_opt(row[11]),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times ISO-8601 UTC)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "segmentation": self.segmentation,
            "from": self.from_outcome,
            "to": self.to_outcome,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "requested_at": _iso(self.requested_at),
            "status": self.status,
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "note": self.note,
        }


@dataclass(frozen=True)
class OverrideStat:
    """Overrides of one outcome of one segmentation (a row of ``override_stats``)."""

    segmentation: str
    outcome: str | None
    rank: int | None
    accounts: int
    requested: int
    approved: int
    rejected: int
    pending: int
    override_rate: float | None
    up: int
    down: int
    unranked: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def _require_request(con: duckdb.DuckDBPyConnection, request_id: int) -> OverrideRequest:
    """Request ``request_id`` as ``override_status`` shows it now (with its decision, if any).

    Raises EngineError when there is no such request. The request and decide paths call it
    to check a request exists and, inside their transaction, to read back what they wrote.
    """
    row = con.execute(
        f"SELECT {_COLUMNS} FROM override_status WHERE id = ?", [request_id]
    ).fetchone()
    if row is None:
        raise EngineError(f"override request #{request_id} does not exist")
    return OverrideRequest.from_row(tuple(row))


def _current(con: duckdb.DuckDBPyConnection, account_id: str, sid: str) -> str | None:
    row = con.execute(
        "SELECT outcome FROM current_assignments WHERE account_id = ? AND segmentation = ?",
        [account_id, sid],
    ).fetchone()
    return None if row is None else str(row[0])


def _resolve_segmentation(project: Project, to_outcome: str, sid: str | None) -> Segmentation:
    if sid is not None:
        seg = require_segmentation(project, sid)
        if to_outcome not in seg.outcomes:
            hint = suggest(to_outcome, seg.outcomes)
            raise EngineError(
                f"unknown outcome {to_outcome!r} for segmentation {seg.id!r}; its outcomes are "
                f"{', '.join(seg.outcomes)}" + (f"; {hint}" if hint else "")
            )
        return seg
    owners = [s for s in project.segmentations if to_outcome in s.outcomes]
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise UsageError(
            f"outcome {to_outcome!r} belongs to several segmentations "
            f"({', '.join(s.id for s in owners)}): pass --segmentation"
        )
    every = [o for s in project.segmentations for o in s.outcomes]
    hint = suggest(to_outcome, every)
    listing = "; ".join(f"{s.id}: {', '.join(s.outcomes)}" for s in project.segmentations)
    raise EngineError(
        f"unknown outcome {to_outcome!r}; the outcomes are {listing}"
        + (f"; {hint}" if hint else "")
    )


def check_reason(reason: str) -> str:
    """The reason, stripped, if it is at least a sentence; else EngineError."""
    text = " ".join(reason.split())
    if len(text) < MIN_REASON_CHARS or " " not in text:
        raise EngineError(
            f"the reason must be at least a sentence ({MIN_REASON_CHARS}+ characters, more "
            f"than one word); got {text!r} ({len(text)} characters)"
        )
    return text


def request_override(
    store: Store,
    project: Project,
    account_id: str,
    to_outcome: str,
    reason: str,
    by: str,
    *,
    segmentation: str | None = None,
    now: datetime | None = None,
) -> OverrideRequest:
    """Record a pending request to move ``account_id`` to ``to_outcome``, and audit it."""
    text = check_reason(reason)
    seg = _resolve_segmentation(project, to_outcome, segmentation)
    at = utc_naive(now)
    with store.transaction() as con:
        require_person(con, by)
        require_account(con, account_id)
        current = _current(con, account_id, seg.id)
        if current == to_outcome:
            raise EngineError(
                f"account {account_id!r} is already {to_outcome} in {seg.id}: nothing to override"
            )
        pending = con.execute(
            "SELECT id FROM override_status WHERE account_id = ? AND segmentation = ? "
            "AND status = 'pending'",
            [account_id, seg.id],
        ).fetchone()
        if pending is not None:
            raise EngineError(
                f"account {account_id!r} already has pending override request #{pending[0]} "
                f"in {seg.id}: approve or reject it first"
            )
        row = con.execute(
            "INSERT INTO override_requests (account_id, segmentation, from_outcome, "
            "to_outcome, reason, requested_by, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            [account_id, seg.id, current, to_outcome, text, by, at],
        ).fetchone()
        assert row is not None
        request_id = int(row[0])
        append_audit(
            con,
            at=at,
            actor=by,
            action="override_requested",
            account_id=account_id,
            segmentation=seg.id,
            before=current,
            after=to_outcome,
            reason=text,
            details={"request_id": request_id},
        )
        return _require_request(con, request_id)


def decide_override(
    store: Store,
    project: Project,
    request_id: int,
    decision: Decision,
    by: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> OverrideRequest:
    """Approve or reject a pending request (a manager, not the requester) and audit it."""
    at = utc_naive(now)
    verb = "approve" if decision == "approved" else "reject"
    with store.transaction() as con:
        request = _require_request(con, request_id)
        person = require_person(con, by)
        if person.role != "manager":
            raise AuthError(
                f"{by} cannot {verb} override request #{request_id}: only a person with the "
                f"manager role in the roster can (their role is {person.role or 'not set'})"
            )
        if by == request.requested_by:
            raise AuthError(
                f"{by} cannot {verb} override request #{request_id}: nobody decides their "
                "own request"
            )
        if request.status != "pending":
            when = _iso(request.decided_at)
            raise EngineError(
                f"override request #{request_id} was already {request.status} by "
                f"{request.decided_by} at {when}: a decision is final"
            )
        try:
            con.execute(
                "INSERT INTO override_decisions (request_id, decision, decided_by, "
                "decided_at, note) VALUES (?, ?, ?, ?, ?)",
                [request_id, decision, by, at, note],
            )
        except duckdb.ConstraintException as exc:
            raise EngineError(
                f"override request #{request_id} was decided meanwhile: a decision is final"
            ) from exc
        before = _current(con, request.account_id, request.segmentation)
        after = before
        if decision == "approved":
            sync_outcome_ranks(con, project)
            after = request.to_outcome
            explanation = {
                "kind": "override",
                "request_id": request_id,
                "from": request.from_outcome,
                "outcome": request.to_outcome,
                "reason": request.reason,
                "requested_by": request.requested_by,
                "approved_by": by,
                "note": note,
            }
            con.execute(
                "INSERT INTO assignments (account_id, segmentation, outcome, explanation, "
                "policy_version, assigned_at, source, recorded_at, override_id) "
                "VALUES (?, ?, ?, ?, ?, ?, 'override', ?, ?)",
                [
                    request.account_id,
                    request.segmentation,
                    request.to_outcome,
                    json.dumps(explanation),
                    project.version,
                    at,
                    at,
                    request_id,
                ],
            )
        append_audit(
            con,
            at=at,
            actor=by,
            action=f"override_{decision}",
            account_id=request.account_id,
            segmentation=request.segmentation,
            before=before,
            after=after,
            reason=request.reason,
            details={
                "request_id": request_id,
                "requested_by": request.requested_by,
                "requested": request.to_outcome,
                "note": note,
            },
        )
        return _require_request(con, request_id)


def approve_override(
    store: Store,
    project: Project,
    request_id: int,
    by: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> OverrideRequest:
    """Approve a pending request: the override becomes the current assignment."""
    return decide_override(store, project, request_id, "approved", by, note=note, now=now)


def reject_override(
    store: Store,
    project: Project,
    request_id: int,
    by: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> OverrideRequest:
    """Reject a pending request: the assignment stays as it is."""
    return decide_override(store, project, request_id, "rejected", by, note=note, now=now)


def list_overrides(
    store: Store, *, pending: bool = False, account_id: str | None = None
) -> tuple[OverrideRequest, ...]:
    """Override requests, oldest first; only pending ones, or one account's, if asked."""
    where: list[str] = []
    params: list[object] = []
    if pending:
        where.append("status = 'pending'")
    if account_id is not None:
        where.append("account_id = ?")
        params.append(account_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = store.con.execute(
        f"SELECT {_COLUMNS} FROM override_status{clause} ORDER BY id", params
    ).fetchall()
    return tuple(OverrideRequest.from_row(tuple(r)) for r in rows)


def override_stats(store: Store, project: Project | None = None) -> tuple[OverrideStat, ...]:
    """Rows of the ``override_stats`` view (ranks refreshed from ``project`` when given)."""
    if project is not None:
        with store.transaction() as con:
            sync_outcome_ranks(con, project)
    rows = store.con.execute(
        "SELECT segmentation, outcome, rank, accounts, requested, approved, rejected, "
        "pending, override_rate, up, down, unranked FROM override_stats "
        "ORDER BY segmentation, rank NULLS LAST, outcome"
    ).fetchall()
    return tuple(
        OverrideStat(
            segmentation=str(r[0]),
            outcome=_opt(r[1]),
            rank=None if r[2] is None else int(r[2]),
            accounts=int(r[3]),
            requested=int(r[4]),
            approved=int(r[5]),
            rejected=int(r[6]),
            pending=int(r[7]),
            override_rate=None if r[8] is None else float(r[8]),
            up=int(r[9]),
            down=int(r[10]),
            unranked=int(r[11]),
        )
        for r in rows
    )
