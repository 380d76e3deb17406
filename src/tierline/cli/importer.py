"""``tierline import KIND FILE``: load a CSV, Parquet or JSON Lines file into the project's store.

Prints what happened (rows read, landed, duplicates skipped, lost deals or non-event calls
skipped, rejected) and where the reject report is; exits 1 when any row was rejected.
Events are then folded into the kept rollups and milestone state
(:func:`tierline.engine.fold.fold_events`) unless ``--no-fold``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tierline.diagnostics import suggest
from tierline.errors import EngineError, IngestError, UsageError
from tierline.ingest.importer import ImportResult
from tierline.ingest.kinds import KINDS, kind_spec
from tierline.ingest.presets import PRESETS, check_preset
from tierline.ingest.reader import FORMATS, detect_format

if TYPE_CHECKING:
    from tierline.engine.fold import Folded

__all__ = ["import_command", "parse_pairs", "register"]

# Files at least this large show a progress bar (on stderr, and only when it is a terminal):
# small files import in well under a second and a bar would only flicker.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024

_CRM_PRESETS = ("salesforce", "hubspot")


def parse_pairs(option: str, pairs: list[str] | None, right: str) -> dict[str, str]:
    """Parse repeated ``LEFT=RIGHT`` option values into a dict (later ones win).

    The split is at the last ``=`` (a field or stage name never holds one; a file column
    might). ``right`` names the right-hand side in error messages.

    >>> parse_pairs("--map", ["Acct Id=id", "Size=acv"], "FIELD")
    {'Acct Id': 'id', 'Size': 'acv'}
    """
    parsed: dict[str, str] = {}
    bad: list[str] = []
    for pair in pairs or []:
        left, sep, value = pair.rpartition("=")
        left, value = left.strip(), value.strip()
        if not sep or not left or not value:
            bad.append(pair)
            continue
        parsed[left] = value
    if bad:
        shown = ", ".join(repr(b) for b in bad)
        raise UsageError(
            f"{option} {shown}: write {option} COLUMN={right}"
            if option == "--map"
            else f"{option} {shown}: write {option} FROM={right}"
        )
    return parsed


def _check_file(path: Path) -> None:
    """A clear error for a file that is missing, a folder, or of an unknown format."""
    if path.is_dir():
        raise IngestError(f"{path}: is a folder; give the file to import")
    if not path.exists():
        folder = path.parent if str(path.parent) else Path(".")
        near = ""
        if folder.is_dir():
            names = [p.name for p in folder.iterdir() if p.suffix.lower() in FORMATS]
            near = suggest(path.name, names) or ""
        raise IngestError(f"{path}: no such file" + (f"; {near}" if near else ""))
    detect_format(path)


def _skipped_label(result: ImportResult, preset: str | None) -> str:
    if preset in _CRM_PRESETS:
        return "lost deals skipped"
    if result.kind in ("events", "people"):
        # Only Segment calls skip rows: identify/group calls for events, track calls for people.
        return "other Segment calls skipped"
    return "skipped"


def _folded_line(folded: Folded) -> str:
    state = "up to date" if folded.milestones else "not kept (runs compute the gates in full)"
    return (
        f"folded in {folded.seconds:.2f} s: {folded.rolled:,} events into the rollups; "
        f"milestone state {state}"
    )


def _render(result: ImportResult, preset: str | None, file: Path, folded: Folded | None) -> str:
    rows = [
        ("read", result.read),
        ("landed", result.landed),
        ("duplicates skipped", result.duplicates),
    ]
    if result.skipped or preset in _CRM_PRESETS:
        rows.append((_skipped_label(result, preset), result.skipped))
    rows.append(("rejected", result.rejected))
    width = max(len(label) for label, _ in rows)
    lines = [f"{result.kind} ← {file}" + (f" (preset {preset})" if preset else "")]
    lines += [f"  {label:<{width}}  {count:>9,}" for label, count in rows]
    if result.ignored_columns:
        lines.append(f"  ignored columns: {', '.join(result.ignored_columns)}")
    if result.rejected:
        lines.append(f"rejects: {result.rejects_path}")
        for row, reason in result.sample_rejects:
            lines.append(f"  row {row}: {reason}")
        more = result.rejected - len(result.sample_rejects)
        if more > 0:
            lines.append(f"  … and {more:,} more")
    if folded is not None:
        lines.append(_folded_line(folded))
    return "\n".join(lines)


def _as_json(result: ImportResult, preset: str | None, file: Path, folded: Folded | None) -> str:
    return json.dumps(
        {
            "kind": result.kind,
            "file": str(file),
            "preset": preset,
            "read": result.read,
            "landed": result.landed,
            "duplicates": result.duplicates,
            "skipped": result.skipped,
            "rejected": result.rejected,
            "rejects_file": str(result.rejects_path) if result.rejects_path else None,
            "batch_id": result.batch_id,
            "ignored_columns": list(result.ignored_columns),
            "sample_rejects": [{"row": r, "reason": why} for r, why in result.sample_rejects],
            "folded": None if folded is None else folded.to_dict(),
        },
        indent=2,
    )


def import_command(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file.")],
    preset: Annotated[
        str | None,
        typer.Option("--preset", help=f"Export format: {', '.join(PRESETS)}."),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Read file column COLUMN as field FIELD: COLUMN=FIELD."),
    ] = None,
    stage_map: Annotated[
        list[str] | None,
        typer.Option(
            "--stage-map",
            help="Relabel a CRM deal stage: FROM=TO (e.g. 'Signed - Enterprise=Closed Won').",
        ),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder (default: found from here up)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    fold: Annotated[
        bool,
        typer.Option(
            "--fold/--no-fold",
            help="After events land, fold them into the rollups and milestone state now "
            "(default), so the next run does not; --no-fold leaves that to the next run.",
        ),
    ] = True,
) -> None:
    """Import a file of KIND into the project's store; rejected rows go to FILE.rejects.csv."""
    from tierline.engine.fold import fold_events
    from tierline.ingest.importer import import_file
    from tierline.policy.load import find_project, load_project
    from tierline.store.store import Store

    kind_spec(kind)
    if preset is not None:
        check_preset(preset, kind)
    renames = parse_pairs("--map", mapping, "FIELD")
    stages = parse_pairs("--stage-map", stage_map, "STAGE")
    if stages and preset not in _CRM_PRESETS:
        raise UsageError("--stage-map needs --preset salesforce or --preset hubspot")
    _check_file(file)
    loaded = load_project(find_project(project))
    show_bar = not as_json and file.stat().st_size >= PROGRESS_MIN_BYTES
    with Store.open(loaded.store_path, loaded.fields) as store:
        result = import_file(
            store,
            kind,
            file,
            preset=preset,
            mapping=renames,
            stage_map=stages,
            fields=loaded.fields,
            currency=loaded.currency,
            progress=show_bar,
        )
        folded = None
        if fold and kind == "events":
            try:
                folded = fold_events(store.con, loaded)
            except EngineError as exc:
                raise EngineError(
                    f"{result.landed:,} events landed, but folding them into the kept state "
                    f"failed (the next run folds them): {exc}"
                ) from exc
    typer.echo(
        _as_json(result, preset, file, folded) if as_json else _render(result, preset, file, folded)
    )
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``tierline import`` to the root app."""
    app.command("import")(import_command)
