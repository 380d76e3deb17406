"""One engine run as of a time: the actions a CS team should take now, recorded once.

:func:`run` does, in ONE transaction on the store's connection:

1. assign new closed-won accounts (:func:`tierline.engine.assign.assign_accounts`; a run
   that may be incremental decides only the unassigned accounts whose book row may have
   changed since the previous run, :func:`tierline.engine.scope.assigned_since`);
2. bring the kept milestone state up to date
   (:func:`tierline.engine.milestone_state.refresh_milestone_state`) and decide the run's
   *scope* (:func:`tierline.engine.scope.plan_scope`): in full, or incrementally since the
   previous run (below);
3. enrollments and milestone progress (:func:`tierline.engine.milestone.milestone_progress`);
4. transitions (:func:`tierline.engine.transition.apply_transitions`): stalls, automatic
   upgrades (``auto_upgrade`` assignment rows at their deterministic times) and graduation
   recommendations; afterwards the progress tables describe the stints after them;
5. CSM assignment for accounts that need one and have none
   (:func:`tierline.engine.csm.assign_csms`, over the stints after the transitions; the
   picks are counted in SQL, not read into Python);
6. touchpoints due by then (:func:`tierline.engine.touchpoint.materialise_touchpoints`);
7. what the next run needs to be incremental is kept
   (:func:`tierline.engine.scope.record_scope`), every candidate (touchpoints, CSM picks,
   stall / upgrade / graduation actions) is appended to the outbox, anti-joined on its
   idempotency key (:func:`tierline.engine.outbox.append_candidates`), and the run is
   recorded in ``runs``.

A run whose previous run (on this store) has the same policy version and an ``as_of`` T0
at or before its own is *incremental* (:mod:`tierline.engine.scope` has the rules and why
they hold): steps 3-6 derive only the accounts whose inputs changed since T0 or that have
something due in (T0, T] (and re-evaluate graduation for complete stints), and of the
accounts whose inputs did not change only candidates due after T0 are compared with the
outbox. It records exactly the rows a full run would (tested against one, run by run);
only ``candidates`` in its report (the candidates compared) differs. ``incremental=False``
forces a full run; the first run, a policy change and a run in the past are full anyway.

The catch-up window (``run: {catch_up: 7 days}`` in tierline.yaml, or the ``catch_up``
argument) decides each new action's status: one due before ``as_of - catch_up`` is recorded
``expired`` (history: its key is kept so it never comes back, but it is never delivered nor
an open task), the others ``pending``. The first run on a book with years of history thus
asks only for what is due now. A daily schedule records each action on its day, within the
window, as pending: a daily backtest and one late run record the same keys and rows and
differ only in the status of the actions older than the window.

Before that transaction, a real run (neither dry nor part of a backtest) whose graduation
conditions read metrics refreshes the daily event rollups
(:func:`tierline.engine.rollup.refresh_rollups`, up to ``as_of`` or the latest event
received, whichever is earlier), so the one metrics scan of step 4 reads rollups plus the
few newer events; the metrics are computed once per run, inside the transitions.

Running twice at the same ``as_of`` adds nothing the second time. A *dry run* does all of
it and then rolls the transaction back: the report says what would be added, the store is
unchanged. Nothing here loops over accounts: each step is a few set-based statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

import duckdb

from tierline.engine.assign import assign_accounts
from tierline.engine.csm import CANDIDATES_TABLE as CSM_CANDIDATES
from tierline.engine.csm import PLAN_TABLE as CSM_PLAN
from tierline.engine.csm import assign_csms, keep_picks
from tierline.engine.enrollment import ENROLLMENT_TABLE, driving_segmentation
from tierline.engine.graduation import graduation_rules, metrics_read
from tierline.engine.milestone import milestone_progress
from tierline.engine.milestone_state import refresh_milestone_state
from tierline.engine.outbox import (
    OUTBOX_TABLE,
    STATUS_EXPIRED,
    OutboxRow,
    append_candidates,
    ensure_outbox,
    expiry_cutoff,
    outbox_rows,
    record_run,
)
from tierline.engine.rollup import refresh_rollups
from tierline.engine.scope import SCOPE_TABLE, Scope, assigned_since, plan_scope, record_scope
from tierline.engine.state import utc_naive
from tierline.engine.touchpoint import CANDIDATES_TABLE as TOUCHPOINT_CANDIDATES
from tierline.engine.touchpoint import materialise_touchpoints
from tierline.engine.transition import CANDIDATES_TABLE as TRANSITION_CANDIDATES
from tierline.engine.transition import CSM_PICKED_TABLE as CSM_PICKED
from tierline.engine.transition import GRADUATIONS_TABLE, UPGRADES_TABLE, apply_transitions
from tierline.errors import EngineError
from tierline.policy.model import DEFAULT_CATCH_UP, Project
from tierline.store import Store

if TYPE_CHECKING:
    from tierline.engine.csm import CsmPlan

__all__ = [
    "CANDIDATE_SOURCES",
    "FROM_POLICY",
    "RUN_CANDIDATES",
    "CatchUp",
    "RunReport",
    "metric_reads",
    "new_run_id",
    "run",
]

RUN_CANDIDATES = "run_candidates"
# ``run(catch_up=FROM_POLICY)``: the window of the project's ``run:`` section.
FROM_POLICY: Final = "policy"
CatchUp = timedelta | None | Literal["policy"]
# The temp tables whose rows a run appends to the outbox, in this order.
CANDIDATE_SOURCES: tuple[str, ...] = (
    TRANSITION_CANDIDATES,
    CSM_CANDIDATES,
    TOUCHPOINT_CANDIDATES,
)


@dataclass(frozen=True)
class RunReport:
    """What one run did (or, dry, would do): counts per step, and the actions it added.

    ``added`` counts every action recorded, ``expired`` those of them recorded as expired
    (due before :attr:`expire_before`, outside the ``catch_up`` window; None: no window),
    :attr:`pending` the rest. ``by_kind`` / ``by_rule`` count the actions added,
    ``expired_by_kind`` the expired ones; ``actions`` are the first of them, most urgent
    first (pending ones, soonest due first, then expired ones; at most ``limit``).
    ``scope`` says whether the run was incremental (and why not); ``candidates`` counts the
    candidates compared with the outbox (an incremental run compares only those that can
    be new); every other count is the same for a full and an incremental run.
    """

    run_id: str
    as_of: datetime
    policy_version: str
    dry_run: bool
    backtest: bool
    started_at: datetime
    finished_at: datetime
    assigned: tuple[tuple[str, int], ...]
    enrolled: int
    upgrades: int
    stalls: int
    graduations: int
    csm_assigned: int
    csm_unplaced: int
    shortfall: Mapping[str, int]
    candidates: int
    added: int
    by_kind: tuple[tuple[str, int], ...]
    by_rule: tuple[tuple[str, str, int], ...]
    actions: tuple[OutboxRow, ...] = field(default=())
    later_decisions: datetime | None = None
    rolled_up: int = 0
    catch_up: timedelta | None = DEFAULT_CATCH_UP
    expired: int = 0
    expired_by_kind: tuple[tuple[str, int], ...] = ()
    scope: Scope = field(default=Scope(incremental=False))

    @property
    def incremental(self) -> bool:
        """True when the run re-derived only its scope (see :mod:`tierline.engine.scope`)."""
        return self.scope.incremental

    @property
    def pending(self) -> int:
        """Actions added as pending: what the team is asked to do now."""
        return self.added - self.expired

    @property
    def expire_before(self) -> datetime | None:
        """The catch-up cutoff: new actions due before it were recorded expired."""
        return expiry_cutoff(self.as_of, self.catch_up)

    @property
    def in_the_past(self) -> bool:
        """True when the store held decisions made after ``as_of`` before this run.

        Such a run sees only what was decided by ``as_of``: replay the past with a backtest.
        """
        return self.later_decisions is not None

    @property
    def written(self) -> bool:
        """True when the run changed the store (never for a dry run)."""
        return not self.dry_run

    def counts(self) -> dict[str, object]:
        """The counts (no actions), as recorded in ``runs.counts``."""
        return {
            "assigned": dict(self.assigned),
            "enrolled": self.enrolled,
            "upgrades": self.upgrades,
            "stalls": self.stalls,
            "graduations": self.graduations,
            "csm_assigned": self.csm_assigned,
            "csm_unplaced": self.csm_unplaced,
            "shortfall": dict(self.shortfall),
            "candidates": self.candidates,
            "added": self.added,
            "pending": self.pending,
            "expired": self.expired,
            "catch_up_seconds": None
            if self.catch_up is None
            else int(self.catch_up.total_seconds()),
            "expired_before": None
            if self.expire_before is None
            else self.expire_before.isoformat() + "Z",
            "by_kind": dict(self.by_kind),
            "expired_by_kind": dict(self.expired_by_kind),
            "by_rule": {rule: n for rule, _, n in self.by_rule},
            "rolled_up": self.rolled_up,
            "scope": self.scope.to_dict(),
        }

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (times as ISO-8601 UTC)."""
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat() + "Z",
            "policy_version": self.policy_version,
            "dry_run": self.dry_run,
            "backtest": self.backtest,
            **self.counts(),
            "by_rule": [{"rule": r, "kind": k, "count": n} for r, k, n in self.by_rule],
            "later_decisions": None
            if self.later_decisions is None
            else self.later_decisions.isoformat() + "Z",
            "actions": [a.to_dict() for a in self.actions],
        }


class _Joined(Store):
    """The store seen from inside a transaction the run holds: its blocks join that one."""

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the connection; the run commits or rolls back."""
        yield self.con


def new_run_id(as_of: datetime) -> str:
    """A fresh run id: the as-of time and a random suffix, e.g. ``20260316T235959-1a2b…``."""
    return f"{utc_naive(as_of):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def metric_reads(project: Project) -> tuple[str, ...]:
    """The metrics a run computes: those the graduation conditions read (none: no scan)."""
    seg = driving_segmentation(project)
    if seg is None:
        return ()
    return metrics_read(project, graduation_rules(project, seg))


def _refresh(con: duckdb.DuckDBPyConnection, project: Project, as_of: datetime) -> int:
    """Roll up the events received by ``as_of`` (at most the latest one); events added."""
    row = con.execute("SELECT max(received_at) FROM events").fetchone()
    latest = row[0] if row and isinstance(row[0], datetime) else None
    if latest is None:
        return 0
    return refresh_rollups(con, project, min(latest, as_of))


# Candidates at deterministic times: of an account an incremental run woke, only those due
# after the previous run can be new (CSM picks and graduation requests always may be).
_TIMED_RULES = ("touchpoint:", "stall:", "upgrade:")


def _collect(con: duckdb.DuckDBPyConnection, scope: Scope, as_of: datetime) -> int:
    parts = [
        f"SELECT rule, account_id, episode, kind, CAST(due_at AS TIMESTAMP) AS due_at, "
        f"CAST(payload AS VARCHAR) AS payload FROM {name}"
        for name in CANDIDATE_SOURCES
    ]
    union = " UNION ALL ".join(parts)
    params: dict[str, object] = {}
    if scope.incremental:
        timed = " OR ".join(f"starts_with(c.rule, '{prefix}')" for prefix in _TIMED_RULES)
        union = (
            f"SELECT c.* FROM ({union}) AS c LEFT JOIN {SCOPE_TABLE} AS s "
            "ON s.account_id = c.account_id WHERE coalesce(s.dirty, TRUE) "
            f"OR c.due_at > CAST($since AS TIMESTAMP) OR NOT ({timed})"
        )
        params["since"] = scope.since
        kept = scope.kept_touches
        if kept is not None and scope.touched:
            union += f" UNION ALL {kept}"
            params["as_of"] = as_of
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RUN_CANDIDATES} AS {union}", params)
    row = con.execute(f"SELECT count(*) FROM {RUN_CANDIDATES}").fetchone()
    return int(row[0]) if row else 0


_Counts = tuple[tuple[str, int], ...]


def _csm_assigned(con: duckdb.DuckDBPyConnection, *, upgraded: bool) -> int:
    """The accounts the run gave a CSM: in its CSM plan, or (``upgraded``) in the plan the
    transitions made over the upgraded stints (their picks, counted once)."""
    picked = f"SELECT account_id FROM {CSM_PLAN} WHERE csm_id IS NOT NULL"
    if upgraded:
        picked += f" UNION SELECT account_id FROM {CSM_PICKED}"
    row = con.execute(f"SELECT count(DISTINCT account_id) FROM ({picked})").fetchone()
    return int(row[0]) if row else 0


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The transitions' upgrades, stall actions and open graduation recommendations."""
    row = con.execute(
        f"SELECT (SELECT count(*) FROM {UPGRADES_TABLE}), "
        f"(SELECT count(*) FROM {TRANSITION_CANDIDATES} WHERE starts_with(rule, 'stall:')), "
        f"(SELECT count(*) FROM {GRADUATIONS_TABLE} WHERE status IN ('new', 'pending'))"
    ).fetchone()
    upgrades, stalls, graduations = row if row else (0, 0, 0)
    return {"upgrades": int(upgrades), "stalls": int(stalls), "graduations": int(graduations)}


def _grouped(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> tuple[_Counts, _Counts, tuple[tuple[str, str, int], ...]]:
    kinds = con.execute(
        f"SELECT kind, count(*) AS n, count(*) FILTER (WHERE status = '{STATUS_EXPIRED}') "
        f"FROM {OUTBOX_TABLE} WHERE run_id = ? GROUP BY kind ORDER BY n DESC, kind",
        [run_id],
    ).fetchall()
    rules = con.execute(
        f"SELECT rule, kind, count(*) AS n FROM {OUTBOX_TABLE} WHERE run_id = ? "
        "GROUP BY rule, kind ORDER BY rule, kind",
        [run_id],
    ).fetchall()
    return (
        tuple((str(k), int(n)) for k, n, _ in kinds),
        tuple((str(k), int(e)) for k, _, e in kinds if e),
        tuple((str(r), str(k), int(n)) for r, k, n in rules),
    )


def _steps(
    store: Store,
    project: Project,
    as_of: datetime,
    now: datetime,
    run_id: str,
    *,
    dry_run: bool,
    backtest: bool,
    limit: int | None,
    rolled_up: int,
    catch_up: timedelta | None,
    incremental: bool,
) -> RunReport:
    con = store.con
    joined = _Joined(con, store.location)
    joined.fields = store.fields
    ensure_outbox(con)
    later = con.execute(
        "SELECT max(assigned_at) FROM assignments WHERE assigned_at > CAST(? AS TIMESTAMP)",
        [as_of],
    ).fetchone()
    # accounts whose book rows did not change since the previous run were decided by it
    since = assigned_since(con, project, as_of) if incremental else None
    assigned = assign_accounts(joined, project, as_of, now=now, changed_since=since)
    kept = refresh_milestone_state(con, project)
    scope = plan_scope(con, project, as_of, kept=kept, allow=incremental)
    milestone_progress(con, project, as_of, accounts=scope.derive, kept=kept)
    moves = apply_transitions(
        con,
        project,
        as_of,
        run_id,
        now,
        outbox=OUTBOX_TABLE,
        accounts=scope.accounts,
        current=True,
        kept=kept,
        csm=not scope.incremental,  # the picks below cover upgraded accounts too
        graduates=scope.graduates,
        listed=False,
    )
    csm: CsmPlan = assign_csms(
        con, project, as_of, ENROLLMENT_TABLE, outbox=OUTBOX_TABLE, listed=False
    )
    materialise_touchpoints(
        con,
        project,
        as_of,
        accounts=scope.derive,
        kept=kept,
        recent=scope.recent,
        since=scope.since,
    )
    candidates = _collect(con, scope, as_of)
    kept_state = record_scope(con, project, as_of, run_id, scope, now, kept=kept)
    added = append_candidates(
        con,
        RUN_CANDIDATES,
        run_id=run_id,
        policy_version=project.version,
        created_at=now,
        expire_before=expiry_cutoff(as_of, catch_up),
    )
    if not dry_run:
        keep_picks(con)  # the next run reads today's picks kept, not from the outbox
    by_kind, expired_by_kind, by_rule = _grouped(con, run_id)
    actions = outbox_rows(con, "run_id = ?", [run_id], limit=limit, urgent_first=True)
    csm_assigned = _csm_assigned(con, upgraded=moves.csm is not None)
    moved = _counts(con)
    stalls = kept_state.stalled if scope.incremental else moved["stalls"]
    report = RunReport(
        run_id=run_id,
        as_of=as_of,
        policy_version=project.version,
        dry_run=dry_run,
        backtest=backtest,
        started_at=now,
        finished_at=utc_naive(None),
        assigned=tuple((s.segmentation, s.assigned_count) for s in assigned.segmentations),
        enrolled=kept_state.enrolled,
        upgrades=moved["upgrades"],
        stalls=stalls,
        graduations=moved["graduations"],
        csm_assigned=csm_assigned,
        csm_unplaced=csm.unplaced_count,
        shortfall=csm.shortfall,
        candidates=candidates,
        added=added,
        by_kind=by_kind,
        by_rule=by_rule,
        actions=actions,
        later_decisions=later[0] if later and isinstance(later[0], datetime) else None,
        rolled_up=rolled_up,
        catch_up=catch_up,
        expired=sum(n for _, n in expired_by_kind),
        expired_by_kind=expired_by_kind,
        scope=scope,
    )
    if not dry_run:
        record_run(
            con,
            run_id=run_id,
            as_of=as_of,
            started_at=now,
            finished_at=report.finished_at,
            policy_version=project.version,
            counts=report.counts(),
            dry_run=False,
            backtest=backtest,
        )
    return report


def run(
    store: Store,
    project: Project,
    as_of: datetime,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    limit: int | None = 20,
    backtest: bool = False,
    run_id: str | None = None,
    catch_up: CatchUp = FROM_POLICY,
    incremental: bool = True,
) -> RunReport:
    """Run the engine as of ``as_of`` (UTC) and append the new actions to the outbox.

    ``dry_run`` computes everything and rolls it back (nothing is written). ``now`` is the
    recording time (default: the wall clock); ``limit`` how many added actions the report
    lists (None: all); ``backtest`` marks the run as part of a backtest in ``runs``.
    ``catch_up``: actions due before ``as_of - catch_up`` are recorded expired (None: none
    are; default: the project's ``run: {catch_up: …}``, 7 days unless set).
    ``incremental=False`` derives everything for every account even when the run could be
    incremental (see :mod:`tierline.engine.scope`); the outbox rows are the same.
    A real run that computes metrics first brings the event rollups up to date.
    """
    if limit is not None and limit < 0:
        raise EngineError(f"limit must be 0 or more, not {limit}")
    window = project.run_settings.catch_up if isinstance(catch_up, str) else catch_up
    if isinstance(window, timedelta) and window < timedelta(0):
        raise EngineError(f"the catch-up window must be 0 or more, not {window}")
    moment = utc_naive(as_of)
    recorded = utc_naive(now)
    rid = run_id or new_run_id(moment)
    con = store.con
    rolled_up = 0
    try:
        con.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException as exc:
        raise EngineError(f"a run needs its own transaction, but one is open: {exc}") from exc
    try:
        if not dry_run and not backtest and metric_reads(project):
            rolled_up = _refresh(con, project, moment)  # committed with the run
        report = _steps(
            store,
            project,
            moment,
            recorded,
            rid,
            dry_run=dry_run,
            backtest=backtest,
            limit=limit,
            rolled_up=rolled_up,
            catch_up=window,
            incremental=incremental,
        )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("ROLLBACK" if dry_run else "COMMIT")
    return report
