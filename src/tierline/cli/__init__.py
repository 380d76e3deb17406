"""Command line: ``tierline …``. Errors print a message and exit 1; ``--debug`` adds a traceback."""

from __future__ import annotations

import sys
import traceback

from tierline.errors import TierlineError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tierline`` console script."""
    from tierline.cli.app import app

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="tierline", standalone_mode=True)
    except TierlineError as exc:
        if debug:
            traceback.print_exc()
        print(str(exc), file=sys.stderr)
        sys.exit(1)
