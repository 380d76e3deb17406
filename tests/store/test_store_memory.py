"""The store caps DuckDB's memory: 2.5GB by default, TIERLINE_MEMORY_LIMIT or a parameter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierline.errors import StoreError
from tierline.store import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV, Store, memory_limit


def _limit_bytes(store: Store) -> int:
    row = store.con.execute(
        "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
    ).fetchone()
    assert row is not None
    number, unit = str(row[0]).split()
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
    return int(float(number) * scale)


def test_default_limit_is_2_5gb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert memory_limit() == DEFAULT_MEMORY_LIMIT == "2.5GB"
    with Store.open(tmp_path / "s.duckdb") as store:
        # DuckDB reports 2.5GB (2.5·10^9 bytes) in GiB, rounded: 2.3 GiB.
        assert abs(_limit_bytes(store) - 25 * 10**8) <= 0.1 * 2**30


def test_environment_and_parameter_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1GiB")
    with Store.open(tmp_path / "env.duckdb") as store:
        assert _limit_bytes(store) == 2**30
    with Store.open(tmp_path / "param.duckdb", memory="512MiB") as store:
        assert _limit_bytes(store) == 512 * 2**20


def test_empty_value_keeps_duckdb_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "")
    assert memory_limit() is None
    with Store.open(":memory:") as default:
        assert _limit_bytes(default) > 0  # DuckDB's own (80% of RAM), whatever the machine


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(StoreError, match=r"TIERLINE_MEMORY_LIMIT 'lots' is not a memory size"):
        Store.open(":memory:")
    with pytest.raises(StoreError, match=r"memory_limit '80%' is not a memory size"):
        memory_limit("80%")
