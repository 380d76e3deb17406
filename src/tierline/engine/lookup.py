"""Look up accounts, roster people and segmentations, with ``did you mean`` on a miss."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tierline.diagnostics import suggest
from tierline.errors import EngineError
from tierline.policy.model import Project, Segmentation

__all__ = [
    "Person",
    "close_account_ids",
    "require_account",
    "require_person",
    "require_segmentation",
]


@dataclass(frozen=True)
class Person:
    """A roster row: ``role`` is ``csm`` or ``manager``."""

    id: str
    name: str | None
    role: str | None


def close_account_ids(con: duckdb.DuckDBPyConnection, account_id: str, limit: int = 3) -> list[str]:
    """Account ids within a small edit distance of ``account_id``, closest first."""
    rows = con.execute(
        "SELECT id FROM (SELECT id, levenshtein(lower(id), lower(?)) AS d FROM accounts) "
        "WHERE d <= greatest(2, length(?) // 3) ORDER BY d, id LIMIT ?",
        [account_id, account_id, limit],
    ).fetchall()
    return [str(r[0]) for r in rows]


def require_account(con: duckdb.DuckDBPyConnection, account_id: str) -> str:
    """The account's name (or its id), or EngineError with close ids."""
    row = con.execute(
        "SELECT coalesce(name, id) FROM accounts WHERE id = ?", [account_id]
    ).fetchone()
    if row is not None:
        return str(row[0])
    close = close_account_ids(con, account_id)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise EngineError(f"unknown account {account_id!r}: it is not in the store{hint}")


def require_person(con: duckdb.DuckDBPyConnection, person_id: str) -> Person:
    """The roster row of ``person_id`` (table ``csms``), or EngineError with a hint."""
    row = con.execute("SELECT id, name, role FROM csms WHERE id = ?", [person_id]).fetchone()
    if row is not None:
        return Person(
            str(row[0]),
            None if row[1] is None else str(row[1]),
            None if row[2] is None else str(row[2]),
        )
    ids = [str(r[0]) for r in con.execute("SELECT id FROM csms ORDER BY id").fetchall()]
    if not ids:
        raise EngineError(f"unknown person {person_id!r}: the roster is empty (import csms first)")
    hint = suggest(person_id, ids)
    raise EngineError(
        f"unknown person {person_id!r}: not in the csms roster" + (f"; {hint}" if hint else "")
    )


def require_segmentation(project: Project, sid: str) -> Segmentation:
    """The segmentation ``sid`` of the project, or EngineError with a hint."""
    seg = project.segmentation(sid)
    if seg is not None:
        return seg
    ids = [s.id for s in project.segmentations]
    hint = suggest(sid, ids)
    raise EngineError(
        f"unknown segmentation {sid!r}; the project has {', '.join(ids) or 'none'}"
        + (f"; {hint}" if hint else "")
    )
