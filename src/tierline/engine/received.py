"""What the store's events received by a mark are, read without scanning the history twice.

The kept rollups and milestone state each remember how many events they applied (and the
milestone state the sum of their ``ts``); before trusting them, a run checks that the events
received at or before their mark are still exactly those. Filtering ten million rows on
``received_at <= mark`` reads the whole column; this module reads the same numbers as the
whole table minus its tail instead:

- ``count(*)``, ``count(received_at)``, ``count(ts)`` and ``max(received_at)`` of the whole
  table come from DuckDB's row-group statistics (no scan);
- the tail, ``received_at > mark``, is the newest rows: the zone maps of ``received_at``
  skip every older row group;
- only the sum of ``ts`` over the whole table is a scan, of one column, and only
  :func:`received_by` with ``sums=True`` asks for it.

The numbers are exactly those of the filtered query: every row has ``received_at`` NULL,
``<= mark`` or ``> mark``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from tierline.engine.connection import first_row

__all__ = ["Received", "received_by"]


@dataclass(frozen=True)
class Received:
    """The events received at or before a mark, and the store's events as a whole.

    ``count``: rows with ``received_at <= mark`` (0 without a mark); ``ts_sum``: the sum of
    their ``ts`` in microseconds (None when none has a ``ts``, or not asked for);
    ``unplaced``: rows without ``received_at``; ``latest``: the largest ``received_at``.
    """

    count: int
    ts_sum: int | None
    unplaced: int
    latest: datetime | None


def received_by(
    con: duckdb.DuckDBPyConnection, mark: datetime | None, *, sums: bool = False
) -> Received:
    """The events received at or before ``mark`` (see :class:`Received`); ``sums``: add
    the sum of their ``ts``."""
    whole = first_row(
        con,
        "SELECT count(*), count(*) - count(received_at), count(ts), max(received_at) FROM events",
    )
    total, unplaced, timed = (int(whole[0]), int(whole[1]), int(whole[2])) if whole else (0, 0, 0)
    latest = whole[3] if whole and isinstance(whole[3], datetime) else None
    if mark is None:
        return Received(0, None, unplaced, latest)
    tail = first_row(
        con,
        "SELECT count(*), count(ts), sum(epoch_us(ts)) FROM events "
        "WHERE received_at > CAST($mark AS TIMESTAMP)",
        {"mark": mark},
    )
    tail_count, tail_timed = (int(tail[0]), int(tail[1])) if tail else (0, 0)
    count = total - unplaced - tail_count
    ts_sum: int | None = None
    if sums:
        # the rows received by the mark with a ts: every row with one, less the tail's and
        # the unplaced rows' (summed apart: they are few, or the caller stops at them)
        stray = (
            first_row(
                con,
                "SELECT count(ts), sum(epoch_us(ts)) FROM events WHERE received_at IS NULL",
            )
            if unplaced
            else (0, None)
        )
        stray_timed = int(stray[0]) if stray else 0
        if timed - tail_timed - stray_timed > 0:
            every = first_row(con, "SELECT sum(epoch_us(ts)) FROM events")
            total_sum = int(every[0]) if every and every[0] is not None else 0
            tail_sum = int(tail[2]) if tail and tail[2] is not None else 0
            stray_sum = int(stray[1]) if stray and stray[1] is not None else 0
            ts_sum = total_sum - tail_sum - stray_sum
    return Received(count, ts_sum, unplaced, latest)
