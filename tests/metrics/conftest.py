"""Fixtures for the metrics tests: a real store file with three accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tierline.store import Store


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    store = Store.open(tmp_path / "book.duckdb")
    store.con.execute(
        "INSERT INTO account_versions (id, name, acv, closed_won_at, seat_limit, version, "
        "loaded_at, source) VALUES "
        "('a1', 'A1', 1000, '2026-01-01', 10, 1, '2026-01-01', 'test'), "
        "('a2', 'A2', 2000, '2026-01-01', 0, 1, '2026-01-01', 'test'), "
        "('a3', 'A3', 3000, '2026-01-01', NULL, 1, '2026-01-01', 'test')"
    )
    yield store.con
    store.close()
