"""The order of a segmentation's outcomes, to tell an override up a tier from one down.

An outcome's rank is an explicit integer ``rank`` where the policy gives one (a tree
outcome's ``rank:`` field, a rule's ``meta: {rank: N}``), else its position in the
segmentation's outcome order (a tree's outcomes in file order, a table's in first-rule
order, then the default). A higher rank means more attention: moving to a higher rank is
*up* a tier. The ranks are mirrored into the store's ``outcome_ranks`` table, which the
``override_stats`` view reads.
"""

from __future__ import annotations

import duckdb

from tierline.policy.model import Project, Segmentation

__all__ = ["outcome_ranks", "sync_outcome_ranks"]


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _explicit(seg: Segmentation, outcome: str) -> int | None:
    if seg.tree is not None:
        found = seg.tree.outcome(outcome)
        return _as_int(found.get("rank")) if found is not None else None
    if seg.table is not None:
        for rule in seg.table.rules:
            if rule.then == outcome:
                meta = dict(rule.meta)
                if "rank" in meta:
                    return _as_int(meta["rank"])
    return None


def outcome_ranks(seg: Segmentation) -> dict[str, int]:
    """Outcome id → rank (higher = more attention) for one segmentation.

    Explicit ranks are used only when every outcome has one; else the outcome order.
    """
    outcomes = seg.outcomes
    explicit = {o: _explicit(seg, o) for o in outcomes}
    if outcomes and all(r is not None for r in explicit.values()):
        return {o: int(r) for o, r in explicit.items() if r is not None}
    return {o: i for i, o in enumerate(outcomes)}


def sync_outcome_ranks(con: duckdb.DuckDBPyConnection, project: Project) -> None:
    """Refresh the store's ``outcome_ranks`` mirror of the project's outcome order."""
    rows = [
        (seg.id, outcome, rank)
        for seg in project.segmentations
        for outcome, rank in outcome_ranks(seg).items()
    ]
    con.execute(
        "DELETE FROM outcome_ranks WHERE list_contains(?, segmentation)",
        [[seg.id for seg in project.segmentations]],
    )
    if rows:
        con.executemany("INSERT INTO outcome_ranks VALUES (?, ?, ?)", rows)
