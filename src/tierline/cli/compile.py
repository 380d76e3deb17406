"""``tierline compile``: print the SQL each segmentation compiles to, in a chosen dialect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierline.compile import DIALECTS, check_dialect, segmentation_select, to_sql
from tierline.diagnostics import suggest
from tierline.errors import UsageError
from tierline.policy.load import find_project, load_project
from tierline.policy.model import Project, Segmentation

__all__ = ["compile_command", "compiled_sql", "register"]


def _chosen(project: Project, name: str | None) -> tuple[Segmentation, ...]:
    if name is None:
        return project.segmentations
    seg = project.segmentation(name)
    if seg is None:
        known = [s.id for s in project.segmentations]
        hint = suggest(name, known)
        listed = ", ".join(known) or "none"
        raise UsageError(
            f"no segmentation {name!r} in {project.root}"
            + (f"; {hint}" if hint else f" (segmentations: {listed})")
        )
    return (seg,)


def compiled_sql(
    project: Project, name: str | None = None, dialect: str = "duckdb", source: str = "accounts"
) -> str:
    """The SQL of one segmentation (or all), each after a ``-- segmentation: id`` line."""
    chosen = check_dialect(dialect)
    parts = [
        f"-- segmentation: {seg.id}\n"
        f"{to_sql(segmentation_select(seg, project, source), chosen, pretty=True)};\n"
        for seg in _chosen(project, name)
    ]
    return "\n".join(parts)


def compile_command(
    segmentation: Annotated[
        str | None, typer.Argument(help="Segmentation id (default: every segmentation).")
    ] = None,
    dialect: Annotated[
        str, typer.Option("--dialect", "-d", help=f"SQL dialect: {' | '.join(DIALECTS)}.")
    ] = "duckdb",
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder (default: found from here up)."),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Table or view of accounts the SQL reads.")
    ] = "accounts",
) -> None:
    """Print the SELECT (account_id, outcome, explanation) of each segmentation."""
    check_dialect(dialect)
    loaded = load_project(find_project(project))
    typer.echo(compiled_sql(loaded, segmentation, dialect, source), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``tierline compile`` to the root app."""
    app.command("compile")(compile_command)
