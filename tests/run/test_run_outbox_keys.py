"""The outbox's key: unique by the append's anti-join (no index, probed by the key's number),
the schema 5 migration that rebuilds an outbox written with the key as PRIMARY KEY and the
schema 7 one that numbers the keys of an older outbox."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from tierline.engine.outbox import (
    OUTBOX_SQL,
    append_candidates,
    ensure_outbox,
    idempotency_key,
    key_no_sql,
    number_outbox_keys,
    outbox_rows,
    unindex_outbox,
)
from tierline.store import MIGRATIONS, SCHEMA_VERSION, Store, apply_migrations

WHEN = datetime(2026, 3, 16, 9)


def _candidates(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str]]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cand (rule VARCHAR, account_id VARCHAR, "
        "episode VARCHAR, kind VARCHAR, due_at TIMESTAMP, payload VARCHAR)"
    )
    for rule, account, episode in rows:
        con.execute(
            "INSERT INTO cand VALUES (?, ?, ?, 'task', ?, '{\"n\": 1}')",
            [rule, account, episode, WHEN],
        )


def _append(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    return append_candidates(con, "cand", run_id=run_id, policy_version="v", created_at=WHEN)


def _constraints(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'outbox' "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    ).fetchone()
    return int(row[0]) if row else -1


def _keys(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    rows = con.execute("SELECT seq, idempotency_key FROM outbox ORDER BY seq").fetchall()
    return [(int(s), str(k)) for s, k in rows]


def test_no_key_is_recorded_twice_without_an_index() -> None:
    con = duckdb.connect()
    ensure_outbox(con)
    assert _constraints(con) == 0
    _candidates(con, [("stall:g", "a1", "e1"), ("stall:g", "a1", "e1"), ("stall:g", "a2", "e1")])
    assert _append(con, "r1") == 2  # the duplicate within the batch is dropped
    _candidates(con, [("stall:g", "a1", "e1"), ("stall:g", "a2", "e2"), ("stall:g", "a2", "e1")])
    assert _append(con, "r2") == 1  # only (a2, e2) is new
    assert _append(con, "r3") == 0
    keys = [k for _, k in _keys(con)]
    assert len(keys) == len(set(keys)) == 3
    assert set(keys) == {
        idempotency_key("stall:g", a, e) for a, e in (("a1", "e1"), ("a2", "e1"), ("a2", "e2"))
    }


def test_a_schema_4_outbox_with_a_primary_key_migrates_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, str(path), MIGRATIONS[:4]) == [1, 2, 3, 4]
    con.execute(OUTBOX_SQL[0])
    old_ddl = OUTBOX_SQL[1].replace(
        "idempotency_key VARCHAR NOT NULL", "idempotency_key VARCHAR PRIMARY KEY"
    )
    assert old_ddl != OUTBOX_SQL[1]
    con.execute(old_ddl)
    for ddl in OUTBOX_SQL[2:]:
        con.execute(ddl)
    _candidates(con, [("kickoff", f"a{i}", "1") for i in range(5)])
    assert _append(con, "old") == 5
    assert _constraints(con) == 1
    before = _keys(con)
    rows_before = [r.to_dict() for r in outbox_rows(con)]
    con.close()

    with Store.open(path, ()) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert _constraints(store.con) == 0
        assert _keys(store.con) == before
        assert [r.to_dict() for r in outbox_rows(store.con)] == rows_before
        # the sequence carries on after the kept rows, and known keys still add nothing
        _candidates(store.con, [("kickoff", "a0", "1"), ("kickoff", "a9", "1")])
        assert _append(store.con, "new") == 1
        seqs = _keys(store.con)
        assert len(seqs) == 6 and seqs[-1][0] > before[-1][0]
        assert not unindex_outbox(store.con)  # nothing left to do


def test_a_store_without_an_outbox_migrates(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, str(path), MIGRATIONS[:4])
    con.close()
    with Store.open(path, ()) as store:
        assert store.schema_version == SCHEMA_VERSION
        tables = store.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'outbox%'"
        ).fetchone()
        assert tables == (0,)  # created on first use, by a run


def test_a_schema_6_outbox_gets_key_numbers_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "v6.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, str(path), MIGRATIONS[:6]) == [1, 2, 3, 4, 5, 6]
    con.execute(OUTBOX_SQL[0])
    old_ddl = OUTBOX_SQL[1].replace(",\n  key_no UBIGINT NOT NULL", "")
    assert old_ddl != OUTBOX_SQL[1]
    con.execute(old_ddl)
    for ddl in OUTBOX_SQL[2:]:
        con.execute(ddl)
    for i in range(4):
        key = idempotency_key("kickoff", f"a{i}", "1")
        con.execute(
            "INSERT INTO outbox (idempotency_key, rule, account_id, episode, kind, due_at, "
            "payload, created_at, run_id, policy_version) "
            "VALUES (?, 'kickoff', ?, '1', 'task', ?, '{}', ?, 'old', 'v')",
            [key, f"a{i}", WHEN, WHEN],
        )
    before = _keys(con)
    con.close()

    with Store.open(path, ()) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert _keys(store.con) == before
        numbers = store.con.execute(
            f"SELECT count(*) FILTER (WHERE key_no = {key_no_sql('idempotency_key')}), count(*) "
            "FROM outbox"
        ).fetchone()
        assert numbers == (4, 4)
        _candidates(
            store.con, [("kickoff", "a0", "1"), ("kickoff", "a3", "1"), ("kickoff", "a7", "1")]
        )
        assert _append(store.con, "new") == 1  # only a7: the kept rows' keys are found
        assert not number_outbox_keys(store.con)  # nothing left to do


def test_a_key_number_shared_by_another_key_is_not_mistaken_for_it() -> None:
    con = duckdb.connect()
    ensure_outbox(con)
    key = idempotency_key("stall:g", "a1", "e1")
    # a recorded action whose key differs but whose number is the candidate's (a 64-bit
    # collision, made by hand): the candidate is still new
    con.execute(
        "INSERT INTO outbox (idempotency_key, rule, account_id, episode, kind, created_at, "
        f"run_id, policy_version, key_no) VALUES ('other', 'x', 'b', 'e', 'task', ?, 'r0', 'v', "
        f"{key_no_sql('?')})",
        [WHEN, key],
    )
    _candidates(con, [("stall:g", "a1", "e1")])
    assert _append(con, "r1") == 1
    assert _append(con, "r2") == 0
    assert [k for _, k in _keys(con)] == ["other", key]
