"""Importing a file or an in-memory table into the store, set-based, in five stages.

1. stage: the rows go into a temporary table of text columns, numbered in input order;
2. map: file columns become canonical columns (preset, ``mapping``, names, aliases);
3. check: one SQL statement casts every column with ``TRY_CAST`` and collects every failed
   check of a row (missing, malformed, out of range, unknown account) as its reason;
4. reject: the failed rows go to ``<file>.rejects.csv`` with their row number and reason;
5. land: the good rows are de-duplicated and inserted in one transaction.

How rows land, by kind:

- ``accounts`` add a version to ``account_versions`` only when an id is new or a value
  differs from its latest version. Within a file the last row of an id wins. A column the
  file does not have keeps the latest version's value; a blank currency is the project's.
- ``people`` merge on ``id``: a non-blank value (the last one in the file) replaces the
  stored one, a blank keeps it; a person whose values do not change adds nothing.
- ``events`` are keyed by ``message_id`` (a blank one is derived from the row's content);
  ``tickets``, ``nps``, ``billing``, ``csms`` by ``id``; ``arr`` by (account_id, month).
  The first row of a key wins; a key already stored adds nothing.

>>> from tierline.store import Store
>>> import pyarrow as pa
>>> with Store.open(":memory:") as store:
...     table = pa.table({"id": ["a1"], "acv": ["9000"], "closed_won_at": ["2024-01-05"]})
...     import_frame(store, "accounts", table).landed
1
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from tierline.diagnostics import suggest
from tierline.errors import IngestError
from tierline.ingest.kinds import ColumnSpec, KindSpec, kind_spec, normalise_name
from tierline.ingest.presets import check_preset, plan_preset, quote
from tierline.ingest.reader import IS_JSON_OBJECT, JSON_COLUMN, FileFormat, read_file
from tierline.ingest.rejects import rejects_path_for, sample_rejects, write_rejects
from tierline.ingest.segment import is_segment, segment_events_sql, segment_people_sql
from tierline.policy.model import FieldDef
from tierline.store.schema import ACCOUNT_META_COLUMNS, TABLE_COLUMNS
from tierline.store.store import Store

__all__ = ["ImportResult", "import_file", "import_frame"]

_STAGES = ("reading", "mapping columns", "checking rows", "writing rejects", "landing rows")
_INVALID_JSON = "'invalid JSON (each line must be one JSON object)'"
_STAGE_PREFIX = "stage:"


@dataclass(frozen=True)
class ImportResult:
    """What an import did. ``read == landed + duplicates + rejected + skipped``."""

    kind: str
    source: str
    read: int
    landed: int
    duplicates: int
    rejected: int
    skipped: int
    batch_id: int
    rejects_path: Path | None = None
    ignored_columns: tuple[str, ...] = ()
    sample_rejects: tuple[tuple[int, str], ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejected == 0

    def summary(self) -> str:
        """One line of counts, e.g. ``accounts: 3 read, 2 landed, 0 duplicates, 1 rejected``."""
        text = (
            f"{self.kind}: {self.read} read, {self.landed} landed, "
            f"{self.duplicates} duplicates, {self.rejected} rejected"
        )
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.rejected and self.rejects_path is not None:
            text += f" → {self.rejects_path.name}"
        return text


@dataclass(frozen=True)
class _Options:
    preset: str | None
    mapping: dict[str, str]
    stage_map: dict[str, str]
    currency: str
    loaded_at: datetime


# --------------------------------------------------------------------------- public API


def import_file(
    store: Store,
    kind: str,
    path: str | Path,
    *,
    preset: str | None = None,
    mapping: Mapping[str, str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    fields: Sequence[FieldDef] | None = None,
    currency: str = "USD",
    loaded_at: datetime | None = None,
    progress: bool = False,
) -> ImportResult:
    """Import a CSV, Parquet or JSON Lines file of ``kind`` into ``store``.

    ``mapping`` renames file columns to canonical fields (``{"Acct": "account_id"}``; a key
    ``"stage:LABEL"`` maps a deal stage instead). ``fields`` are the project's custom account
    fields (default: those the store was opened with). Rejected rows go to
    ``<path>.rejects.csv``; a stale reject file of an earlier run is removed.
    """
    spec = kind_spec(kind)
    options = _options(kind, preset, mapping, stage_map, currency, loaded_at)
    file = Path(path)
    with _progress(progress, f"{kind} ← {file.name}") as step:
        raw = read_file(file)
        step()
        label = f"{preset}:{file.name}" if preset else file.name
        return _run(
            store,
            spec,
            raw.table,
            raw.format,
            label,
            str(file),
            rejects_path_for(file),
            options,
            fields,
            step,
        )


def import_frame(
    store: Store,
    kind: str,
    data: pa.Table | Any,
    *,
    source: str = "<frame>",
    preset: str | None = None,
    mapping: Mapping[str, str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    fields: Sequence[FieldDef] | None = None,
    currency: str = "USD",
    loaded_at: datetime | None = None,
    rejects_path: str | Path | None = None,
    progress: bool = False,
) -> ImportResult:
    """Import an in-memory table (Arrow, or anything ``pyarrow.table`` accepts) of ``kind``.

    Columns may be typed or text; a table with the single column ``json`` is read as JSON
    Lines (so Segment calls work too). Rejects are written only when ``rejects_path`` is
    given; ``sample_rejects`` of the result always shows the first ones.
    """
    spec = kind_spec(kind)
    options = _options(kind, preset, mapping, stage_map, currency, loaded_at)
    table = data if isinstance(data, pa.Table) else pa.table(data)
    fmt: FileFormat = "jsonl" if table.column_names == [JSON_COLUMN] else "parquet"
    if fmt == "jsonl":
        table = table.cast(pa.schema([(JSON_COLUMN, pa.string())]))
    target = Path(rejects_path) if rejects_path is not None else None
    with _progress(progress, f"{kind} ← {source}") as step:
        step()
        return _run(store, spec, table, fmt, source, source, target, options, fields, step)


# --------------------------------------------------------------------------- pipeline


def _options(
    kind: str,
    preset: str | None,
    mapping: Mapping[str, str] | None,
    stage_map: Mapping[str, str] | None,
    currency: str,
    loaded_at: datetime | None,
) -> _Options:
    if preset is not None:
        check_preset(preset, kind)
    renames: dict[str, str] = {}
    stages = dict(stage_map or {})
    for source, target in (mapping or {}).items():
        if source.startswith(_STAGE_PREFIX):
            stages[source[len(_STAGE_PREFIX) :]] = target
        else:
            renames[source] = target
    if stages and preset not in ("salesforce", "hubspot"):
        raise IngestError("a stage map needs --preset salesforce or --preset hubspot")
    when = loaded_at if loaded_at is not None else datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return _Options(preset, renames, stages, currency.upper(), when)


def _run(
    store: Store,
    spec: KindSpec,
    table: pa.Table,
    fmt: FileFormat,
    label: str,
    file: str,
    rejects: Path | None,
    options: _Options,
    fields: Sequence[FieldDef] | None,
    step: _Step,
) -> ImportResult:
    if fields is not None:
        store.ensure_fields(fields)
    spec = spec.with_fields(store.fields)
    con = store.con
    started = datetime.now(UTC).replace(tzinfo=None)
    try:
        originals, segment = _stage(con, table, fmt, spec, options.preset)
        if segment:
            source_sql = segment_events_sql() if spec.name == "events" else segment_people_sql()
            present = set(spec.names)
            ignored: tuple[str, ...] = ()
        else:
            source_sql, present, ignored = _map(con, spec, originals, options, fmt)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _tl_src AS {source_sql}")
        step()
        con.execute(f"CREATE OR REPLACE TEMP TABLE _tl_typed AS {_check_sql(spec, options)}")
        read = table.num_rows
        skipped, rejected = _counts(con)
        step()
        written: Path | None = None
        if rejects is not None:
            if rejected:
                write_rejects(con, rejects, originals, line=fmt == "jsonl" and not segment)
                written = rejects
            elif rejects.exists():
                rejects.unlink()
        samples = tuple(sample_rejects(con))
        step()
        with store.transaction():
            batch = _next_batch(con)
            landed = _land(con, spec, present, options, batch, label)
            con.execute(
                "INSERT INTO import_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch,
                    spec.name,
                    file,
                    options.preset,
                    started,
                    datetime.now(UTC).replace(tzinfo=None),
                    read,
                    landed,
                    read - skipped - rejected - landed,
                    rejected,
                    skipped,
                    str(written) if written else None,
                ],
            )
        step()
    except duckdb.Error as exc:
        raise IngestError(f"{file}: the import failed in the store: {exc}") from exc
    finally:
        _drop_temp(con)
    return ImportResult(
        kind=spec.name,
        source=label,
        read=read,
        landed=landed,
        duplicates=read - skipped - rejected - landed,
        rejected=rejected,
        skipped=skipped,
        batch_id=batch,
        rejects_path=written,
        ignored_columns=ignored,
        sample_rejects=samples,
    )


def _stage(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    fmt: FileFormat,
    spec: KindSpec,
    preset: str | None,
) -> tuple[list[str], bool]:
    """Stage the rows as ``_tl_raw`` (text columns + ``__row`` + ``__pre``)."""
    numbered = table.append_column("__row", pa.array(np.arange(1, table.num_rows + 1)))
    con.register("_tl_input", numbered)
    try:
        if fmt == "jsonl":
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _tl_raw AS SELECT __row, {JSON_COLUMN} "
                "FROM _tl_input"
            )
            segment = preset == "segment" or (
                preset is None and spec.name in ("events", "people") and is_segment(con)
            )
            if segment:
                if spec.name not in ("events", "people"):
                    raise IngestError("Segment calls import as events or people")
                return [JSON_COLUMN], True
            return _expand_json(con), False
        columns = [c for c in table.column_names]
        casts = ", ".join(
            f"{_as_text(quote(c), table.schema.field(c).type)} AS {quote(c)}" for c in columns
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _tl_raw AS SELECT __row, "
            f"CAST(NULL AS VARCHAR) AS __pre{', ' + casts if casts else ''} FROM _tl_input"
        )
        return columns, False
    finally:
        con.unregister("_tl_input")


def _as_text(column: str, arrow_type: pa.DataType) -> str:
    nested = (
        pa.types.is_struct(arrow_type)
        or pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_map(arrow_type)
    )
    return f"CAST(to_json({column}) AS VARCHAR)" if nested else f"CAST({column} AS VARCHAR)"


def _expand_json(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Turn staged JSON lines into one text column per top-level key (first-seen order).

    The line itself is kept as ``__line`` so that the reject report can show it.
    """
    valid = IS_JSON_OBJECT
    # JSON functions get NULL for an invalid line (malformed JSON text is an error to them).
    doc = f"CASE WHEN {valid} THEN json END"
    key_sets = con.execute(
        f"SELECT json_keys({doc}) AS ks, min(__row) FROM _tl_raw WHERE {valid} "
        "GROUP BY ks ORDER BY 2"
    ).fetchall()
    keys: dict[str, None] = {}
    for key_set, _ in key_sets:
        keys.update(dict.fromkeys(key_set))
    columns = list(keys)
    extracts = "".join(
        f", json_extract_string({doc}, '$.\"{k.replace(chr(39), chr(39) * 2)}\"') AS {quote(k)}"
        for k in columns
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tl_raw AS SELECT __row, "
        f"CASE WHEN NOT ({valid}) THEN {_INVALID_JSON} END AS __pre, json AS __line{extracts} "
        "FROM _tl_raw"
    )
    return columns


def _map(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    columns: Sequence[str],
    options: _Options,
    fmt: FileFormat,
) -> tuple[str, set[str], tuple[str, ...]]:
    """The SELECT from ``_tl_raw`` to canonical text columns; the columns present; ignored."""
    renames: dict[str, str] = {}
    used: set[str] = set()
    skip_sql = "false"
    if options.preset in ("salesforce", "hubspot"):
        plan = plan_preset(options.preset, columns, options.stage_map)
        renames.update(plan.renames)
        used |= plan.used
        skip_sql = plan.skip_sql or "false"
    by_norm = {normalise_name(c): c for c in columns}
    aliases = spec.aliases or {}
    for name in spec.names:
        found = by_norm.get(name)
        if name not in renames and found is not None and found not in renames.values():
            renames[name] = found
    for alias, name in aliases.items():
        found = by_norm.get(alias)
        if name not in renames and found is not None and found not in renames.values():
            renames[name] = found
    for source, target in options.mapping.items():
        if source not in columns:
            hint = suggest(source, columns)
            raise IngestError(
                f"--map {source}={target}: the file has no column {source!r}"
                + (f"; {hint}" if hint else f"; its columns are {', '.join(columns)}")
            )
        if target not in spec.names:
            hint = suggest(target, spec.names)
            raise IngestError(
                f"--map {source}={target}: {spec.name} have no field {target!r}"
                + (f"; {hint}" if hint else f"; fields are {', '.join(spec.names)}")
            )
        renames = {t: s for t, s in renames.items() if s != source}
        renames[target] = source
    missing = [c.name for c in spec.columns if c.required and c.name not in renames]
    if missing:
        near = [h for h in (suggest(m, columns) for m in missing) if h]
        raise IngestError(
            f"{spec.name} need the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; the file has {', '.join(columns) or 'no columns'}"
            + (f" ({'; '.join(near)})" if near else "")
            + f"; rename one with --map COLUMN={missing[0]}"
        )
    used |= set(renames.values())
    ignored = tuple(c for c in columns if c not in used)
    selects = [
        f"nullif(trim({quote(renames[c.name])}), '') AS {c.name}"
        if c.name in renames
        else f"CAST(NULL AS VARCHAR) AS {c.name}"
        for c in spec.columns
    ]
    sql = (
        f"SELECT __row, 1 AS __n, coalesce({skip_sql}, false) AS __skip, __pre, "
        + ", ".join(selects)
        + " FROM _tl_raw"
    )
    return sql, set(renames), ignored


# --------------------------------------------------------------------------- checking


def _date(raw: str, tz: str, formats: str) -> str:
    """The SQL that reads text ``raw`` as a DATE (NULL if it is none).

    Tried in order: an ISO date, ``TRY_STRPTIME`` with ``formats`` (an SQL format string or
    list of them), then the date of ``tz`` (``raw`` read as a timestamp with zone, in UTC).
    """
    return (
        f"coalesce(TRY_CAST({raw} AS DATE), "
        f"CAST(TRY_STRPTIME({raw}, {formats}) AS DATE), CAST({tz} AS DATE))"
    )


def _typed(column: ColumnSpec) -> str:
    """The SQL that reads the text value ``<name>__raw`` as the column's type (NULL if bad)."""
    r = f"{column.name}__raw"
    tz = f"timezone('UTC', TRY_CAST({r} AS TIMESTAMPTZ))"
    if column.type == "string":
        return f"lower({r})" if column.lower else f"upper({r})" if column.upper else r
    if column.type == "integer":
        return (
            f"CASE WHEN TRY_CAST({r} AS DOUBLE) = floor(TRY_CAST({r} AS DOUBLE)) "
            f"THEN TRY_CAST(TRY_CAST({r} AS DOUBLE) AS {column.sql_type}) END"
        )
    if column.type == "number":
        return f"TRY_CAST({r} AS DOUBLE)"
    if column.type == "money":
        code = f"regexp_replace({r}, '^[A-Za-z]{{3}}\\s*', '')"
        cleaned = f"regexp_replace({code}, '[$€£¥,\\s]', '', 'g')"
        return f"TRY_CAST({cleaned} AS DOUBLE)"
    if column.type == "boolean":
        return (
            f"CASE WHEN lower({r}) IN ('true', 't', 'yes', 'y', '1') THEN true "
            f"WHEN lower({r}) IN ('false', 'f', 'no', 'n', '0') THEN false END"
        )
    if column.type == "date":
        return _date(r, tz, "['%m/%d/%Y', '%d.%m.%Y']")
    if column.type == "month":
        day = _date(r, tz, "'%Y-%m'")
        return f"CAST(date_trunc('month', {day}) AS DATE)"
    if column.type == "timestamp":
        return (
            f"coalesce({tz}, TRY_STRPTIME({r}, "
            "['%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M', '%m/%d/%Y']))"
        )
    return f"CASE WHEN json_valid({r}) THEN CAST({r} AS JSON) END"


_EXPECTED = {
    "integer": "a whole number",
    "number": "a number",
    "money": "an amount",
    "boolean": "true or false",
    "date": "a date",
    "month": "a month (YYYY-MM)",
    "timestamp": "a timestamp",
    "json": "JSON",
}


def _check_sql(spec: KindSpec, options: _Options) -> str:
    """One SELECT over ``_tl_src``: typed columns plus ``__reason`` (NULL when the row is good)."""
    inner = ["__row", "__n", "__skip", "__pre"]
    reasons: list[str] = []
    for column in spec.columns:
        raw = f"{column.name}__raw"
        inner.append(f"{column.name} AS {raw}")
        typed = _typed(column)
        if spec.name == "events" and column.name == "message_id":
            content = "concat_ws('|', account_id, person_id, event, ts, properties)"
            typed = f"coalesce({raw}, 'derived:' || md5({content}))"
        inner.append(f"{typed} AS {column.name}")
        if column.required:
            reasons.append(f"CASE WHEN {raw} IS NULL THEN 'missing {column.name}' END")
        if column.type != "string":
            reasons.append(
                f"CASE WHEN {raw} IS NOT NULL AND {column.name} IS NULL THEN "
                f"'invalid {column.name} ''' || {raw} || ''' (expected "
                f"{_EXPECTED[column.type]})' END"
            )
    for check in spec.checks:
        reasons.append(f"CASE WHEN {check.bad} THEN {check.reason} END")
    if spec.account_ref:
        reasons.append(
            "CASE WHEN account_id IS NOT NULL AND account_id NOT IN "
            "(SELECT id FROM account_versions) THEN 'unknown account ''' || account_id || '''' END"
        )
    joined = f"nullif(concat_ws('; ', {', '.join(reasons)}), '')"
    return (
        f"SELECT *, CASE WHEN __skip THEN NULL ELSE coalesce(__pre, {joined}) END AS __reason "
        f"FROM (SELECT {', '.join(inner)} FROM _tl_src)"
    )


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        "SELECT coalesce(sum(__n) FILTER (WHERE __skip), 0), "
        "coalesce(sum(__n) FILTER (WHERE __reason IS NOT NULL), 0) FROM _tl_typed"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# --------------------------------------------------------------------------- landing

_GOOD = "NOT __skip AND __reason IS NULL"


def _next_batch(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT coalesce(max(id), 0) + 1 FROM import_batches").fetchone()
    assert row is not None
    return int(row[0])


def _land(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    present: set[str],
    options: _Options,
    batch: int,
    label: str,
) -> int:
    if spec.landing == "versions":
        return _land_versions(con, spec, present, options, batch, label)
    if spec.landing == "merge":
        return _land_merge(con, spec, batch)
    return _land_append(con, spec, options, batch)


def _inserted(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _land_append(
    con: duckdb.DuckDBPyConnection, spec: KindSpec, options: _Options, batch: int
) -> int:
    names = [name for name, _ in TABLE_COLUMNS[spec.table]]
    values = [
        "coalesce(received_at, CAST($loaded AS TIMESTAMP))" if n == "received_at" else n
        for n in names
    ]
    key = ", ".join(spec.key)
    match = " AND ".join(f"s.{k} = t.{k}" for k in spec.key)
    sql = f"""
        INSERT INTO {spec.table} ({", ".join(names)}, batch_id)
        SELECT {", ".join(values)}, $batch FROM _tl_typed t
        WHERE {_GOOD} AND NOT EXISTS (SELECT 1 FROM {spec.table} s WHERE {match})
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __row) = 1
    """
    params: dict[str, object] = {"batch": batch}
    if "received_at" in names:
        params["loaded"] = options.loaded_at
    return _inserted(con.execute(sql, params))


def _land_merge(con: duckdb.DuckDBPyConnection, spec: KindSpec, batch: int) -> int:
    names = [name for name, _ in TABLE_COLUMNS[spec.table]]
    values = [n for n in names if n != "id"]
    latest = ", ".join(f"arg_max({n}, __row) FILTER (WHERE {n} IS NOT NULL) AS {n}" for n in values)
    merged = ", ".join(f"coalesce(f.{n}, s.{n}) AS {n}" for n in values)
    changed = " OR ".join(f"coalesce(f.{n}, s.{n}) IS DISTINCT FROM s.{n}" for n in values)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tl_land AS
        WITH f AS (SELECT id, {latest} FROM _tl_typed WHERE {_GOOD} GROUP BY id)
        SELECT f.id, {merged} FROM f LEFT JOIN {spec.table} s ON s.id = f.id
        WHERE s.id IS NULL OR {changed}
        """
    )
    return _inserted(
        con.execute(
            f"INSERT OR REPLACE INTO {spec.table} ({', '.join(names)}, batch_id) "
            f"SELECT {', '.join(names)}, ? FROM _tl_land",
            [batch],
        )
    )


def _land_versions(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    present: set[str],
    options: _Options,
    batch: int,
    label: str,
) -> int:
    meta = {name for name, _ in ACCOUNT_META_COLUMNS}
    stored = [
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'account_versions' ORDER BY ordinal_position"
        ).fetchall()
    ]
    values = [c for c in stored if c not in meta]
    picks: list[str] = []
    for name in values:
        fresh = name in present and spec.column(name) is not None
        pick = f"f.{name}" if fresh else f"p.{name}"
        if name == "currency":
            pick = f"coalesce({pick}, $currency)" if fresh else "coalesce(p.currency, $currency)"
        picks.append(f"{pick} AS {name}")
    changed = " OR ".join(f"n.{name} IS DISTINCT FROM p.{name}" for name in values if name != "id")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tl_land AS
        WITH f AS (
          SELECT * FROM _tl_typed WHERE {_GOOD}
          QUALIFY row_number() OVER (PARTITION BY id ORDER BY __row DESC) = 1
        ),
        n AS (
          SELECT {", ".join(picks)}, coalesce(p.version, 0) + 1 AS version
          FROM f LEFT JOIN accounts p ON p.id = f.id
        )
        SELECT n.* FROM n LEFT JOIN accounts p ON p.id = n.id
        WHERE p.id IS NULL OR {changed}
        """,
        {"currency": options.currency},
    )
    cols = ", ".join(values)
    return _inserted(
        con.execute(
            f"INSERT INTO account_versions ({cols}, version, loaded_at, source, batch_id) "
            f"SELECT {cols}, version, $loaded, $source, $batch FROM _tl_land",
            {"loaded": options.loaded_at, "source": label, "batch": batch},
        )
    )


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("_tl_raw", "_tl_src", "_tl_typed", "_tl_land"):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


# --------------------------------------------------------------------------- progress


class _Step:
    """Advance the progress display by one stage (a no-op without a display)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task
        self._done = 0

    def __call__(self) -> None:
        self._done += 1
        if self._progress is not None and self._task is not None:
            label = _STAGES[min(self._done, len(_STAGES) - 1)]
            self._progress.update(self._task, advance=1, stage=label)


@contextmanager
def _progress(enabled: bool, title: str) -> Iterator[_Step]:
    """A rich progress bar over the import stages, shown only on a terminal (stderr)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _Step(None, None)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(title, total=len(_STAGES), stage=_STAGES[0])
        yield _Step(bar, task)
