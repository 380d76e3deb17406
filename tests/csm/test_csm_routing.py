"""Who needs a CSM, and which pool: value band × touch level, upgrades, first match wins."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from csm_fixture import (
    AS_OF,
    BANDS,
    T0,
    TRACKS,
    add_account,
    add_band,
    add_csm,
    add_stint,
    band_table,
    make_project,
    open_store,
)

from tierline.engine.csm import assign_csms
from tierline.engine.enrollment import materialise_enrollments
from tierline.policy.model import CORE_ACCOUNT_FIELDS, Project, Rule, RuleTable, Segmentation
from tierline.policy.staffing import CsmAssignment, CsmPool
from tierline.store import Store

D = timedelta(days=1)

POOLS = (
    CsmPool("digital", tracks=("self_serve", "tech_touch")),
    CsmPool("enterprise", levels=(5,)),
    CsmPool("high", levels=(3, 4), value_bands=("HIGH_TOUCH",)),
    CsmPool("mid", value_bands=("MEDIUM_TOUCH", "LIGHT_TOUCH")),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        for pool in ("digital", "enterprise", "high", "mid"):
            add_csm(s, f"{pool}-1", pool, 100)
        add_csm(s, "boss", "high", 100, role="manager")
        yield s


def account(
    store: Store,
    aid: str,
    track: str,
    band: str | None,
    *,
    source: str = "assignment",
    before: str | None = None,
    csm_id: str | None = None,
) -> None:
    """One account on ``track`` (after a stint on ``before``, when given)."""
    add_account(store, aid, csm_id=csm_id)
    start = T0
    if before is not None:
        add_stint(store, aid, before, started_at=T0 - 30 * D, ended_at=T0)
    add_stint(store, aid, track, started_at=start, source=source)
    if band is not None:
        add_band(store, aid, band)


def test_value_band_and_level_decide_the_pool(store: Store) -> None:
    account(store, "guided_high", "guided", "HIGH_TOUCH")
    account(store, "high_touch_mid", "high_touch", "MEDIUM_TOUCH")
    account(store, "high_touch_light", "high_touch", "LIGHT_TOUCH")
    account(store, "ps_light", "enterprise_ps", "LIGHT_TOUCH")
    account(store, "ps_high", "enterprise_ps", "HIGH_TOUCH")  # level 5 comes first
    account(
        store, "upgraded", "tech_touch", "HIGH_TOUCH", source="auto_upgrade", before="self_serve"
    )
    plan = assign_csms(store.con, make_project(POOLS), AS_OF, "stints")
    assert {p.account_id: p.pool for p in plan.picks} == {
        "guided_high": "high",
        "high_touch_mid": "mid",
        "high_touch_light": "mid",
        "ps_light": "enterprise",
        "ps_high": "enterprise",
        "upgraded": "digital",
    }
    assert {p.account_id: p.csm_id for p in plan.picks}["guided_high"] == "high-1"
    assert plan.unplaced == ()


def test_accounts_no_pool_takes_are_reported(store: Store) -> None:
    account(store, "guided_small", "guided", "SELF_SERVICE")
    account(store, "guided_unbanded", "guided", None)
    plan = assign_csms(store.con, make_project(POOLS), AS_OF, "stints")
    assert plan.picks == ()
    assert [(u.account_id, u.pool, u.reason, u.value_band) for u in plan.unplaced] == [
        ("guided_small", None, "no_pool", "SELF_SERVICE"),
        ("guided_unbanded", None, "no_pool", None),
    ]
    assert all(p.over_capacity == 0 for p in plan.pools)


def test_only_csm_driven_tracks_and_assign_csm_upgrades_need_a_csm(store: Store) -> None:
    account(store, "product_led", "self_serve", "LIGHT_TOUCH")
    account(store, "tech_touch_signed", "tech_touch", "LIGHT_TOUCH")
    account(
        store, "upgraded", "tech_touch", "LIGHT_TOUCH", source="auto_upgrade", before="self_serve"
    )
    # tech_touch's upgrade rule says assign_csm: false — but guided is CSM-led anyway.
    account(store, "to_guided", "guided", "LIGHT_TOUCH", source="auto_upgrade", before="tech_touch")
    account(
        store, "overridden", "tech_touch", "LIGHT_TOUCH", source="override", before="self_serve"
    )
    account(store, "has_csm", "guided", "LIGHT_TOUCH", csm_id="someone")
    account(store, "graduated", "tech_touch", "LIGHT_TOUCH", source="graduation", before="guided")
    plan = assign_csms(store.con, make_project(POOLS), AS_OF, "stints")
    assert sorted(p.account_id for p in plan.picks) == ["to_guided", "upgraded"]


def test_an_upgrade_from_a_rule_without_assign_csm_gets_none(store: Store) -> None:
    tracks = tuple(replace(t, driver="product") if t.id == "guided" else t for t in TRACKS)
    project = replace(make_project(POOLS), tracks=tracks)
    account(store, "from_tech", "guided", "LIGHT_TOUCH", source="auto_upgrade", before="tech_touch")
    account(
        store, "from_self", "tech_touch", "LIGHT_TOUCH", source="auto_upgrade", before="self_serve"
    )
    plan = assign_csms(store.con, project, AS_OF, "stints")
    assert [p.account_id for p in plan.picks] == ["from_self"]


def test_the_book_as_of_t_decides_who_has_a_csm(store: Store) -> None:
    account(store, "late_csm", "guided", "LIGHT_TOUCH")
    # A later version of the account, loaded after the as-of, names a CSM: not yet.
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, csm_id, version, loaded_at, "
        "source) VALUES ('late_csm', 'Late', 1000, ?, 'mid-1', 2, ?, 'test')",
        [T0, AS_OF + D],
    )
    assert [
        p.account_id for p in assign_csms(store.con, make_project(POOLS), AS_OF, "stints").picks
    ] == ["late_csm"]
    later = assign_csms(store.con, make_project(POOLS), AS_OF + 2 * D, "stints")
    assert later.picks == ()
    assert later.pools[3].load == 1  # mid-1 holds it now


def test_without_a_policy_every_account_in_need_is_unplaced(store: Store) -> None:
    account(store, "guided", "guided", "LIGHT_TOUCH")
    project = replace(make_project(POOLS), csm_assignment=None)
    plan = assign_csms(store.con, project, AS_OF, "stints")
    assert plan.pools == ()
    assert [(u.account_id, u.reason) for u in plan.unplaced] == [("guided", "no_pool")]


def test_assign_csms_reads_the_real_track_enrollments(store: Store) -> None:
    seg = Segmentation(
        "onboarding_track",
        table=RuleTable(
            "onboarding_track",
            "first",
            tuple(Rule(t.upper(), t.upper()) for t in ("self_serve", "tech_touch", "high_touch")),
        ),
        tracks=(("SELF_SERVE", "self_serve"), ("TECH_TOUCH", "tech_touch"),
                ("HIGH_TOUCH", "high_touch")),
    )  # fmt: skip
    project = Project(
        root=Path("."),
        name="csm",
        timezone="UTC",
        currency="USD",
        store_url=":memory:",
        fields=CORE_ACCOUNT_FIELDS,
        segmentations=(seg, Segmentation(BANDS, table=band_table())),
        version="v1",
        tracks=TRACKS,
        csm_assignment=CsmAssignment(POOLS),
    )

    def assign(aid: str, outcome: str, at: datetime, source: str = "rule") -> None:
        store.con.execute(
            "INSERT INTO assignments (account_id, segmentation, outcome, policy_version, "
            "assigned_at, source, recorded_at) VALUES (?, 'onboarding_track', ?, 'v1', ?, ?, ?)",
            [aid, outcome, at, source, at],
        )

    for aid in ("big", "small", "stuck"):
        add_account(store, aid)
    add_band(store, "big", "HIGH_TOUCH")
    add_band(store, "small", "LIGHT_TOUCH")
    add_band(store, "stuck", "LIGHT_TOUCH")
    assign("big", "HIGH_TOUCH", T0)
    assign("small", "SELF_SERVE", T0)
    assign("stuck", "SELF_SERVE", T0)
    assign("stuck", "TECH_TOUCH", T0 + 14 * D, source="auto_upgrade")
    materialise_enrollments(store.con, project, AS_OF)
    plan = assign_csms(store.con, project, AS_OF)
    assert {(p.account_id, p.pool, p.episode) for p in plan.picks} == {
        ("big", "high", "2026-03-02T09:00:00"),
        ("stuck", "digital", "2026-03-16T09:00:00"),
    }
