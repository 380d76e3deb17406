"""``tierline demo [DIR]``: a seed-pack project with a generated book, imported for real."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tierline.errors import UsageError

__all__ = ["DEMO_MARKER", "demo_command", "register"]

# Written into the data folder; marks a folder as a demo project that may be regenerated.
DEMO_MARKER = Path("data") / "demo.json"


def _parse_day(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date; write YYYY-MM-DD") from None


def _prepare(directory: Path) -> bool:
    """Check the folder may hold the demo; True when it already holds an earlier demo."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder")
    if not directory.is_dir() or not any(directory.iterdir()):
        return False
    if (directory / "tierline.yaml").is_file() and (directory / DEMO_MARKER).is_file():
        return True
    raise UsageError(
        f"{directory} is not empty and holds no tierline demo; choose a new folder "
        "(the demo replaces its project files, book and store)"
    )


def _remove_store(url: str) -> None:
    """Delete an earlier demo's DuckDB file (and its WAL) so the new book starts clean."""
    from tierline.store.store import resolve_location

    location = resolve_location(url)
    if location == ":memory:":
        return
    for path in (Path(location), Path(location + ".wal")):
        path.unlink(missing_ok=True)


def demo_command(
    directory: Annotated[
        Path, typer.Argument(help="Folder of the demo project (created or regenerated).")
    ] = Path("tierline-demo"),
    accounts: Annotated[int, typer.Option("--accounts", help="Accounts in the book.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the book.")] = 42,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The book's 'today', YYYY-MM-DD (default: today).")
    ] = None,
) -> None:
    """Create a seed-pack project with a generated book; import, assign and run it."""
    # Imported here: the command line starts fast, and other commands do not need these.
    from tierline.demo.accounts import DAYS_BACK
    from tierline.demo.assignment import assign_demo, render_assignment
    from tierline.demo.engine_step import render_run, run_demo
    from tierline.demo.generator import generate_book
    from tierline.demo.summary import render_summary, summarise
    from tierline.ingest.importer import import_file
    from tierline.policy.load import load_project
    from tierline.policy.scaffold import init_project
    from tierline.store.store import Store

    day = _parse_day(as_of)
    console = Console(highlight=False)
    again = _prepare(directory)
    started = time.perf_counter()
    book = generate_book(accounts, seed, day)
    generated = time.perf_counter() - started
    init_project(directory, force=again)
    project = load_project(directory)
    paths = book.write(directory / "data")
    console.print(
        f"Generated {accounts:,} accounts (seed {seed}, as of {day.isoformat()}) "
        f"in {generated:.1f}s → {directory / 'data'}",
        soft_wrap=True,
    )
    (directory / DEMO_MARKER).write_text(
        json.dumps(
            {"accounts": accounts, "seed": seed, "as_of": day.isoformat(), "digest": book.digest()},
            indent=2,
        )
        + "\n"
    )

    # Account versions count as loaded when the book's history begins, so that "as of T"
    # queries over the two years of history see the accounts.
    loaded_at = datetime(day.year, day.month, day.day) - timedelta(days=DAYS_BACK + 1)
    _remove_store(project.store_path)
    rejected = 0
    with Store.open(project.store_path, project.fields) as store:
        for kind, path in paths.items():
            began = time.perf_counter()
            result = import_file(
                store,
                kind,
                path,
                fields=project.fields,
                currency=project.currency,
                loaded_at=loaded_at,
            )
            rejected += result.rejected
            took = time.perf_counter() - began
            console.print(f"  imported {result.summary()} in {took:.1f}s", soft_wrap=True)
        console.print()
        render_summary(summarise(store), console)
        # Assign the book as `tierline assign --as-of DAY` would: as of the day's end.
        console.print()
        end_of_day = datetime(day.year, day.month, day.day, 23, 59, 59)
        assigned = assign_demo(store, project, end_of_day)
        render_assignment(assigned, console)
        # Then run the engine as `tierline run --as-of DAY` would, and show where things stand.
        console.print()
        render_run(run_demo(store, project, end_of_day), console)
    if rejected:
        raise UsageError(f"the demo book had {rejected} rejected rows; see the reject files")
    example = assigned.examples[0].account_id if assigned.examples else "ACCOUNT_ID"
    console.print(
        f"\nNext: cd {directory} && tierline lint && tierline explain {example} "
        f"&& tierline status --as-of {day.isoformat()} "
        f"&& tierline run --as-of {day.isoformat()} --dry-run",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``tierline demo`` to the root app."""
    app.command("demo")(demo_command)
