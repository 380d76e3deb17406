"""The reject report: the rows that failed validation, with why, next to the input file.

``<file>.rejects.csv`` has the columns ``row`` (1-based data row number in the input),
``reason`` (every failed check, ``; ``-separated) and then the row's original columns; for
JSON Lines, the original columns are the keys of the objects and ``line`` is the line itself
(the only original a line that is not a JSON object has).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from tierline.errors import IngestError
from tierline.ingest.presets import quote

__all__ = ["rejects_path_for", "sample_rejects", "write_rejects"]


def rejects_path_for(path: Path) -> Path:
    """Where the rejects of ``path`` go.

    >>> rejects_path_for(Path("data/accounts.csv")).as_posix()
    'data/accounts.csv.rejects.csv'
    """
    return path.with_name(path.name + ".rejects.csv")


def write_rejects(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    original_columns: Sequence[str],
    *,
    line: bool = False,
) -> None:
    """Write the rejected rows of the staged import (``_tl_typed`` ⋈ ``_tl_raw``) as CSV.

    ``line``: add the staged JSON line (``_tl_raw.__line``) as the last column, ``line``.
    """
    taken = {"row", "reason", *(["line"] if line else [])}
    selected = [
        f"r.{quote(c)} AS {quote(c if c not in taken else f'{c}_original')}"
        for c in original_columns
    ]
    if line:
        selected.append('r.__line AS "line"')
    originals = ", ".join(selected)
    select = (
        'SELECT t.__row AS "row", t.__reason AS reason'
        + (f", {originals}" if originals else "")
        + " FROM _tl_typed t JOIN _tl_raw r ON r.__row = t.__row"
        + " WHERE t.__reason IS NOT NULL ORDER BY t.__row"
    )
    target = "'" + str(path).replace("'", "''") + "'"
    try:
        con.execute(f"COPY ({select}) TO {target} (FORMAT csv, HEADER true)")
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot write the reject report: {exc}") from exc


def sample_rejects(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[tuple[int, str]]:
    """The first rejected rows of the staged import, as (row number, reason)."""
    rows = con.execute(
        "SELECT __row, __reason FROM _tl_typed WHERE __reason IS NOT NULL ORDER BY __row LIMIT ?",
        [limit],
    ).fetchall()
    return [(int(r), str(reason)) for r, reason in rows]
