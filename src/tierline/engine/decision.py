"""The decisions catalog: explanations recorded by reference, rendered when read.

A rule-made assignment row (source ``rule`` or ``reassign``) keeps ``decision_id`` instead
of its explanation JSON. The ``decisions`` row it names was recorded once per policy
version, segmentation and decision code (:func:`record_decisions`): the code's template and
``explanation_sql``, the compiled SQL that renders the full explanation from the account's
columns (see :mod:`tierline.compile.decision`). Account versions are append-only, so
:func:`recorded_explanations` renders it over the account *as of the row's assigned_at*
(the latest version loaded by then, as ``accounts_as_of`` reads it) and gets exactly the
explanation the policy gave. Rows that carry their own explanation (overrides, automatic
upgrades, rows written before schema 4) are returned as recorded.

Catalog rows are never changed. When the same policy version compiles to a different
explanation for a code (another tierline release), a new catalog row is recorded, so rows
written earlier keep rendering as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from tierline.compile import DecisionSelect
from tierline.errors import EngineError

__all__ = ["decision_case", "record_decisions", "recorded_explanations"]


def record_decisions(
    con: duckdb.DuckDBPyConnection,
    policy_version: str,
    segmentation: str,
    compiled: DecisionSelect,
    now: datetime,
) -> dict[int, int]:
    """Decision code → ``decisions.id`` for ``segmentation``, recording the missing ones."""
    known = {
        (int(code), str(sql)): int(did)
        for did, code, sql in con.execute(
            "SELECT id, decision, explanation_sql FROM decisions "
            "WHERE policy_version = ? AND segmentation = ?",
            [policy_version, segmentation],
        ).fetchall()
    }
    ids: dict[int, int] = {}
    missing: list[list[object]] = []
    for decision, sql in zip(compiled.decisions, compiled.explanation_sqls, strict=True):
        found = known.get((decision.code, sql))
        if found is None:
            missing.append(
                [
                    policy_version,
                    segmentation,
                    decision.code,
                    decision.outcome,
                    decision.template,
                    sql,
                    now,
                ]
            )
        else:
            ids[decision.code] = found
    if missing:
        # One statement for all the missing decisions (a few dozen at most).
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in missing)
        recorded = con.execute(
            "INSERT INTO decisions (policy_version, segmentation, decision, outcome, template, "
            f"explanation_sql, recorded_at) VALUES {values} RETURNING decision, id",
            [v for row in missing for v in row],
        ).fetchall()
        ids.update({int(code): int(did) for code, did in recorded})
    return ids


def decision_case(ids: dict[int, int], column: str) -> str:
    """SQL mapping the decision code in ``column`` to its ``decisions.id``."""
    if not ids:
        return "CAST(NULL AS BIGINT)"
    whens = " ".join(f"WHEN {int(code)} THEN {int(did)}" for code, did in sorted(ids.items()))
    return f"CASE {column} {whens} END"


_RENDERERS = """
SELECT DISTINCT d.id, d.explanation_sql
FROM assignments a JOIN decisions d ON d.id = a.decision_id
WHERE a.id IN (SELECT unnest(CAST(? AS BIGINT[]))) AND a.explanation IS NULL
ORDER BY d.id
"""

# Each by-reference row with the account's columns as of the row's assigned_at.
_AS_OF_ROWS = """
WITH tierline_ref AS (
  SELECT a.id AS tierline_assignment, a.account_id AS tierline_account,
         a.assigned_at AS tierline_at, a.decision_id AS tierline_decision
  FROM assignments a
  WHERE a.id IN (SELECT unnest(CAST(? AS BIGINT[])))
    AND a.explanation IS NULL AND a.decision_id IS NOT NULL
)
SELECT * FROM tierline_ref r
JOIN account_versions v ON v.id = r.tierline_account AND v.loaded_at <= r.tierline_at
QUALIFY row_number() OVER (PARTITION BY r.tierline_assignment ORDER BY v.version DESC) = 1
"""


def recorded_explanations(
    con: duckdb.DuckDBPyConnection, assignment_ids: Sequence[int]
) -> dict[int, str | None]:
    """Assignment id → its explanation JSON text: recorded, or rendered from its decision.

    Set-based: one query renders every by-reference row among ``assignment_ids``. An id
    that names no assignment is left out; a row with neither an explanation nor a
    decision maps to None.
    """
    ids = sorted({int(i) for i in assignment_ids})
    if not ids:
        return {}
    try:
        out: dict[int, str | None] = {
            int(i): None if e is None else str(e)
            for i, e in con.execute(
                "SELECT id, explanation FROM assignments "
                "WHERE id IN (SELECT unnest(CAST(? AS BIGINT[])))",
                [ids],
            ).fetchall()
        }
        renderers = con.execute(_RENDERERS, [ids]).fetchall()
        if not renderers:
            return out
        whens = " ".join(f"WHEN {int(did)} THEN ({sql})" for did, sql in renderers)
        rendered = con.execute(
            f"SELECT tierline_assignment, CASE tierline_decision {whens} END FROM ({_AS_OF_ROWS})",
            [ids],
        ).fetchall()
    except duckdb.Error as exc:
        raise EngineError(f"cannot render recorded explanations: {exc}") from exc
    for assignment, text in rendered:
        out[int(assignment)] = None if text is None else str(text)
    return out
