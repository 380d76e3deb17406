"""accounts_as_of_sql narrowed to some accounts gives exactly the macro's rows for them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from tierline.compile.book import accounts_as_of_sql
from tierline.store import Store

START = datetime(2026, 1, 1)


def test_narrowed_book_equals_the_macro_for_those_accounts(tmp_path: Path) -> None:
    rng = random.Random(11)
    with Store.open(tmp_path / "book.duckdb") as store:
        con = store.con
        rows = []
        for n in range(60):
            loaded = START
            for version in range(1, rng.randint(1, 4) + 1):
                loaded += timedelta(days=rng.randint(0, 5))  # some versions share a load time
                rows.append((f"a{n:02d}", float(n * 10 + version), START, version, loaded))
        con.executemany(
            "INSERT INTO account_versions (id, acv, closed_won_at, version, loaded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        con.execute(
            "CREATE TEMP TABLE wanted AS SELECT 'a' || lpad(CAST(i AS VARCHAR), 2, '0') AS "
            "account_id FROM range(0, 70, 3) AS r(i)"  # a63 .. a69 have no versions
        )
        for days in (-1, 0, 2, 5, 9, 30):
            moment = f"TIMESTAMP '{START + timedelta(days=days):%Y-%m-%d %H:%M:%S}'"
            macro = con.execute(
                f"SELECT id, acv, version FROM accounts_as_of({moment}) "
                "WHERE id IN (SELECT account_id FROM wanted) ORDER BY id"
            ).fetchall()
            narrowed = con.execute(
                f"SELECT id, acv, version FROM {accounts_as_of_sql(moment, 'wanted')} ORDER BY id"
            ).fetchall()
            assert narrowed == macro
            everyone = con.execute(f"SELECT count(*) FROM {accounts_as_of_sql(moment)}").fetchone()
            assert everyone == (len({r[0] for r in rows if r[4] <= START + timedelta(days=days)}),)
        assert any(r[3] > 1 for r in rows)
