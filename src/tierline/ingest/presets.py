"""CRM export presets: which columns of a Salesforce or HubSpot deal export become which
account fields, and which rows are won deals (the others are skipped, not rejected).

``segment`` is a preset too (Segment JSON Lines for events and people); its normalisation
lives in :mod:`tierline.ingest.segment`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tierline.diagnostics import suggest
from tierline.errors import IngestError
from tierline.ingest.kinds import normalise_name

__all__ = ["PRESETS", "CrmPreset", "PresetPlan", "check_preset", "plan_preset", "quote"]


@dataclass(frozen=True)
class CrmPreset:
    """A CRM deal export: column candidates per account field and how a won deal looks.

    A deal is won when a won-flag column is true or its (stage-mapped) stage is one of
    ``won_stages`` (compared case-insensitively).
    """

    name: str
    renames: Mapping[str, tuple[str, ...]]
    stage_columns: tuple[str, ...]
    flag_columns: tuple[str, ...]
    won_stages: tuple[str, ...]


@dataclass(frozen=True)
class PresetPlan:
    """A preset matched against a file's columns."""

    renames: dict[str, str]
    skip_sql: str | None
    used: frozenset[str]


SALESFORCE = CrmPreset(
    "salesforce",
    renames={
        "id": ("AccountId", "Account.Id", "Account ID"),
        "name": ("Account.Name", "AccountName", "Account Name"),
        "acv": ("Amount",),
        "closed_won_at": ("CloseDate", "Close Date"),
        "currency": ("CurrencyIsoCode", "Opportunity Currency"),
    },
    stage_columns=("StageName", "Stage"),
    flag_columns=("IsWon", "Won"),
    won_stages=("closed won",),
)

HUBSPOT = CrmPreset(
    "hubspot",
    renames={
        "id": ("hs_object_id", "Record ID"),
        "name": ("dealname", "Deal Name"),
        "acv": ("amount", "Amount"),
        "closed_won_at": ("closedate", "Close Date"),
        "currency": ("deal_currency_code", "Currency"),
    },
    stage_columns=("dealstage", "Deal Stage"),
    flag_columns=("hs_is_closed_won", "Is Closed Won"),
    won_stages=("closedwon", "closed won"),
)

# Every preset name, with the kinds it imports.
PRESETS: Mapping[str, tuple[str, ...]] = {
    "salesforce": ("accounts",),
    "hubspot": ("accounts",),
    "segment": ("events", "people"),
}

_CRM: Mapping[str, CrmPreset] = {"salesforce": SALESFORCE, "hubspot": HUBSPOT}


def quote(name: str) -> str:
    """An SQL identifier in double quotes, inner quotes doubled (``a"b`` → ``"a""b"``)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_preset(preset: str, kind: str) -> None:
    """Raise an IngestError for an unknown preset or one that does not import ``kind``."""
    kinds = PRESETS.get(preset)
    if kinds is None:
        hint = suggest(preset, PRESETS)
        raise IngestError(
            f"unknown preset {preset!r}; presets are {', '.join(PRESETS)}"
            + (f"; {hint}" if hint else "")
        )
    if kind not in kinds:
        raise IngestError(f"preset {preset!r} imports {' and '.join(kinds)}, not {kind}")


def _find(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    by_norm = {normalise_name(c): c for c in columns}
    for candidate in candidates:
        if candidate in columns:
            return candidate
        hit = by_norm.get(normalise_name(candidate))
        if hit is not None:
            return hit
    return None


def plan_preset(
    preset: str, columns: Sequence[str], stage_map: Mapping[str, str] | None = None
) -> PresetPlan:
    """Match a CRM preset to a file's columns: renames and the SQL that skips lost deals.

    ``stage_map`` relabels stages first (``{"Closed Won - Enterprise": "closedwon"}``), so a
    custom pipeline's won stage counts as won.
    """
    crm = _CRM[preset]
    renames: dict[str, str] = {}
    for target, candidates in crm.renames.items():
        found = _find(columns, candidates)
        if found is not None:
            renames[target] = found
    stage = _find(columns, crm.stage_columns)
    flag = _find(columns, crm.flag_columns)
    if stage is None and flag is None:
        raise IngestError(
            f"preset {preset!r} needs a deal stage column ({' or '.join(crm.stage_columns)}) "
            f"or a won flag ({' or '.join(crm.flag_columns)}) to tell won deals; "
            f"the file has {', '.join(columns)}"
        )
    won: list[str] = []
    if flag is not None:
        won.append(f"lower(trim({quote(flag)})) IN ('true', 't', 'yes', 'y', '1')")
    if stage is not None:
        label = f"trim({quote(stage)})"
        mapped = label
        if stage_map:
            cases = " ".join(
                f"WHEN lower({label}) = {_literal(src.strip().lower())} THEN {_literal(dst)}"
                for src, dst in stage_map.items()
            )
            mapped = f"CASE {cases} ELSE {label} END"
        stages = ", ".join(_literal(s) for s in crm.won_stages)
        won.append(f"lower({mapped}) IN ({stages})")
    skip_sql = "NOT coalesce(" + " OR ".join(f"coalesce({w}, false)" for w in won) + ", false)"
    used = frozenset(renames.values()) | {c for c in (stage, flag) if c is not None}
    return PresetPlan(renames, skip_sql, used)
