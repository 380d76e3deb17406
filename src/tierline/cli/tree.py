"""``tierline tree …``: validate, export, import, walk and ask Decision DAG trees."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tierline.diagnostics import render_diagnostics
from tierline.dsl.canonical import load_tree_json
from tierline.dsl.export import EXPORTERS, export_tree
from tierline.dsl.layout import tree_to_dsl
from tierline.dsl.model import Tree
from tierline.dsl.parser import load_tree
from tierline.dsl.validate import check_tree, validate_tree
from tierline.dsl.walk import ask_tree, render_walk, walk_json, walk_tree
from tierline.errors import DiagnosticsError, TierlineError, UsageError

tree_app = typer.Typer(
    help="Read, check, convert, walk and draw Decision DAG trees.", no_args_is_help=True
)


def read_tree(path: Path) -> Tree:
    """A tree from a ``.dag`` file, or from a ``.json`` export of one."""
    if path.suffix.lower() == ".json":
        return load_tree_json(path)
    return load_tree(path)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        # Bytes, so that line ends are written exactly as the text has them.
        out.write_bytes(text.encode("utf-8"))


@tree_app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Tree files (.dag, or .json exports).")],
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check trees; print every problem (to stderr) and exit 1 if any file fails."""
    failed = False
    for path in files:
        try:
            tree = read_tree(path)
        except DiagnosticsError as exc:
            typer.echo(exc.render(), err=True)
            failed = True
            continue
        except TierlineError as exc:
            typer.echo(f"{path}: error: {exc}", err=True)
            failed = True
            continue
        diagnostics = validate_tree(tree)
        if diagnostics:
            sources = {tree.path: tree.source} if tree.source is not None else {}
            typer.echo(render_diagnostics(diagnostics, sources), err=True)
        errors = sum(d.is_error for d in diagnostics)
        warnings = len(diagnostics) - errors
        if errors or (strict and warnings):
            failed = True
            typer.echo(f"{path}: failed ({errors} errors, {warnings} warnings)", err=True)
        else:
            counts = f"{len(tree.questions)} questions, {len(tree.outcomes)} outcomes"
            typer.echo(f"{path}: ok ({counts})")
    if failed:
        raise typer.Exit(1)


@tree_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="Tree file (.dag, or a .json export).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(sorted(EXPORTERS))}.")
    ] = "json",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not to stdout.")
    ] = None,
) -> None:
    """Write a valid tree as JSON (or another export format)."""
    tree = check_tree(read_tree(file))
    _write(export_tree(tree, fmt), out)


@tree_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A Decision DAG JSON file.")],
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write the .dag here.")] = None,
) -> None:
    """Turn a Decision DAG JSON file back into DSL text."""
    _write(tree_to_dsl(load_tree_json(file)), out)


def _parse_answers(pairs: list[str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for pair in pairs:
        qid, sep, value = pair.partition("=")
        qid, value = qid.strip(), value.strip()
        if not sep or not qid or not value:
            raise UsageError(f"--answer expects QUESTION=ANSWER (e.g. Q1=B), got {pair!r}")
        if qid in answers:
            raise UsageError(f"--answer given twice for {qid}")
        answers[qid] = value
    return answers


@tree_app.command("walk")
def walk_command(
    file: Annotated[Path, typer.Argument(help="Tree file (.dag, or a .json export).")],
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer",
            "-a",
            help="QUESTION=ANSWER; the answer is its key (B, yes) or a unique label prefix.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the walk as JSON.")] = False,
) -> None:
    """Follow the given answers from the entry; print the path and the outcome."""
    tree = check_tree(read_tree(file))
    walk = walk_tree(tree, _parse_answers(answer or []))
    if as_json:
        typer.echo(json.dumps(walk_json(walk), ensure_ascii=False))
    else:
        typer.echo(render_walk(walk), nl=False)


def _read_line(prompt: str) -> str | None:
    typer.echo(prompt, nl=False)
    line = sys.stdin.readline()
    if not line:
        typer.echo("")
        return None
    return line


@tree_app.command("ask")
def ask_command(
    file: Annotated[Path, typer.Argument(help="Tree file (.dag, or a .json export).")],
) -> None:
    """Walk a tree interactively: type an answer key or label prefix, 'back' or 'quit'."""
    tree = check_tree(read_tree(file))
    typer.echo(tree.name or str(file))
    ask_tree(tree, _read_line, typer.echo)


def register(app: typer.Typer) -> None:
    app.add_typer(tree_app, name="tree")
