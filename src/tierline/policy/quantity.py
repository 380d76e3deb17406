"""Quantities written as text in track files: time spans and completion shares.

``"5 business days"``, ``"2 weeks"``, ``"24 hours"`` (singular units too) are offsets;
``0.85``, ``"85%"``, ``[0.65, "80%"]``, ``"40-60%"`` and the open ``"85%+"`` are shares.
"""

from __future__ import annotations

import re

from tierline.policy.track import OffsetUnit

__all__ = ["parse_completion", "parse_offset", "parse_share"]

_OFFSET = re.compile(r"^\s*(\d+)\s+(business[ _]days?|hours?|days?|weeks?)\s*$", re.IGNORECASE)
_UNITS: dict[str, OffsetUnit] = {"hour": "hours", "day": "days", "week": "weeks"}
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_OPEN_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*\+\s*$")
_SHARE_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*(?:-|–|—|to)\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_offset(text: str) -> tuple[int, OffsetUnit] | None:
    """``"5 business days"`` → ``(5, "business_days")``; None when unreadable.

    >>> parse_offset("1 week"), parse_offset("24 hours"), parse_offset("soon")
    ((1, 'weeks'), (24, 'hours'), None)
    """
    match = _OFFSET.match(text)
    if match is None:
        return None
    word = re.sub(r"[ _]+", " ", match.group(2).lower())
    unit: OffsetUnit = "business_days" if word.startswith("business") else _UNITS[word.rstrip("s")]
    return int(match.group(1)), unit


def parse_share(value: object) -> float | None:
    """A share as a fraction: ``0.85`` or ``"85%"`` → 0.85; None when unreadable or > 1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if 0 <= value <= 1 else None
    if isinstance(value, str) and (match := _SHARE.match(value)):
        number = float(match.group(1)) / 100
        return number if number <= 1 else None
    return None


def parse_completion(value: object) -> tuple[float, float] | None:
    """A completion target as ``(lo, hi)`` fractions; None when unreadable.

    >>> parse_completion("85%+"), parse_completion([0.65, "80%"]), parse_completion("40-60%")
    ((0.85, 1.0), (0.65, 0.8), (0.4, 0.6))
    """
    if isinstance(value, str):
        if match := _OPEN_SHARE.match(value):
            lo = float(match.group(1)) / 100
            return (lo, 1.0) if lo <= 1 else None
        if match := _SHARE_RANGE.match(value):
            lo, hi = float(match.group(1)) / 100, float(match.group(2)) / 100
            return (lo, hi) if hi <= 1 else None
        return None
    if isinstance(value, list) and len(value) == 2:
        lo_share, hi_share = parse_share(value[0]), parse_share(value[1])
        if lo_share is not None and hi_share is not None:
            return lo_share, hi_share
    return None
