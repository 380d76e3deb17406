"""CSM assignment by pool: who gets a CSM, from which pool, which CSM; capacity per pool.

:func:`assign_csms` decides, as of a time and in a few set-based statements, a CSM for every
account that needs one and has none:

- *needs one*: its current track stint (``ended_at IS NULL`` in ``accounts_relation``, a
  relation shaped like ``track_enrollments``: ``account_id, track_id, level, started_at,
  ended_at, source``; pass the whole stint history, not only current stints) is on a track
  driven by ``csm`` or ``professional_services``, or the stint is an ``auto_upgrade`` from a
  track whose upgrade rule says ``assign_csm``;
- *has none*: its ``csm_id`` in the book as of T is NULL (or blank) and the outbox holds no
  earlier ``csm_assignment`` action for it.

The pool is the first ``csm_assignment`` pool that matches the account's track (or level) and
value band (the account's current outcome of the band segmentation, as of T). Eligible CSMs
are the roster rows of that pool whose role is ``csm`` (managers never get accounts). A
CSM's *load* is the accounts whose book ``csm_id`` is the CSM, plus the accounts the outbox
assigned to the CSM that the book does not show yet; their ARR is the latest ``arr`` row at or
before T, else the account's ``acv``. Capacity: see :mod:`tierline.policy.staffing` (NULL:
no upper bound).

Load balancing of a batch is a join, not a loop: every CSM contributes one *slot* row per
free place (``k = 1 … free``), the slots of a pool are ranked by the strategy, the pool's new
accounts are ranked too, and the n-th account takes the n-th slot:

- ``least_accounts``: slots by resulting load (``load + k``), then CSM id; accounts by
  stint start, then id. The same as giving each account in turn to the least-loaded CSM.
- ``least_arr``: slots by projected ARR load (``arr + (k - 1) × the mean ARR of the pool's
  new accounts``), then ``k``, then CSM id; accounts by ARR descending, then stint start, id
  (largest accounts first to the lightest books). One new account goes to the CSM with the
  least ARR exactly; a batch is balanced on the projection.
- ``round_robin``: slots by round ``k``, then turn in the rotation: CSMs in id order starting
  after the pool's last assigned CSM (the outbox's highest ``seq``), wrapping. A CSM that is
  full is skipped, as a sequential rotation would.

A pool never gets more accounts than its free slots: the rest are *over capacity* — listed
in :attr:`CsmPlan.unplaced` with the pool, counted in the pool's capacity report — and
accounts no pool matches are listed with reason ``no_pool``. The earlier picks (each
account's latest ``csm_assignment`` in the outbox, the view ``csm_prior``) are kept for the
store's own outbox in ``csm_picks``, folded from the outbox rows added since the last call
(``csm_picks_state`` holds the outbox ``seq`` folded up to and how many picks lie at or below
it; a mismatch rebuilds it from the whole outbox); for any other outbox, or a read-only
store, they are read from the outbox once per call. Nothing else is written: the picks
land in the temporary table ``csm_candidates`` as action candidates
(``rule`` = ``csm:<pool>``, ``account_id``, ``episode`` = the current stint's start as
``YYYY-MM-DDTHH:MM:SS``, ``kind`` = ``csm_assignment``, ``due_at`` = the stint start,
``payload`` JSON with ``to``, ``csm_id``, ``csm_name``, ``pool``, ``strategy``, ``track_id``,
``value_band``, ``seq``, ``load_after``, ``capacity``) for the outbox to append.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb
from sqlglot import exp

from tierline.compile.book import accounts_as_of_sql
from tierline.engine.connection import (
    joined_transaction,
    read_only,
    relation_columns,
    table_exists,
)
from tierline.engine.enrollment import ENROLLMENT_TABLE, literal_relation, literal_select
from tierline.engine.state import utc_naive
from tierline.errors import EngineError
from tierline.policy.model import Project
from tierline.policy.staffing import CsmAssignment, Strategy

__all__ = [
    "CANDIDATES_TABLE",
    "KEPT_STATE",
    "KEPT_TABLE",
    "PLAN_TABLE",
    "PRIOR_TABLE",
    "STAFF_TABLE",
    "CsmPick",
    "CsmPlan",
    "PoolCapacity",
    "Unplaced",
    "assign_csms",
    "keep_picks",
]

CANDIDATES_TABLE = "csm_candidates"
PLAN_TABLE = "csm_plan"
STAFF_TABLE = "csm_staff"
PRIOR_TABLE = "csm_prior"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PRIOR_COLUMNS = (
    ("account_id", "VARCHAR"),
    ("csm_id", "VARCHAR"),
    ("pool", "VARCHAR"),
    ("seq", "BIGINT"),
    ("outbox_seq", "BIGINT"),
)
# The latest pick per account is kept in the store for its outbox, folded run by run.
KEPT_OUTBOX = "outbox"
KEPT_TABLE = "csm_picks"
KEPT_STATE = "csm_picks_state"
_FOLD_TABLE = "csm_picks_new"
_READ_TABLE = "csm_prior_read"
_KEPT_DDL = (
    f"CREATE TABLE IF NOT EXISTS {KEPT_TABLE} (account_id VARCHAR, csm_id VARCHAR, "
    "pool VARCHAR, seq BIGINT, outbox_seq BIGINT)",
    f"CREATE TABLE IF NOT EXISTS {KEPT_STATE} (mark BIGINT, folded BIGINT)",
)


@dataclass(frozen=True)
class CsmPick:
    """One account given a CSM: the pool, the CSM, the action's episode and order."""

    account_id: str
    csm_id: str
    pool: str
    episode: str
    due_at: datetime
    seq: int
    load_after: int


@dataclass(frozen=True)
class Unplaced:
    """An account that needs a CSM but got none: its pool is full, or no pool matches."""

    account_id: str
    pool: str | None
    reason: Literal["over_capacity", "no_pool"]
    track_id: str
    value_band: str | None


@dataclass(frozen=True)
class PoolCapacity:
    """One pool's capacity as of the plan (``capacity``/``free`` None: no upper bound).

    ``load`` counts accounts before this plan, ``assigned`` the plan's picks, ``free`` the
    places left after them; ``over_capacity`` is the shortfall (accounts the pool could not
    place) and ``hires_needed`` the CSMs it would take to place them.
    """

    pool: str
    csms: int
    capacity: int | None
    load: int
    assigned: int
    free: int | None
    utilisation: float | None
    over_capacity: int
    hires_needed: int | None


@dataclass(frozen=True)
class CsmPlan:
    """What :func:`assign_csms` decided; the candidates are in ``candidates`` (a temp table).

    ``picked`` and ``unplaced_count`` count the accounts given a CSM and those that need one
    but got none. ``listed=False``: the plan was made without reading them into
    ``picks`` and ``unplaced`` (both empty; the rows are in the temp table ``csm_plan``):
    a full run over a big book would otherwise hold every pick in memory.
    """

    as_of: datetime
    strategy: Strategy
    picks: tuple[CsmPick, ...]
    unplaced: tuple[Unplaced, ...]
    pools: tuple[PoolCapacity, ...]
    candidates: str = CANDIDATES_TABLE
    picked: int = 0
    unplaced_count: int = 0
    listed: bool = True

    @property
    def shortfall(self) -> dict[str, int]:
        """Pool → accounts it could not place (only pools with a shortfall)."""
        return {p.pool: p.over_capacity for p in self.pools if p.over_capacity}

    def pick(self, account_id: str) -> CsmPick | None:
        """The pick of one account, if it got a CSM."""
        return next((p for p in self.picks if p.account_id == account_id), None)


def _policy(project: Project) -> CsmAssignment:
    return project.csm_assignment or CsmAssignment(pools=())


def _track_info(project: Project) -> str:
    rows = [
        (t.id, t.level, t.driver, bool(t.upgrade.assign_csm) if t.upgrade else False)
        for t in project.tracks
    ]
    columns = [
        ("track_id", "VARCHAR"),
        ("level", "INTEGER"),
        ("driver", "VARCHAR"),
        ("assign_csm", "BOOLEAN"),
    ]
    return literal_relation("track_info", columns, rows)


def _route_info(policy: CsmAssignment) -> str:
    rows: list[tuple[int, str, str | None, int | None, str | None]] = []
    for order, pool in enumerate(policy.pools):
        routes: list[tuple[str | None, int | None]] = [(t, None) for t in pool.tracks]
        routes += [(None, level) for level in pool.levels]
        for track, level in routes or [(None, None)]:
            for band in pool.value_bands or (None,):
                rows.append((order, pool.id, track, level, band))
    columns = [
        ("ord", "INTEGER"),
        ("pool", "VARCHAR"),
        ("track_id", "VARCHAR"),
        ("level", "INTEGER"),
        ("band", "VARCHAR"),
    ]
    return literal_relation("route_info", columns, rows)


def _pool_info(policy: CsmAssignment) -> str:
    rows = [(i, p.id, p.capacity_from, p.band_capacity) for i, p in enumerate(policy.pools)]
    columns = [
        ("ord", "INTEGER"),
        ("pool", "VARCHAR"),
        ("capacity_from", "VARCHAR"),
        ("band_capacity", "BIGINT"),
    ]
    return literal_relation("pool_info", columns, rows)


def _parse_sql(outbox: str, newer: bool, ordered: bool = True) -> str:
    """Each account's latest pick in ``outbox`` (``newer``: among rows after ``$mark``).

    Latest is by the outbox's ``seq`` (``ordered``; an outbox without that column: by the
    pick's own ``seq``, then the CSM id).
    """
    after = " AND seq > CAST($mark AS BIGINT)" if newer else ""
    order = "outbox_seq DESC" if ordered else "pick_seq DESC NULLS LAST, csm_id"
    outbox_seq = "seq" if ordered else "CAST(NULL AS BIGINT)"
    return f"""
SELECT account_id, csm_id, pool, pick_seq AS seq, outbox_seq FROM (
  SELECT account_id,
    json_extract_string(payload, '$.csm_id') AS csm_id,
    json_extract_string(payload, '$.pool') AS pool,
    TRY_CAST(json_extract_string(payload, '$.seq') AS BIGINT) AS pick_seq,
    {outbox_seq} AS outbox_seq
  FROM {outbox}
  WHERE kind = 'csm_assignment'{after}
)
QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY {order}) = 1
"""


def _kept_usable(con: duckdb.DuckDBPyConnection, outbox: str, ordered: bool) -> bool:
    """Whether the picks can be kept in the store: its own outbox (with ``seq``), writable."""
    if outbox != KEPT_OUTBOX or not ordered or not table_exists(con, outbox):
        return False
    return not read_only(con)


def _fold_kept(con: duckdb.DuckDBPyConnection, outbox: str) -> None:
    """Bring ``csm_picks`` up to date with the outbox: fold the rows added since the mark.

    The kept state is rebuilt from the whole outbox when it is missing or when the outbox's
    CSM assignments at or before the mark are not the ones folded (rows deleted or added
    below the mark).
    """
    for ddl in _KEPT_DDL:
        con.execute(ddl)
    state = con.execute(f"SELECT mark, folded FROM {KEPT_STATE}").fetchall()
    mark, folded = (int(state[0][0]), int(state[0][1])) if state else (-1, -1)
    row = con.execute(
        "SELECT count(*) FILTER (WHERE kind = 'csm_assignment' AND seq <= $mark), "
        "count(*) FILTER (WHERE kind = 'csm_assignment' AND seq > $mark), "
        f"coalesce(max(seq), 0) FROM {outbox}",
        {"mark": mark},
    ).fetchone()
    below, above, top = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
    if not state or below != folded:
        con.execute(f"DELETE FROM {KEPT_TABLE}")
        con.execute(f"INSERT INTO {KEPT_TABLE} {_parse_sql(outbox, newer=False)}")
        below, above = below + above, 0
    elif above:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_FOLD_TABLE} AS {_parse_sql(outbox, newer=True)}",
            {"mark": mark},
        )
        con.execute(
            f"DELETE FROM {KEPT_TABLE} WHERE account_id IN (SELECT account_id FROM {_FOLD_TABLE})"
        )
        con.execute(f"INSERT INTO {KEPT_TABLE} SELECT * FROM {_FOLD_TABLE}")
        con.execute(f"DROP TABLE {_FOLD_TABLE}")
    if not state or above or below != folded or top != mark:
        con.execute(f"DELETE FROM {KEPT_STATE}")
        con.execute(f"INSERT INTO {KEPT_STATE} VALUES (?, ?)", [top, below + above])


def keep_picks(con: duckdb.DuckDBPyConnection, outbox: str = KEPT_OUTBOX) -> bool:
    """Fold the picks appended to the store's outbox into ``csm_picks`` now (a run calls it
    after appending its actions, so the next run finds them kept); False when they are not
    kept (another outbox, one without ``seq``, or a read-only store)."""
    columns = relation_columns(con, outbox)
    if columns is None or not _kept_usable(con, outbox, "seq" in columns):
        return False
    with joined_transaction(con):
        _fold_kept(con, outbox)
    return True


def _prior(con: duckdb.DuckDBPyConnection, outbox: str | None) -> None:
    """The view ``csm_prior``: each account's latest earlier pick (account_id, csm_id, pool,
    seq, outbox_seq), kept in the store for its own outbox, else read from ``outbox``."""
    columns = None if outbox is None else relation_columns(con, outbox)
    ordered = columns is not None and "seq" in columns
    if outbox is None or columns is None:
        source = f"({literal_select(_PRIOR_COLUMNS, [])})"
    elif _kept_usable(con, outbox, ordered):
        with joined_transaction(con):
            _fold_kept(con, outbox)
        source = KEPT_TABLE
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_READ_TABLE} AS "
            f"{_parse_sql(outbox, newer=False, ordered=ordered)}"
        )
        source = _READ_TABLE
    con.execute(f"CREATE OR REPLACE TEMP VIEW {PRIOR_TABLE} AS SELECT * FROM {source}")


def _valued_sql(within: str | None = None) -> str:
    """CTEs ``book``, ``latest_arr``, ``valued``: the book as of T with ARR (``within``: only
    the accounts of this relation, by ``account_id``; None: every account)."""
    arr = ""
    if within is not None:
        arr = f" AND account_id IN (SELECT account_id FROM {within})"
    book = accounts_as_of_sql("CAST($as_of AS TIMESTAMP)", within)
    return f"""
book AS (
  SELECT id AS account_id, nullif(trim(csm_id), '') AS csm_id, acv
  FROM {book}
),
latest_arr AS (
  SELECT account_id, arg_max(arr, month) AS arr FROM arr
  WHERE month <= CAST($as_of AS DATE){arr}
  GROUP BY account_id
),
valued AS (
  SELECT b.account_id, b.csm_id, coalesce(a.arr, b.acv, 0) AS arr
  FROM book AS b LEFT JOIN latest_arr AS a USING (account_id)
)"""


def _common_sql(prior: str) -> str:
    """CTEs shared by the statements: the book as of T with ARR, and earlier assignments."""
    return f"""{_valued_sql()},
prior AS ({prior}),
held AS (
  SELECT csm_id, arr FROM valued WHERE csm_id IS NOT NULL
  UNION ALL
  SELECT p.csm_id, v.arr FROM prior AS p JOIN valued AS v USING (account_id)
  WHERE v.csm_id IS NULL AND p.csm_id IS NOT NULL
),
held_by AS (SELECT csm_id, count(*) AS accounts, sum(arr) AS arr FROM held GROUP BY csm_id)
"""


def _staff_sql(policy: CsmAssignment, prior: str) -> str:
    """Eligible CSMs of the configured pools: capacity, load, rotation turn, pool's last seq."""
    return f"""
WITH {_common_sql(prior)},
last_pick AS (
  SELECT pool, max(seq) AS last_seq, arg_max(csm_id, seq) AS last_csm
  FROM prior WHERE seq IS NOT NULL GROUP BY pool
),
staff AS (
  SELECT c.id AS csm_id, c.name AS csm_name, c.pool, pool_info.ord,
    CASE WHEN pool_info.capacity_from = 'roster' AND c.capacity IS NOT NULL
      THEN CAST(c.capacity AS BIGINT) ELSE pool_info.band_capacity END AS capacity,
    coalesce(h.accounts, 0) AS load_accounts,
    coalesce(h.arr, 0) AS load_arr,
    row_number() OVER (PARTITION BY c.pool ORDER BY c.id) - 1 AS pos,
    count(*) OVER (PARTITION BY c.pool) AS members,
    sum(CASE WHEN c.id <= lp.last_csm THEN 1 ELSE 0 END) OVER (PARTITION BY c.pool) AS passed,
    coalesce(lp.last_seq, 0) AS last_seq
  FROM csms AS c
  JOIN {_pool_info(policy)} ON pool_info.pool = c.pool
  LEFT JOIN held_by AS h ON h.csm_id = c.id
  LEFT JOIN last_pick AS lp ON lp.pool = c.pool
  WHERE c.id IS NOT NULL AND coalesce(c.role, 'csm') = 'csm'
)
SELECT csm_id, csm_name, pool, ord, capacity, load_accounts, load_arr, last_seq,
  (pos - passed % members + members) % members AS turn
FROM staff
"""


_ACCOUNT_ORDER: dict[Strategy, str] = {
    "least_accounts": "started_at, account_id",
    "least_arr": "arr DESC, started_at, account_id",
    "round_robin": "started_at, account_id",
}

_SLOT_ORDER: dict[Strategy, str] = {
    "least_accounts": "load_accounts + k, csm_id",
    "least_arr": "load_arr + (k - 1) * mean_arr, k, csm_id",
    "round_robin": "k, turn",
}


# No CSM ever needs more slots than these (they matter when some capacity is unbounded):
# least_accounts never fills past (the unbounded CSMs' load + the demand) / their number + 1,
# and a rotation needs at most ceil(demand / unbounded CSMs) rounds.
_SLOT_BOUND: dict[Strategy, str] = {
    "least_accounts": "CASE WHEN unbounded > 0 "
    "THEN (unbounded_load + wanted) // unbounded + 1 - load_accounts ELSE wanted END",
    "least_arr": "wanted",
    "round_robin": "CASE WHEN unbounded > 0 THEN (wanted + unbounded - 1) // unbounded "
    "ELSE wanted END",
}


def _plan_sql(project: Project, policy: CsmAssignment, relation: str, prior: str) -> str:
    """Every account that needs a CSM and has none: its pool, and its CSM when it fits."""
    strategy = policy.strategy
    return f"""
WITH prior AS ({prior}),
stints AS (
  SELECT s.account_id, s.track_id, s.level, s.started_at, s.ended_at, s.source,
    lag(s.track_id) OVER (PARTITION BY s.account_id ORDER BY s.started_at) AS prev_track
  FROM {relation} AS s
),
-- the current stints that want a CSM, of accounts never picked one: the book, ARR and band
-- are read for these accounts only
wanting AS (
  SELECT c.account_id, c.track_id, track_info.level, c.started_at
  FROM stints AS c
  JOIN {_track_info(project)} ON track_info.track_id = c.track_id
  LEFT JOIN (SELECT track_id, assign_csm FROM {_track_info(project)}) AS pt
    ON pt.track_id = c.prev_track
  WHERE c.ended_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM prior AS p WHERE p.account_id = c.account_id)
    AND (
      track_info.driver IN ('csm', 'professional_services')
      OR (c.source = 'auto_upgrade' AND coalesce(pt.assign_csm, false))
    )
  QUALIFY row_number() OVER (PARTITION BY c.account_id ORDER BY c.started_at DESC) = 1
),
{_valued_sql("wanting")},
bands AS (
  SELECT account_id, outcome AS band FROM assignments
  WHERE segmentation = $band_seg AND assigned_at <= CAST($as_of AS TIMESTAMP)
    AND account_id IN (SELECT account_id FROM wanting)
  QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY assigned_at DESC, id DESC) = 1
),
needs AS (
  SELECT w.account_id, w.track_id, w.level, w.started_at, bd.band, v.arr
  FROM wanting AS w
  JOIN valued AS v ON v.account_id = w.account_id
  LEFT JOIN bands AS bd ON bd.account_id = w.account_id
  WHERE v.csm_id IS NULL
),
routed AS (
  SELECT n.*, route_info.pool
  FROM needs AS n
  LEFT JOIN {_route_info(policy)}
    ON (route_info.track_id IS NULL OR route_info.track_id = n.track_id)
    AND (route_info.level IS NULL OR route_info.level = n.level)
    AND (route_info.band IS NULL OR route_info.band = n.band)
  QUALIFY row_number() OVER (PARTITION BY n.account_id ORDER BY route_info.ord NULLS LAST) = 1
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY pool ORDER BY {_ACCOUNT_ORDER[strategy]}) AS want
  FROM routed
),
demand AS (
  SELECT pool, count(*) AS wanted, avg(arr) AS mean_arr FROM routed
  WHERE pool IS NOT NULL GROUP BY pool
),
staffed AS (
  SELECT s.*, d.wanted, d.mean_arr,
    count(*) FILTER (WHERE s.capacity IS NULL) OVER (PARTITION BY s.pool) AS unbounded,
    CAST(sum(CASE WHEN s.capacity IS NULL THEN s.load_accounts ELSE 0 END)
      OVER (PARTITION BY s.pool) AS BIGINT) AS unbounded_load
  FROM {STAFF_TABLE} AS s JOIN demand AS d USING (pool)
),
slots AS (
  SELECT *,
    unnest(range(1, least(
      greatest(coalesce(capacity - load_accounts, wanted), 0), wanted, {_SLOT_BOUND[strategy]}
    ) + 1)) AS k
  FROM staffed
),
ordered AS (
  SELECT *, row_number() OVER (PARTITION BY pool ORDER BY {_SLOT_ORDER[strategy]}) AS slot
  FROM slots
)
SELECT r.account_id, r.track_id, r.level, r.started_at, r.band, r.arr, r.pool, r.want,
  o.csm_id, o.csm_name, o.capacity,
  o.load_accounts + o.k AS load_after,
  o.last_seq + r.want AS seq,
  CASE WHEN r.pool IS NULL THEN 'no_pool' WHEN o.csm_id IS NULL THEN 'over_capacity' END
    AS problem
FROM ranked AS r
LEFT JOIN ordered AS o ON o.pool = r.pool AND o.slot = r.want
"""


def _candidates_sql(strategy: Strategy) -> str:
    mode = exp.Literal.string(strategy).sql(dialect="duckdb")
    return f"""
SELECT 'csm:' || pool AS rule,
  account_id,
  strftime(started_at, '%Y-%m-%dT%H:%M:%S') AS episode,
  'csm_assignment' AS kind,
  started_at AS due_at,
  CAST(json_object(
    'to', csm_id, 'csm_id', csm_id, 'csm_name', csm_name, 'pool', pool,
    'strategy', {mode}, 'track_id', track_id, 'value_band', band, 'seq', seq,
    'load_after', load_after, 'capacity', capacity
  ) AS VARCHAR) AS payload
FROM {PLAN_TABLE}
WHERE csm_id IS NOT NULL
ORDER BY pool, seq
"""


def _capacity_sql(policy: CsmAssignment) -> str:
    return f"""
WITH per_csm AS (
  SELECT s.pool, s.csm_id, s.capacity, s.load_accounts, count(p.account_id) AS assigned
  FROM {STAFF_TABLE} AS s LEFT JOIN {PLAN_TABLE} AS p ON p.csm_id = s.csm_id
  GROUP BY ALL
),
per_pool AS (
  SELECT pool,
    count(*) AS csms,
    CASE WHEN count(capacity) = count(*) THEN sum(capacity) END AS capacity,
    sum(load_accounts) AS load,
    sum(assigned) AS assigned,
    CASE WHEN count(capacity) = count(*)
      THEN sum(greatest(capacity - load_accounts - assigned, 0)) END AS free,
    avg(capacity) AS mean_capacity
  FROM per_csm GROUP BY pool
),
short AS (
  SELECT pool, count(*) AS over FROM {PLAN_TABLE}
  WHERE problem = 'over_capacity' GROUP BY pool
)
SELECT pool_info.pool,
  coalesce(pp.csms, 0) AS csms,
  CASE WHEN pp.pool IS NULL THEN 0 ELSE pp.capacity END AS capacity,
  coalesce(pp.load, 0) AS load,
  coalesce(pp.assigned, 0) AS assigned,
  CASE WHEN pp.pool IS NULL THEN 0 ELSE pp.free END AS free,
  CASE WHEN pp.capacity > 0 THEN (pp.load + pp.assigned) / pp.capacity END AS utilisation,
  coalesce(sh.over, 0) AS over_capacity,
  CASE WHEN coalesce(sh.over, 0) = 0 THEN 0
    ELSE CAST(ceil(
      sh.over / nullif(coalesce(pp.mean_capacity, pool_info.band_capacity), 0)
    ) AS BIGINT)
  END AS hires_needed
FROM {_pool_info(policy)}
LEFT JOIN per_pool AS pp ON pp.pool = pool_info.pool
LEFT JOIN short AS sh ON sh.pool = pool_info.pool
ORDER BY pool_info.ord
"""


def assign_csms(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    as_of: datetime,
    accounts_relation: str = ENROLLMENT_TABLE,
    *,
    outbox: str | None = "outbox",
    listed: bool = True,
) -> CsmPlan:
    """Pick a CSM for every account that needs one and has none, as of ``as_of``.

    ``accounts_relation``: a table / view name or a parenthesised SELECT shaped like
    ``track_enrollments``. ``outbox``: the table of earlier actions (missing: none yet).
    Folds the outbox's new picks into ``csm_picks`` (see the module's notes), rebuilds the
    temp view ``csm_prior`` and the temp tables ``csm_staff``, ``csm_plan`` and
    ``csm_candidates``. ``listed=False`` only counts the picks and the accounts left
    unplaced (see :class:`CsmPlan`).
    """
    if outbox is not None and not _NAME.match(outbox):
        raise EngineError(f"outbox must be a table name, not {outbox!r}")
    policy = _policy(project)
    moment = utc_naive(as_of)
    # the earlier picks: kept in the store for its outbox, else read once for both statements
    _prior(con, outbox)
    prior = f"SELECT * FROM {PRIOR_TABLE}"
    params: dict[str, object] = {"as_of": moment}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAFF_TABLE} AS {_staff_sql(policy, prior)}", params
    )
    plan = _plan_sql(project, policy, accounts_relation, prior)
    params = {"as_of": moment, "band_seg": policy.band_segmentation}
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PLAN_TABLE} AS {plan}", params)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CANDIDATES_TABLE} AS {_candidates_sql(policy.strategy)}"
    )
    counted = con.execute(
        "SELECT count(*) FILTER (WHERE csm_id IS NOT NULL), "
        f"count(*) FILTER (WHERE problem IS NOT NULL) FROM {PLAN_TABLE}"
    ).fetchone()
    picked, unplaced_count = (int(counted[0]), int(counted[1])) if counted else (0, 0)
    picks: list[tuple[Any, ...]] = []
    unplaced: list[tuple[Any, ...]] = []
    if listed:
        picks = con.execute(
            f"SELECT account_id, csm_id, pool, strftime(started_at, '%Y-%m-%dT%H:%M:%S'), "
            f"started_at, seq, load_after FROM {PLAN_TABLE} WHERE csm_id IS NOT NULL "
            "ORDER BY pool, seq"
        ).fetchall()
        unplaced = con.execute(
            f"SELECT account_id, pool, problem, track_id, band FROM {PLAN_TABLE} "
            "WHERE problem IS NOT NULL ORDER BY pool NULLS LAST, want, account_id"
        ).fetchall()
    pools = con.execute(_capacity_sql(policy)).fetchall()
    return CsmPlan(
        as_of=moment,
        strategy=policy.strategy,
        picks=tuple(
            CsmPick(str(a), str(c), str(p), str(e), d, int(s), int(n))
            for a, c, p, e, d, s, n in picks
        ),
        unplaced=tuple(
            Unplaced(
                str(a), None if p is None else str(p), r, str(t), None if b is None else str(b)
            )
            for a, p, r, t, b in unplaced
        ),
        pools=tuple(
            PoolCapacity(
                pool=str(row[0]),
                csms=int(row[1]),
                capacity=None if row[2] is None else int(row[2]),
                load=int(row[3]),
                assigned=int(row[4]),
                free=None if row[5] is None else int(row[5]),
                utilisation=None if row[6] is None else float(row[6]),
                over_capacity=int(row[7]),
                hires_needed=None if row[8] is None else int(row[8]),
            )
            for row in pools
        ),
        picked=picked,
        unplaced_count=unplaced_count,
        listed=listed,
    )
