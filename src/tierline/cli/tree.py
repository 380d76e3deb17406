"""``tierline tree …``: validate, export, import, walk and ask Decision DAG trees."""

from __future__ import annotations

import typer

tree_app = typer.Typer(
    help="Read, check, convert, walk and draw Decision DAG trees.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(tree_app, name="tree")
