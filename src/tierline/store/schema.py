"""The book's tables: column names and SQL types, shared by the migrations and the importers.

The column lists follow the data contract (``notes/datamodel.md``): canonical names are what
the store uses, what the importers accept without a mapping and what the demo writes. Times
are naive ``TIMESTAMP`` values meaning UTC.
"""

from __future__ import annotations

from collections.abc import Mapping

from tierline.policy.model import FieldType

__all__ = [
    "ACCOUNT_COLUMNS",
    "ACCOUNT_META_COLUMNS",
    "BOOK_TABLES",
    "FIELD_SQL_TYPES",
    "TABLE_COLUMNS",
    "sql_type",
]

# How a policy field type is stored as a column of ``account_versions``.
FIELD_SQL_TYPES: Mapping[FieldType, str] = {
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

# The core account columns, in table order (custom fields are appended after them).
ACCOUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("acv", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("closed_won_at", "TIMESTAMP"),
    ("contract_start", "DATE"),
    ("renewal_date", "DATE"),
    ("plan", "VARCHAR"),
    ("seats", "INTEGER"),
    ("seat_limit", "INTEGER"),
    ("timezone", "VARCHAR"),
    ("csm_id", "VARCHAR"),
)

# Bookkeeping columns of every account version: a per-id counter, when it was loaded, from
# which file or preset, and by which import batch.
ACCOUNT_META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("version", "INTEGER"),
    ("loaded_at", "TIMESTAMP"),
    ("source", "VARCHAR"),
    ("batch_id", "BIGINT"),
)

# The other book tables, in the data contract's order (``batch_id`` added for provenance).
TABLE_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "people": (
        ("id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("title", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ),
    "events": (
        ("message_id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("person_id", "VARCHAR"),
        ("event", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("properties", "JSON"),
        ("received_at", "TIMESTAMP"),
    ),
    "tickets": (
        ("id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("person_id", "VARCHAR"),
        ("opened_at", "TIMESTAMP"),
        ("closed_at", "TIMESTAMP"),
        ("priority", "VARCHAR"),
        ("status", "VARCHAR"),
        ("subject", "VARCHAR"),
    ),
    "nps": (
        ("id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("person_id", "VARCHAR"),
        ("score", "INTEGER"),
        ("responded_at", "TIMESTAMP"),
        ("comment", "VARCHAR"),
    ),
    "billing": (
        ("id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("amount", "DOUBLE"),
    ),
    "arr": (
        ("account_id", "VARCHAR"),
        ("month", "DATE"),
        ("arr", "DOUBLE"),
    ),
    "csms": (
        ("id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("pool", "VARCHAR"),
        ("capacity", "INTEGER"),
        ("loaded_cost", "DOUBLE"),
        ("role", "VARCHAR"),
        ("manager_id", "VARCHAR"),
    ),
}

# Every table that holds book data, by import kind.
BOOK_TABLES: Mapping[str, str] = {
    "accounts": "account_versions",
    **{kind: kind for kind in TABLE_COLUMNS},
}


def sql_type(field_type: FieldType) -> str:
    """The SQL column type that stores a policy field type.

    >>> sql_type("number")
    'DOUBLE'
    """
    return FIELD_SQL_TYPES[field_type]
