"""Builders for the CSM assignment tests: tracks, a staffing policy, a real store, a book."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tierline.policy.model import CORE_ACCOUNT_FIELDS, Project, Rule, RuleTable, Segmentation
from tierline.policy.staffing import CsmAssignment, CsmPool, Strategy
from tierline.policy.track import Driver, Gate, Milestone, Track, UpgradeRule
from tierline.store import Store

T0 = datetime(2026, 3, 2, 9, 0)
AS_OF = datetime(2026, 4, 1)
LOADED = datetime(2026, 1, 1)
BANDS = "value_band"

STINTS_DDL = """
CREATE TABLE stints (
  account_id VARCHAR, track_id VARCHAR, level INTEGER, started_at TIMESTAMP,
  ended_at TIMESTAMP, source VARCHAR, timezone VARCHAR
)
"""


def _track(tid: str, level: int, driver: Driver, *, assign_csm: bool | None = None) -> Track:
    upgrade = None if assign_csm is None else UpgradeRule("first_value", 30, "next", assign_csm)
    return Track(
        id=tid,
        name=tid.replace("_", " ").title(),
        level=level,
        driver=driver,
        ttfv_target_days=(7, 14),
        completion_target=(0.5, 0.8),
        milestones=(Milestone("first_value", Gate("first", "report_reviewed"), 14, ttfv=True),),
        upgrade=upgrade,
    )


TRACKS: tuple[Track, ...] = (
    _track("self_serve", 1, "product", assign_csm=True),
    _track("tech_touch", 2, "product", assign_csm=False),
    _track("guided", 3, "csm"),
    _track("high_touch", 4, "csm"),
    _track("enterprise_ps", 5, "professional_services"),
)


def band_table() -> RuleTable:
    """Seed 003's value bands with their accounts_per_csm meta."""

    def rule(rid: str, then: str, low: int, high: int | None) -> Rule:
        return Rule(rid, then, meta=(("accounts_per_csm", (low, high)),))

    return RuleTable(
        BANDS,
        "unique",
        (
            rule("b0", "SELF_SERVICE", 500, None),
            rule("b1", "LIGHT_TOUCH", 50, 80),
            rule("b2", "MEDIUM_TOUCH", 30, 50),
            rule("b3", "HIGH_TOUCH", 15, 25),
        ),
    )


def make_project(
    pools: Sequence[CsmPool] | None = None, strategy: Strategy = "least_accounts"
) -> Project:
    """A project with the five tracks, the value bands and a staffing policy."""
    default = (CsmPool("ops", tracks=("guided", "high_touch", "enterprise_ps", "tech_touch")),)
    policy = CsmAssignment(pools=tuple(pools if pools is not None else default), strategy=strategy)
    return Project(
        root=Path("."),
        name="csm",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(Segmentation(BANDS, table=band_table()),),
        version="v1",
        tracks=TRACKS,
        csm_assignment=policy,
    )


def open_store(path: Path) -> Store:
    """A real DuckDB store file under ``path`` with an empty ``stints`` table."""
    store = Store.open(path / "book.duckdb")
    store.con.execute(STINTS_DDL)
    return store


def add_csm(
    store: Store,
    cid: str,
    pool: str,
    capacity: int | None,
    role: str = "csm",
) -> None:
    """Insert one roster row."""
    store.con.execute(
        "INSERT INTO csms (id, name, email, pool, capacity, loaded_cost, role) "
        "VALUES (?, ?, ?, ?, ?, 100000, ?)",
        [cid, cid.upper(), f"{cid}@example.com", pool, capacity, role],
    )


def add_account(
    store: Store,
    aid: str,
    *,
    acv: float = 1000.0,
    csm_id: str | None = None,
    loaded_at: datetime = LOADED,
) -> None:
    """Insert one account version."""
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, csm_id, version, "
        "loaded_at, source) VALUES (?, ?, ?, ?, ?, 1, ?, 'test')",
        [aid, aid.title(), acv, T0, csm_id, loaded_at],
    )


def add_stint(
    store: Store,
    aid: str,
    track: str,
    *,
    started_at: datetime = T0,
    ended_at: datetime | None = None,
    source: str = "assignment",
) -> None:
    """Insert one track stint (shaped like track_enrollments)."""
    level = next(t.level for t in TRACKS if t.id == track)
    store.con.execute(
        "INSERT INTO stints VALUES (?, ?, ?, ?, ?, ?, 'UTC')",
        [aid, track, level, started_at, ended_at, source],
    )


def add_band(store: Store, aid: str, band: str, at: datetime = T0) -> None:
    """Record the account's value band (an assignments row of the band segmentation)."""
    store.con.execute(
        "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
        "assigned_at, source, recorded_at) VALUES (?, ?, ?, 'v1', ?, 'rule', ?)",
        [aid, BANDS, band, at, at],
    )


def new_accounts(
    store: Store,
    ids: Sequence[str],
    track: str = "guided",
    *,
    acv: float = 1000.0,
    band: str | None = None,
) -> None:
    """Accounts without a CSM on ``track``, started one minute apart in ``ids`` order."""
    for i, aid in enumerate(ids):
        add_account(store, aid, acv=acv)
        add_stint(store, aid, track, started_at=T0.replace(minute=i))
        if band is not None:
            add_band(store, aid, band)


def held(store: Store, csm_id: str, n: int, *, acv: float = 1000.0, prefix: str = "") -> None:
    """``n`` accounts already held by ``csm_id`` in the book (no stint: not candidates)."""
    for i in range(n):
        add_account(store, f"{prefix or csm_id}-held-{i:03d}", acv=acv, csm_id=csm_id)


OUTBOX_DDL = """
CREATE TABLE outbox (
  rule VARCHAR, account_id VARCHAR, episode VARCHAR, kind VARCHAR, due_at TIMESTAMP,
  payload VARCHAR, idempotency_key VARCHAR, created_at TIMESTAMP, run_id VARCHAR,
  policy_version VARCHAR
)
"""


def record_candidates(store: Store) -> int:
    """Append the plan's candidates to a minimal outbox (anti-join on the key), as the outbox
    module does; the number of rows added."""
    con = store.con
    con.execute(OUTBOX_DDL.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
    before = con.execute("SELECT count(*) FROM outbox").fetchone()
    con.execute(
        """
        INSERT INTO outbox
        SELECT c.rule, c.account_id, c.episode, c.kind, c.due_at, c.payload,
          left(sha256(c.rule || '|' || c.account_id || '|' || c.episode), 32),
          TIMESTAMP '2026-04-01', 'run', 'v1'
        FROM csm_candidates AS c
        WHERE left(sha256(c.rule || '|' || c.account_id || '|' || c.episode), 32)
          NOT IN (SELECT idempotency_key FROM outbox)
        """
    )
    after = con.execute("SELECT count(*) FROM outbox").fetchone()
    assert before is not None and after is not None
    return int(after[0]) - int(before[0])
