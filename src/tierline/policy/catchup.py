"""The catch-up window: the ``run:`` section of ``tierline.yaml`` and ``--catch-up``.

A run appends every action candidate due by its ``as_of`` to the outbox. Those due before
``as_of - catch_up`` are recorded as ``expired`` (their idempotency key is kept, so they
never come back, but nobody is asked to act on a kickoff that was due two years ago)::

    run:
      catch_up: 7 days      # "48 hours", "2 weeks", "7d", "0d" (only what is due now), all

``all`` keeps every overdue action pending (no window). The default is 7 days.
"""

from __future__ import annotations

import re
from datetime import timedelta

from tierline.policy.model import DEFAULT_CATCH_UP, Loc, RunSettings
from tierline.policy.shape import Report
from tierline.policy.yaml_marks import MarkedDict

__all__ = ["CATCH_UP_ALL", "format_catch_up", "parse_catch_up", "read_run_settings"]

CATCH_UP_ALL = "all"
_SECTION = "run"
_SPAN = re.compile(r"^\s*(\d+)\s*(h|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EXAMPLES = "'7 days', '48 hours', '2 weeks', '0d' or 'all'"


def parse_catch_up(value: object) -> timedelta | None:
    """A catch-up window (``"7 days"``, ``"12h"``, ``"2w"``, ``0``); None for ``"all"``.

    Raises ValueError saying what is accepted when ``value`` is none of those.

    >>> parse_catch_up("7 days"), parse_catch_up("0d"), parse_catch_up("all")
    (datetime.timedelta(days=7), datetime.timedelta(0), None)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 0:
            return timedelta(0)
        raise ValueError(f"catch-up window {value} has no unit: write '{value} days'")
    if not isinstance(value, str):
        raise ValueError(f"catch-up window {value!r}: give a duration such as {_EXAMPLES}")
    if value.strip().lower() == CATCH_UP_ALL:
        return None
    match = _SPAN.match(value)
    if match is None:
        raise ValueError(f"catch-up window {value!r}: give a duration such as {_EXAMPLES}")
    return int(match.group(1)) * _UNITS[match.group(2)[0].lower()]


def format_catch_up(window: timedelta | None) -> str:
    """The window in words: ``7-day``, ``36-hour``, ``0-day``, or ``unlimited`` (None).

    >>> format_catch_up(timedelta(days=7)), format_catch_up(timedelta(hours=36))
    ('7-day', '36-hour')
    """
    if window is None:
        return "unlimited"
    if window % timedelta(days=1) == timedelta(0):
        return f"{window // timedelta(days=1)}-day"
    if window % timedelta(hours=1) == timedelta(0):
        return f"{window // timedelta(hours=1)}-hour"
    return f"{window.total_seconds():g}-second"


def read_run_settings(report: Report, path: str, data: MarkedDict) -> RunSettings:
    """The ``run:`` section of tierline.yaml (shape checked already); defaults when absent.

    An unreadable ``catch_up`` is reported at its value, and the default is returned.
    """
    raw = data.get(_SECTION)
    if not isinstance(raw, MarkedDict):
        return RunSettings()  # absent, or not a mapping (the shape check reported it)
    if "catch_up" not in raw:
        return RunSettings(loc=_loc(path, raw.start.line, raw.start.col, 1))
    pos = raw.value_pos["catch_up"]
    loc = _loc(path, pos.line, pos.col, pos.length)
    try:
        window = parse_catch_up(raw["catch_up"])
    except ValueError as exc:
        report.add(path, pos, str(exc))
        return RunSettings(DEFAULT_CATCH_UP, loc)
    return RunSettings(window, loc)


def _loc(path: str, line: int, col: int, length: int) -> Loc:
    return Loc(path, line, col, length)
