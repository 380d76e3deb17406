"""What each import kind accepts: its columns, their value types, and the checks on them.

A :class:`KindSpec` is data, not code: the importer turns it into one SQL statement that
casts every column with ``TRY_CAST`` and collects every failed check of a row as its reject
reason, for all rows at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tierline.diagnostics import suggest
from tierline.errors import IngestError
from tierline.policy.model import FieldDef, FieldType

__all__ = [
    "KINDS",
    "Check",
    "ColumnSpec",
    "KindSpec",
    "ValueType",
    "kind_spec",
    "normalise_name",
]

# How a raw text value is read. ``money`` accepts "$12,500.00"; ``month`` truncates a date
# to the first day of its month; ``json`` must be valid JSON text.
ValueType = Literal[
    "string", "integer", "number", "money", "boolean", "date", "timestamp", "json", "month"
]

# How new rows meet rows already in the store (see ``tierline.ingest.importer``).
Landing = Literal["versions", "merge", "append"]


@dataclass(frozen=True)
class Check:
    """A row check: ``bad`` is an SQL condition over typed columns; ``reason`` an SQL string."""

    bad: str
    reason: str


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column of a kind."""

    name: str
    type: ValueType
    required: bool = False
    sql_type: str = "VARCHAR"
    lower: bool = False
    upper: bool = False


@dataclass(frozen=True)
class KindSpec:
    """An import kind: its table, columns, natural key and how it lands."""

    name: str
    table: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    landing: Landing
    account_ref: bool = False
    checks: tuple[Check, ...] = ()
    aliases: Mapping[str, str] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    def with_fields(self, fields: Sequence[FieldDef]) -> KindSpec:
        """This kind with the project's custom account fields as extra columns."""
        if self.name != "accounts":
            return self
        extra = tuple(
            ColumnSpec(f.name, _FIELD_VALUE_TYPES[f.type], sql_type=_FIELD_SQL[f.type])
            for f in fields
            if not f.core and f.name not in self.names
        )
        return KindSpec(
            self.name,
            self.table,
            self.columns + extra,
            self.key,
            self.landing,
            self.account_ref,
            self.checks,
            self.aliases,
        )


_FIELD_VALUE_TYPES: Mapping[FieldType, ValueType] = {
    "boolean": "boolean",
    "integer": "integer",
    "number": "number",
    "string": "string",
    "date": "date",
    "timestamp": "timestamp",
}
_FIELD_SQL: Mapping[FieldType, str] = {
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def _c(
    name: str,
    kind: ValueType = "string",
    *,
    required: bool = False,
    lower: bool = False,
    upper: bool = False,
) -> ColumnSpec:
    sql = {
        "string": "VARCHAR",
        "integer": "INTEGER",
        "number": "DOUBLE",
        "money": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
        "json": "JSON",
        "month": "DATE",
    }[kind]
    return ColumnSpec(name, kind, required, sql, lower, upper)


def _at_least(column: str, low: int) -> Check:
    return Check(
        f"{column} < {low}", f"'{column} must be >= {low} (got ' || {column}::VARCHAR || ')'"
    )


_ACCOUNT_ID = _c("account_id", required=True)

KINDS: Mapping[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "accounts",
            "account_versions",
            (
                _c("id", required=True),
                _c("name"),
                _c("acv", "money", required=True),
                _c("currency", upper=True),
                _c("closed_won_at", "timestamp", required=True),
                _c("contract_start", "date"),
                _c("renewal_date", "date"),
                _c("plan"),
                _c("seats", "integer"),
                _c("seat_limit", "integer"),
                _c("timezone"),
                _c("csm_id"),
            ),
            key=("id",),
            landing="versions",
            checks=(
                _at_least("acv", 0),
                _at_least("seats", 0),
                _at_least("seat_limit", 0),
                Check(
                    "NOT regexp_full_match(currency, '[A-Z]{3}')",
                    "'currency ''' || currency || ''' is not a 3-letter ISO code'",
                ),
                Check(
                    "timezone NOT IN (SELECT name FROM pg_timezone_names())",
                    "'unknown time zone ''' || timezone || ''' (use an IANA name such as "
                    "Europe/Berlin)'",
                ),
            ),
            aliases={"account_id": "id", "account_name": "name"},
        ),
        KindSpec(
            "people",
            "people",
            (
                _c("id", required=True),
                _c("account_id"),
                _c("email"),
                _c("title"),
                _c("created_at", "timestamp"),
            ),
            key=("id",),
            landing="merge",
            account_ref=True,
            aliases={"person_id": "id", "user_id": "id", "group_id": "account_id"},
        ),
        KindSpec(
            "events",
            "events",
            (
                _c("message_id"),
                _ACCOUNT_ID,
                _c("person_id"),
                _c("event", required=True),
                _c("ts", "timestamp", required=True),
                _c("properties", "json"),
                _c("received_at", "timestamp"),
            ),
            key=("message_id",),
            landing="append",
            account_ref=True,
            aliases={
                "user_id": "person_id",
                "group_id": "account_id",
                "timestamp": "ts",
                "event_name": "event",
            },
        ),
        KindSpec(
            "tickets",
            "tickets",
            (
                _c("id", required=True),
                _ACCOUNT_ID,
                _c("person_id"),
                _c("opened_at", "timestamp", required=True),
                _c("closed_at", "timestamp"),
                _c("priority", lower=True),
                _c("status", lower=True),
                _c("subject"),
            ),
            key=("id",),
            landing="append",
            account_ref=True,
            aliases={"created_at": "opened_at", "ticket_id": "id"},
        ),
        KindSpec(
            "nps",
            "nps",
            (
                _c("id", required=True),
                _ACCOUNT_ID,
                _c("person_id"),
                _c("score", "integer", required=True),
                _c("responded_at", "timestamp", required=True),
                _c("comment"),
            ),
            key=("id",),
            landing="append",
            account_ref=True,
            checks=(
                Check(
                    "score NOT BETWEEN 0 AND 10",
                    "'score must be between 0 and 10 (got ' || score::VARCHAR || ')'",
                ),
            ),
        ),
        KindSpec(
            "billing",
            "billing",
            (
                _c("id", required=True),
                _ACCOUNT_ID,
                _c("kind", required=True, lower=True),
                _c("ts", "timestamp", required=True),
                _c("amount", "money"),
            ),
            key=("id",),
            landing="append",
            account_ref=True,
            aliases={"timestamp": "ts", "type": "kind"},
        ),
        KindSpec(
            "arr",
            "arr",
            (
                _ACCOUNT_ID,
                _c("month", "month", required=True),
                _c("arr", "money", required=True),
            ),
            key=("account_id", "month"),
            landing="append",
            account_ref=True,
            checks=(_at_least("arr", 0),),
        ),
        KindSpec(
            "csms",
            "csms",
            (
                _c("id", required=True),
                _c("name"),
                _c("email"),
                _c("pool"),
                _c("capacity", "integer"),
                _c("loaded_cost", "money"),
                _c("role", lower=True),
                _c("manager_id"),
            ),
            key=("id",),
            landing="append",
            checks=(
                _at_least("capacity", 0),
                _at_least("loaded_cost", 0),
                Check(
                    "role NOT IN ('csm', 'manager')",
                    "'role must be csm or manager (got ''' || role || ''')'",
                ),
            ),
        ),
    )
}


def kind_spec(kind: str) -> KindSpec:
    """The spec of an import kind, or an IngestError that suggests the nearest kind."""
    spec = KINDS.get(kind)
    if spec is None:
        hint = suggest(kind, KINDS)
        raise IngestError(
            f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}" + (f"; {hint}" if hint else "")
        )
    return spec


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_name(column: str) -> str:
    """A column name as snake case, for matching file headers to canonical names.

    >>> normalise_name("Account.Name"), normalise_name("messageId")
    ('account_name', 'message_id')
    """
    snake = _CAMEL.sub(r"_\1", column.strip()).lower()
    return _NON_WORD.sub("_", snake).strip("_")
