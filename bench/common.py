"""Shared pieces of the benchmarks: the seed policy, a generated book and the baselines.

The book is generated vectorised (numpy → Arrow → DuckDB) with every custom field of the
seed pack, NULLs in each of them, and a share of accounts sitting exactly on (or a cent
beside) every threshold the seed tree and the seed 000 table test.

Three independent implementations of the same two segmentations live here, next to the
compiled SQL that tierline runs:

- :func:`pandas_decide`: pandas nullable columns (SQL three-valued logic, Kleene) and
  ``np.select`` over the whole book;
- :func:`zen_decision`: a GoRules JDM graph (input → two decision tables, hit policy
  ``first`` → output) for zen-engine, the tree flattened by hand into an equivalent table;
- the reference evaluator (``tierline.engine.reference``), used as is.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

import tierline
from tierline.policy.load import load_project
from tierline.policy.model import Project, Segmentation

SEED_PACK = Path(tierline.__file__).parent / "packs" / "seed"
TRACK = "onboarding_track"
TIER = "onboarding_tier"

# The outcomes of each segmentation, in a fixed order: pandas returns codes into these.
TRACK_OUTCOMES = ("SELF_SERVE", "GUIDED_ONBOARDING", "HIGH_TOUCH", "ENTERPRISE_PS")
TIER_OUTCOMES = ("HIGH_TOUCH", "TECH_TOUCH", "SELF_SERVE")

# The seed pack's custom fields that the two segmentations read, with their Arrow types.
FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("acv", pa.float64()),
    ("technical_team", pa.bool_()),
    ("needs_integration", pa.bool_()),
    ("needs_migration", pa.bool_()),
    ("custom_config", pa.bool_()),
    ("needs_configuration", pa.bool_()),
    ("config_hours", pa.float64()),
    ("expected_users", pa.int64()),
    ("stakeholders", pa.int64()),
)
FIELD_NAMES = tuple(name for name, _ in FIELDS)

# Every threshold of the tree (10K, 75K, 150K) and of the table (5K, 25K), on and beside it.
ACV_EDGES = (
    0.0,
    4_999.99,
    5_000.0,
    9_999.99,
    10_000.0,
    24_999.99,
    25_000.0,
    74_999.99,
    75_000.0,
    75_000.01,
    150_000.0,
    150_000.01,
)
HOURS = (0.0, 0.5, 1.0, 1.5, 1.99, 2.0, 2.01, 3.0, 4.0, 8.0)
USER_EDGES = (0, 199, 200, 201)
STAKEHOLDER_EDGES = (0, 2, 3)


@dataclasses.dataclass(frozen=True)
class SeedPolicy:
    """The seed project cut down to the two benchmarked segmentations."""

    project: Project
    track: Segmentation
    tier: Segmentation


def seed_policy() -> SeedPolicy:
    """Load the shipped seed pack and keep the seed tree and the seed 000 table."""
    full = load_project(SEED_PACK)
    track, tier = full.segmentation(TRACK), full.segmentation(TIER)
    if track is None or tier is None:
        raise SystemExit(f"the seed pack at {SEED_PACK} lacks {TRACK} or {TIER}")
    project = dataclasses.replace(full, segmentations=(track, tier))
    return SeedPolicy(project, track, tier)


def account_id_sql(column: str) -> str:
    """The SQL that turns the generated row number into the account id ``A000000042``."""
    return f"'A' || lpad(CAST({column} AS VARCHAR), 9, '0')"


def account_id(i: int) -> str:
    """The account id of row ``i`` (as :func:`account_id_sql` makes it)."""
    return f"A{i:09d}"


def _with_edges(
    rng: np.random.Generator, values: np.ndarray, edges: tuple[float, ...], share: float
) -> np.ndarray:
    pick = rng.random(values.size) < share
    values[pick] = rng.choice(np.asarray(edges, dtype=values.dtype), size=int(pick.sum()))
    return values


def _nulls(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return rng.random(n) < share


def generate_book(n: int, seed: int) -> pa.Table:
    """``n`` accounts: row number ``i`` and the fields in :data:`FIELDS`, with NULLs and edges."""
    rng = np.random.default_rng(seed)
    acv = np.round(rng.lognormal(mean=9.9, sigma=1.2, size=n), 2)
    acv = _with_edges(rng, acv, ACV_EDGES, 0.15)
    users = np.maximum(1, rng.lognormal(mean=3.5, sigma=1.3, size=n)).astype(np.int64)
    users = _with_edges(rng, users, USER_EDGES, 0.1)
    hours = rng.choice(np.asarray(HOURS), size=n)
    stakeholders = rng.integers(0, 7, size=n, dtype=np.int64)
    stakeholders = _with_edges(rng, stakeholders, STAKEHOLDER_EDGES, 0.1)
    flags = {
        "technical_team": 0.45,
        "needs_integration": 0.25,
        "needs_migration": 0.15,
        "custom_config": 0.2,
        "needs_configuration": 0.5,
    }
    arrays: dict[str, pa.Array] = {"i": pa.array(np.arange(n, dtype=np.int64))}
    arrays["acv"] = pa.array(acv, mask=_nulls(rng, n, 0.005))
    for name, p in flags.items():
        arrays[name] = pa.array(rng.random(n) < p, mask=_nulls(rng, n, 0.03))
    arrays["config_hours"] = pa.array(hours, mask=_nulls(rng, n, 0.02))
    arrays["expected_users"] = pa.array(users, mask=_nulls(rng, n, 0.02))
    arrays["stakeholders"] = pa.array(stakeholders, mask=_nulls(rng, n, 0.02))
    return pa.table({"i": arrays["i"], **{name: arrays[name] for name in FIELD_NAMES}})


def load_accounts(
    con: duckdb.DuckDBPyConnection,
    book: pa.Table,
    *,
    closed_won: str = "TIMESTAMP '2026-01-05 15:00:00'",
    loaded_at: str = "2026-01-01 00:00:00",
) -> None:
    """Insert the book as version 1 of each account into a store's ``account_versions``.

    ``closed_won``: the SQL of closed_won_at (a constant, or a column of the book).
    """
    con.register("bench_book", book)
    fields = ", ".join(FIELD_NAMES)
    con.execute(
        "INSERT INTO account_versions (id, name, currency, closed_won_at, version, loaded_at, "
        f"source, {fields}) "
        f"SELECT {account_id_sql('i')}, 'Account ' || i, 'USD', "
        f"{closed_won}, 1, TIMESTAMP '{loaded_at}', 'bench', "
        f"{fields} FROM bench_book"
    )
    con.unregister("bench_book")


# --- pandas np.select --------------------------------------------------------------------


def pandas_frame(book: pa.Table) -> pd.DataFrame:
    """The book as pandas nullable columns (``boolean``, ``Float64``, ``Int64``)."""
    mapping = {
        pa.bool_(): pd.BooleanDtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.int64(): pd.Int64Dtype(),
    }
    return book.to_pandas(types_mapper=mapping.get)


def _true(cond: pd.Series) -> np.ndarray:
    """Where a three-valued condition is TRUE (NULL and FALSE are not)."""
    return cond.to_numpy(dtype=bool, na_value=False)


def pandas_decide(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Outcome codes of the seed tree and the seed 000 table (-1: no outcome).

    Codes index :data:`TRACK_OUTCOMES` and :data:`TIER_OUTCOMES`. Comparisons and
    ``& | ~`` on pandas nullable columns follow SQL's three-valued (Kleene) logic.
    """
    acv = df["acv"]
    tech = df["technical_team"]
    integ, migr, custom = df["needs_integration"], df["needs_migration"], df["custom_config"]
    users, hours = df["expected_users"], df["config_hours"]

    # The tree. Q1 on acv (NULL: unassigned); Q2 NULL → "no"; Q3 NULL → "no"; Q4 NULL:
    # unassigned (no null rule).
    q1_a, q1_b, q1_c = (
        _true(acv < 10_000),
        _true((acv >= 10_000) & (acv <= 75_000)),
        _true(acv > 75_000),
    )
    q2_yes = _true(tech)
    q3_yes = _true(integ | migr | custom)
    q4 = (acv > 150_000) | (users > 200)
    q4_yes, q4_no = _true(q4), _true(~q4)
    deep = (q1_b & q2_yes) | q1_c  # paths that reach Q3
    track = np.select(
        [
            q1_a,
            q1_b & ~q2_yes,
            deep & ~q3_yes,
            deep & q3_yes & q4_yes,
            deep & q3_yes & q4_no,
        ],
        [0, 1, 1, 3, 2],
        default=-1,
    ).astype(np.int8)

    # Seed 000, hit first; a condition that is NULL does not match (COALESCE(…, FALSE)).
    high = _true((acv >= 25_000) | integ | migr | (df["stakeholders"] >= 3) | (hours > 2))
    tech_touch = _true((acv >= 5_000) & (acv < 25_000) & (hours < 2) & ~integ)
    self_serve = _true((acv < 5_000) & ~df["needs_configuration"] & ~integ)
    tier = np.select([high, tech_touch, self_serve], [0, 1, 2], default=-1).astype(np.int8)
    return track, tier


def outcome_table(
    ids: np.ndarray, codes: dict[str, tuple[np.ndarray, tuple[str, ...]]]
) -> pa.Table:
    """Row numbers and, per segmentation, the outcome (NULL for code -1) as an Arrow table."""
    columns: dict[str, pa.Array] = {"i": pa.array(ids)}
    for name, (code, labels) in codes.items():
        indices = pa.array(code, mask=code < 0)
        columns[name] = pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())
    return pa.table(columns)


# --- zen-engine ---------------------------------------------------------------------------

# The seed tree flattened into a first-hit table. Columns: acv, technical_team,
# needs_integration, needs_migration, custom_config, expected_users. "" matches anything;
# "$ != true" is the tree's null rule (NULL counts as "no"). Rows whose outcome is None
# reproduce the tree's unassigned paths (Q4 NULL); an account with a NULL acv matches none.
_NOT_TRUE = "$ != true"
_TRACK_COLUMNS = (
    "acv",
    "technical_team",
    "needs_integration",
    "needs_migration",
    "custom_config",
    "expected_users",
)
_MID = "[10000..75000]"
_TRACK_RULES: tuple[tuple[dict[str, str], str | None], ...] = (
    ({"acv": "< 10000"}, "SELF_SERVE"),  # Q1 A
    ({"acv": _MID, "technical_team": _NOT_TRUE}, "GUIDED_ONBOARDING"),  # Q1 B, Q2 no
    (  # Q1 B, Q2 yes, Q3 no
        {
            "acv": _MID,
            "needs_integration": _NOT_TRUE,
            "needs_migration": _NOT_TRUE,
            "custom_config": _NOT_TRUE,
        },
        "GUIDED_ONBOARDING",
    ),
    ({"acv": _MID, "expected_users": "> 200"}, "ENTERPRISE_PS"),  # … Q3 yes, Q4 yes
    ({"acv": _MID, "expected_users": "<= 200"}, "HIGH_TOUCH"),  # … Q3 yes, Q4 no
    ({"acv": _MID}, None),  # … Q3 yes, Q4 NULL
    (  # Q1 C, Q3 no
        {
            "acv": "> 75000",
            "needs_integration": _NOT_TRUE,
            "needs_migration": _NOT_TRUE,
            "custom_config": _NOT_TRUE,
        },
        "GUIDED_ONBOARDING",
    ),
    ({"acv": "> 150000"}, "ENTERPRISE_PS"),  # Q1 C, Q3 yes, Q4 yes (ACV)
    ({"acv": "> 75000", "expected_users": "> 200"}, "ENTERPRISE_PS"),  # … Q4 yes (users)
    ({"acv": "> 75000", "expected_users": "<= 200"}, "HIGH_TOUCH"),  # … Q4 no
    ({"acv": "> 75000"}, None),  # … Q4 NULL
)

# Seed 000 as written: the "any" rule becomes one row per condition (first hit keeps order).
_TIER_COLUMNS = (
    "acv",
    "needs_integration",
    "needs_migration",
    "stakeholders",
    "config_hours",
    "needs_configuration",
)
_TIER_RULES: tuple[tuple[dict[str, str], str | None], ...] = (
    ({"acv": ">= 25000"}, "HIGH_TOUCH"),
    ({"needs_integration": "true"}, "HIGH_TOUCH"),
    ({"needs_migration": "true"}, "HIGH_TOUCH"),
    ({"stakeholders": ">= 3"}, "HIGH_TOUCH"),
    ({"config_hours": "> 2"}, "HIGH_TOUCH"),
    (
        {"acv": "[5000..25000)", "config_hours": "< 2", "needs_integration": "false"},
        "TECH_TOUCH",
    ),
    (
        {"acv": "< 5000", "needs_configuration": "false", "needs_integration": "false"},
        "SELF_SERVE",
    ),
)


def _table_node(
    node_id: str,
    output: str,
    columns: tuple[str, ...],
    rules: tuple[tuple[dict[str, str], str | None], ...],
) -> dict[str, Any]:
    inputs = [{"id": f"{node_id}-{c}", "name": c, "field": c} for c in columns]
    out_id = f"{node_id}-out"
    rows = []
    for n, (cells, outcome) in enumerate(rules):
        row: dict[str, str] = {"_id": f"{node_id}-r{n}"}
        row.update({f"{node_id}-{c}": cells.get(c, "") for c in columns})
        row[out_id] = "null" if outcome is None else json.dumps(outcome)
        rows.append(row)
    return {
        "id": node_id,
        "type": "decisionTableNode",
        "name": node_id,
        "position": {"x": 300, "y": 100},
        "content": {
            "hitPolicy": "first",
            "inputs": inputs,
            "outputs": [{"id": out_id, "name": output, "field": output}],
            "rules": rows,
        },
    }


def zen_graph() -> dict[str, Any]:
    """The JDM graph: input → (track table, tier table) → output."""
    nodes = [
        {"id": "in", "type": "inputNode", "name": "account", "position": {"x": 0, "y": 100}},
        _table_node("track", TRACK, _TRACK_COLUMNS, _TRACK_RULES),
        _table_node("tier", TIER, _TIER_COLUMNS, _TIER_RULES),
        {"id": "out", "type": "outputNode", "name": "decision", "position": {"x": 600, "y": 100}},
    ]
    edges = [
        {"id": f"e-{a}-{b}", "sourceId": a, "targetId": b, "type": "edge"}
        for a, b in (("in", "track"), ("in", "tier"), ("track", "out"), ("tier", "out"))
    ]
    return {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}


def zen_decision() -> Any:
    """A compiled zen-engine decision of :func:`zen_graph` (call ``.evaluate(account)``)."""
    import zen

    return zen.ZenEngine().create_decision(json.dumps(zen_graph()))


ZEN_KEY = "seed.json"


def zen_engine() -> Any:
    """A zen-engine engine whose loader serves :func:`zen_graph` under :data:`ZEN_KEY`.

    ``engine.evaluate(ZEN_KEY, account)`` caches the loaded decision; from Python it is
    the faster of the two per-call entry points (about 2× ``decision.evaluate`` here).
    """
    import zen

    content = json.dumps(zen_graph())

    def loader(key: str) -> str:
        if key != ZEN_KEY:
            raise KeyError(key)
        return content

    return zen.ZenEngine({"loader": loader})
