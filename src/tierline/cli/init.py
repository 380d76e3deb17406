"""``tierline init DIR``: create a policy project holding the seed pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierline.policy.scaffold import init_project


def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty.")
    ] = False,
) -> None:
    """Create a project: tierline.yaml, the seed tree, seed rule tables and empty folders."""
    written = init_project(directory, force=force)
    typer.echo(f"Created a tierline project in {directory}:")
    for path in written:
        typer.echo(f"  {path.relative_to(directory).as_posix()}")
    typer.echo("")
    typer.echo("Next steps:")
    typer.echo(f"  cd {directory}")
    typer.echo("  tierline lint                     # check the policy, show coverage gaps")
    typer.echo("  tierline import accounts FILE     # load your book (CSV, Parquet, JSON Lines)")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
