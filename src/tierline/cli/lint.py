"""``tierline lint``: check every file of a policy project, then coverage of its policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierline.diagnostics import Diagnostic, render_diagnostics
from tierline.policy.load import find_project, read_project
from tierline.policy.model import Project


def _coverage(project: Project) -> list[Diagnostic] | None:
    """Coverage diagnostics (gaps, overlaps) when the compiler provides them, else None."""
    try:
        from tierline.compile.coverage import coverage_diagnostics
    except ImportError:
        return None
    return coverage_diagnostics(project)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def lint_command(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder (default: found from here up)."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check the project (all files, all problems at once) and the coverage of its policy."""
    root = find_project(project)
    reading = read_project(root)
    diagnostics = list(reading.diagnostics)
    checked = "files"
    if reading.project is not None:
        found = _coverage(reading.project)
        if found is None:
            checked = "files (coverage analysis unavailable)"
        else:
            diagnostics.extend(found)
            checked = "files and coverage"
    if diagnostics:
        typer.echo(render_diagnostics(diagnostics, reading.sources))
    errors = sum(d.is_error for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    notes = len(diagnostics) - errors - warnings
    version = f", policy version {reading.project.version}" if reading.project else ""
    failed = errors > 0 or (strict and warnings > 0)
    verdict = "failed" if failed else "ok"
    typer.echo(
        f"lint {verdict}: {_count(errors, 'error')}, {_count(warnings, 'warning')}, "
        f"{_count(notes, 'note')} ({checked} of {root}{version})"
    )
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("lint")(lint_command)
