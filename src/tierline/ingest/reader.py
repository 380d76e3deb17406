"""Reading an input file into an Arrow table of text columns, format by extension.

CSV cells are read as text (nothing guessed), Parquet keeps its types (the importer casts
them to text in SQL), and JSON Lines are read one line per row into a single ``json`` text
column that the importer unpacks in SQL. Rows keep their order: the importer numbers them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet

from tierline.diagnostics import suggest
from tierline.errors import IngestError

__all__ = [
    "FORMATS",
    "IS_JSON_OBJECT",
    "JSON_COLUMN",
    "FileFormat",
    "RawFile",
    "detect_format",
    "read_file",
]

FileFormat = Literal["csv", "parquet", "jsonl"]

FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# The single column a JSON Lines file is read into: one JSON document per row.
JSON_COLUMN = "json"

# SQL: the staged line is a JSON object. DuckDB's AND does not short-circuit and json_type
# raises on malformed text, so json_type only ever sees text that json_valid accepted.
IS_JSON_OBJECT = (
    f"coalesce(json_type(CASE WHEN json_valid({JSON_COLUMN}) THEN {JSON_COLUMN} END) "
    "= 'OBJECT', false)"
)


@dataclass(frozen=True)
class RawFile:
    """An input file as read: its format and its rows, in file order."""

    path: Path
    format: FileFormat
    table: pa.Table


def detect_format(path: Path) -> FileFormat:
    """The file format named by the extension (``.csv``, ``.parquet``, ``.jsonl``/``.ndjson``)."""
    suffix = path.suffix.lower()
    found = FORMATS.get(suffix)
    if found is None:
        hint = suggest(suffix, FORMATS)
        raise IngestError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}" + (f"; {hint}" if hint else "")
        )
    return found


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise IngestError(f"{path}: the file is empty; a CSV file starts with a header row")
    blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if blank:
        raise IngestError(f"{path}: header column {blank[0]} has no name")
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise IngestError(f"{path}: the header names {', '.join(map(repr, twice))} twice")
    return header


def _read_csv(path: Path) -> pa.Table:
    header = _csv_header(path)
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _read_jsonl(path: Path) -> pa.Table:
    # One row per non-blank line: a delimiter and no quoting that JSON text cannot contain
    # (control characters are always escaped inside JSON strings).
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=[JSON_COLUMN]),
        parse_options=pa_csv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False),
        convert_options=pa_csv.ConvertOptions(column_types={JSON_COLUMN: pa.string()}),
    )


def read_file(path: str | Path) -> RawFile:
    """Read ``path`` (CSV, Parquet or JSON Lines) into an Arrow table, rows in file order."""
    file = Path(path)
    fmt = detect_format(file)
    if not file.exists():
        raise IngestError(f"{file}: no such file")
    if not file.is_file():
        raise IngestError(f"{file}: not a file")
    try:
        if fmt == "csv":
            table = _read_csv(file)
        elif fmt == "parquet":
            table = pa_parquet.read_table(file)
        else:
            table = _read_jsonl(file)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{file}: cannot read it as {fmt}: {exc}") from exc
    return RawFile(file, fmt, table)
