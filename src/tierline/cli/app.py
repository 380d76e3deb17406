"""The root Typer app. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tierline",
    help="Customer-success tier policy you can lint, test, diff and backtest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error."),
) -> None:
    """tierline: decide, by explicit policy, how much human attention each account gets."""


def _register() -> None:
    # One line per command module; each adds its commands or sub-apps to ``app``.
    from tierline.cli import tree

    tree.register(app)
    from tierline.cli import init, lint

    init.register(app)
    lint.register(app)
    from tierline.cli import compile as compile_cli

    compile_cli.register(app)
    from tierline.cli import assign, explain, override

    assign.register(app)
    explain.register(app)
    override.register(app)
    from tierline.cli import demo

    demo.register(app)
    from tierline.cli import importer

    importer.register(app)
    from tierline.cli import run as run_cli
    from tierline.cli import status as status_cli

    run_cli.register(app)
    status_cli.register(app)


_register()
