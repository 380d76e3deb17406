"""The demo book: one Arrow table per import kind, written as Parquet files for the importers.

Also the small vectorised builders the generators share: ids, timestamps, dates and strings
taken from a word list by index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "KINDS_IN_ORDER",
    "Book",
    "date_array",
    "ids",
    "pick",
    "timestamp_array",
]

Array = npt.NDArray[Any]

# The order the book is imported in: accounts before anything that refers to them.
KINDS_IN_ORDER: tuple[str, ...] = (
    "csms",
    "accounts",
    "people",
    "events",
    "tickets",
    "nps",
    "billing",
    "arr",
)


@dataclass(frozen=True)
class Book:
    """A generated book of business: a table per kind with the canonical columns."""

    accounts: pa.Table
    people: pa.Table
    events: pa.Table
    tickets: pa.Table
    nps: pa.Table
    billing: pa.Table
    arr: pa.Table
    csms: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        """Kind → table, in import order."""
        return {kind: getattr(self, kind) for kind in KINDS_IN_ORDER}

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write each table to ``folder/<kind>.parquet``; return kind → path."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for kind, table in self.tables().items():
            path = target / f"{kind}.parquet"
            pq.write_table(table, path, compression="zstd")
            paths[kind] = path
        return paths

    def digest(self) -> str:
        """A SHA-256 over every table's Arrow IPC bytes (equal books, equal digests)."""
        hasher = hashlib.sha256()
        for kind, table in self.tables().items():
            hasher.update(kind.encode())
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            hasher.update(sink.getvalue().to_pybytes())
        return hasher.hexdigest()


def ids(prefix: str, numbers: Array, width: int) -> pa.Array:
    """Ids like ``acc-00042`` for an integer array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width, "0")
    result: pa.Array = pc.binary_join_element_wise(prefix, digits, "")
    return result


def pick(words: Sequence[str], index: Array, valid: Array | None = None) -> pa.Array:
    """Strings of ``words`` at ``index`` (NULL where ``valid`` is False)."""
    mask = None if valid is None else ~valid.astype(bool)
    indices = pa.array(index.astype(np.int32), mask=mask)
    result: pa.Array = pa.DictionaryArray.from_arrays(indices, pa.array(list(words))).cast(
        pa.string()
    )
    return result


def timestamp_array(seconds: Array, valid: Array | None = None) -> pa.Array:
    """UTC epoch seconds as a naive ``timestamp[us]`` array (NULL where ``valid`` is False)."""
    mask = None if valid is None else ~valid.astype(bool)
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.timestamp("us"), mask=mask)


def date_array(days: Array) -> pa.Array:
    """Epoch day numbers as a ``date32`` array."""
    return pa.array(days.astype(np.int32), type=pa.date32())
