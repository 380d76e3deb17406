"""Fold newly arrived events into the kept state, as they arrive rather than at the next run.

A run needs two kinds of kept state to cost what the new data costs, not what the history
costs: the daily rollups (:mod:`tierline.engine.rollup`, read by the metrics) and the
milestone state (:mod:`tierline.engine.milestone_state`, the gates' reach times). Both sit
behind a mark on ``received_at``, and a run first applies the events received after it.
:func:`fold_events` does that same work when the events land (``tierline import events``
calls it after its rows are committed), so the next run finds both up to date and only
applies what arrived since.

Nothing a run decides depends on when the folding happened: a run folds whatever is still
unfolded, and rollups folded past a run's ``as_of`` are simply not read by it (the metrics
then scan the events; see :func:`tierline.engine.rollup.usable_rollup`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from tierline.engine.connection import joined_transaction, read_only
from tierline.engine.milestone_state import refresh_milestone_state
from tierline.engine.rollup import refresh_rollups
from tierline.engine.run import metric_reads
from tierline.policy.model import Project

__all__ = ["Folded", "fold_events"]


@dataclass(frozen=True)
class Folded:
    """What :func:`fold_events` did.

    ``rolled``: events added to the rollups (0 when the project's runs read no metric:
    runs then never read the rollups either); ``milestones``: whether the milestone state
    is usable (False: read-only store, or events without ``received_at``; runs then
    compute the gates from the events); ``seconds``: how long it took.
    """

    rolled: int
    milestones: bool
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``tierline import --json``)."""
        return {
            "rolled": self.rolled,
            "milestones": self.milestones,
            "seconds": round(self.seconds, 3),
        }


def fold_events(con: duckdb.DuckDBPyConnection, project: Project) -> Folded:
    """Apply every event received after the marks to the rollups and the milestone state.

    One transaction (the caller's when it holds one): both marks move together or neither
    does. The rollups are refreshed through the latest ``received_at`` when ``project``'s
    runs read metrics, exactly as a run would refresh them.
    """
    start = time.perf_counter()
    if read_only(con):
        return Folded(0, False, time.perf_counter() - start)
    with joined_transaction(con):
        rolled = refresh_rollups(con, project) if metric_reads(project) else 0
        kept = refresh_milestone_state(con, project)
    return Folded(rolled, kept, time.perf_counter() - start)
