"""A real run brings the event rollups up to date before it computes metrics; others do not."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from run_fixture import EVENTS, make_book, table_count

from tierline.engine.backtest import backtest
from tierline.engine.metrics import metric_values
from tierline.engine.rollup import rollup_state, usable_rollup
from tierline.engine.run import metric_reads, run
from tierline.store import Store

AS_OF = datetime(2026, 3, 26)


def test_the_seed_pack_reads_metrics_for_graduation(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    assert {"active_users_30d", "usage_change_30d"} <= set(metric_reads(project))


def test_a_real_run_refreshes_the_rollups_up_to_as_of(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    with Store.open(project.store_path, project.fields) as store:
        run(store, project, AS_OF, dry_run=True)
        assert rollup_state(store.con) is None  # a dry run writes nothing
        report = run(store, project, AS_OF, now=AS_OF)
        received = sum(1 for e in EVENTS if e[4] <= AS_OF)
        assert report.rolled_up == received == 5
        state = rollup_state(store.con)
        assert state is not None
        # the watermark: as_of, as later events were received (never past as_of)
        assert state.mark == AS_OF
        assert state.rolled == received
        assert usable_rollup(store.con, AS_OF) == state
        assert report.counts()["rolled_up"] == 5
        # the incremental metrics equal a full scan
        full = metric_values(store.con, project, AS_OF, incremental=False)
        assert metric_values(store.con, project, AS_OF) == full
        # a later run rolls up only the newer events, up to the latest one received
        later = run(store, project, datetime(2026, 6, 1), now=datetime(2026, 6, 1))
        assert later.rolled_up == len(EVENTS) - received == 4
        again = rollup_state(store.con)
        assert again is not None and again.mark == max(e[4] for e in EVENTS)
        assert run(store, project, datetime(2026, 6, 2)).rolled_up == 0


def test_a_backtest_leaves_the_rollups_alone(tmp_path: Path) -> None:
    project = make_book(tmp_path / "pj")
    kept = tmp_path / "kept.duckdb"
    with Store.open(project.store_path, project.fields) as store:
        backtest(store, project, AS_OF, AS_OF, scratch=kept)
        assert rollup_state(store.con) is None
    with Store.open(kept, project.fields) as replica:
        assert table_count(replica, "rollup_state") == 0
