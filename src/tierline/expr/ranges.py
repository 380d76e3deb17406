"""Range labels: read answer labels such as ``Under $10,000`` or ``$10K-50K`` as intervals.

The forms understood (POLICY.md, "Range labels"):

- ``Under / Below / Less than / Fewer than / <`` X  →  value < X
- ``<= / ≤ / Up to / At most / No more than`` X, ``X or less / X or fewer``  →  value <= X
- ``Above / Over / More than / Greater than / >`` X  →  value > X
- ``X+ / X or more / X and above / At least / >= / ≥`` X  →  value >= X
- ``a – b`` (hyphen, en dash, em dash, ``to``, ``between a and b``)  →  a <= value <= b, but
  the upper end is open when b is also another answer's inclusive lower bound
  (see :func:`intervals_for_answers`).

Numbers may carry currency symbols ($ € £), thousands separators and a K/M suffix
(case-insensitive, each number its own: ``$0-10K`` is 0..10000), and a trailing unit word
(``users``, ``seats``, ``employees`` …).

Gap and overlap analysis reads the domain as the whole line, or as ``[0, ∞)`` when every
bound is non-negative (labels of money and counts); when every bound is a whole number,
values are read as whole numbers too, so ``1-10`` and ``11-50`` leave no gap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Interval",
    "RangeGap",
    "RangeOverlap",
    "find_gaps",
    "find_overlaps",
    "format_number",
    "intervals_for_answers",
    "parse_range_label",
]


def format_number(x: float) -> str:
    """``10000.0`` → ``'10000'``, ``2.5`` → ``'2.5'``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Interval:
    """A set of numbers between ``low`` and ``high``; None means unbounded on that side."""

    low: float | None
    high: float | None
    low_closed: bool = False
    high_closed: bool = False

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the interval.

        >>> Interval(10000, 75000, True, True).contains(75000)
        True
        """
        if self.low is not None and (x < self.low or (x == self.low and not self.low_closed)):
            return False
        return not (
            self.high is not None and (x > self.high or (x == self.high and not self.high_closed))
        )

    @property
    def is_empty(self) -> bool:
        """True when no number lies in the interval."""
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (
            self.low == self.high and not (self.low_closed and self.high_closed)
        )

    def to_sql(self, column: str = "value") -> str:
        """The interval as an SQL condition on ``column``.

        >>> Interval(10000, 75000, True, False).to_sql("acv")
        'acv >= 10000 AND acv < 75000'
        """
        parts: list[str] = []
        if self.low is not None:
            parts.append(f"{column} {'>=' if self.low_closed else '>'} {format_number(self.low)}")
        if self.high is not None:
            op = "<=" if self.high_closed else "<"
            parts.append(f"{column} {op} {format_number(self.high)}")
        return " AND ".join(parts) if parts else "TRUE"

    def __str__(self) -> str:
        low = "-inf" if self.low is None else format_number(self.low)
        high = "inf" if self.high is None else format_number(self.high)
        left = "[" if self.low is not None and self.low_closed else "("
        right = "]" if self.high is not None and self.high_closed else ")"
        return f"{left}{low}, {high}{right}"


@dataclass(frozen=True)
class RangeGap:
    """Values no answer takes, with one of them (a boundary value where possible)."""

    interval: Interval
    witness: float
    before: int | None  # index of the answer just below the gap, if any
    after: int | None  # index of the answer just above the gap, if any


@dataclass(frozen=True)
class RangeOverlap:
    """Values that answers ``first`` and ``second`` (indexes) both take, with a witness."""

    first: int
    second: int
    interval: Interval
    witness: float


_UNIT = (
    r"(?:users?|seats?|employees?|people|persons?|accounts?|customers?|licen[cs]es?|members?"
    r"|agents?|hours?|days?|weeks?|months?|years?|%|/\s*(?:yr|year|mo|month)"
    r"|per\s+(?:year|month|user|seat))"
)
_NUM = r"[$€£]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*[km](?![a-z]))?"
_NUMU = rf"(?P<NAME>{_NUM})(?:\s*{_UNIT})?"


def _pattern(template: str) -> re.Pattern[str]:
    text = template.replace("A", _NUMU.replace("NAME", "a")).replace(
        "B", _NUMU.replace("NAME", "b")
    )
    return re.compile(rf"^{text}(?:\s*{_UNIT})?$")


_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("lt", _pattern(r"(?:under|below|less\s+than|fewer\s+than|<)\s*A")),
    ("le", _pattern(r"(?:<=|≤|up\s+to|at\s+most|no\s+more\s+than)\s*A")),
    ("le", _pattern(r"A\s+or\s+(?:less|fewer|below)")),
    ("gt", _pattern(r"(?:above|over|more\s+than|greater\s+than|>)\s*A")),
    ("ge", _pattern(r"(?:>=|≥|at\s+least)\s*A")),
    ("ge", _pattern(r"A\s*\+")),
    ("ge", _pattern(r"A\s+(?:or\s+more|or\s+above|and\s+above|and\s+up|or\s+greater)")),
    ("span", _pattern(r"(?:from\s+)?A\s*(?:-|to)\s*B")),
    ("span", _pattern(r"between\s+A\s+and\s+B")),
)


def _number(text: str) -> float:
    raw = text.strip().lstrip("$€£").strip().replace(",", "")
    scale = 1.0
    if raw[-1] in "km":
        scale = 1_000.0 if raw[-1] == "k" else 1_000_000.0
        raw = raw[:-1].strip()
    return float(raw) * scale


def _parse(label: str) -> tuple[Interval, bool] | None:
    """The interval of a label and whether it was written as a span ``a – b``."""
    text = re.sub(r"\s+", " ", label.strip().lower())
    text = text.replace("–", "-").replace("—", "-").replace("−", "-")
    for kind, pattern in _FORMS:
        m = pattern.match(text)
        if m is None:
            continue
        a = _number(m.group("a"))
        if kind == "lt":
            return Interval(None, a, False, False), False
        if kind == "le":
            return Interval(None, a, False, True), False
        if kind == "gt":
            return Interval(a, None, False, False), False
        if kind == "ge":
            return Interval(a, None, True, False), False
        b = _number(m.group("b"))
        if b < a:
            return None
        return Interval(a, b, True, True), True
    return None


def parse_range_label(label: str) -> Interval | None:
    """The interval an answer label names, or None when it is not a range label.

    >>> str(parse_range_label("$10,000 – $75,000"))
    '[10000, 75000]'
    >>> parse_range_label("Yes") is None
    True
    """
    parsed = _parse(label)
    return parsed[0] if parsed else None


def intervals_for_answers(labels: Sequence[str]) -> list[Interval] | None:
    """The intervals of a question's answer labels, or None unless every label is a range.

    A span ``a – b`` whose ``b`` is another answer's inclusive lower bound is read as
    ``a <= value < b``, so ``$0-10K`` / ``$10K-50K`` do not overlap at 10000.
    """
    parsed = [_parse(label) for label in labels]
    if not labels or any(p is None for p in parsed):
        return None
    found = [p for p in parsed if p is not None]
    out: list[Interval] = []
    for i, (iv, is_span) in enumerate(found):
        if is_span and iv.high is not None:
            shared = any(
                j != i and other.low == iv.high and other.low_closed
                for j, (other, _) in enumerate(found)
            )
            if shared and iv.low != iv.high:
                iv = Interval(iv.low, iv.high, iv.low_closed, False)
        out.append(iv)
    return out


def _whole(intervals: Sequence[Interval]) -> bool:
    bounds = [b for iv in intervals for b in (iv.low, iv.high) if b is not None]
    return all(float(b).is_integer() for b in bounds)


def _domain(intervals: Sequence[Interval]) -> Interval:
    bounds = [b for iv in intervals for b in (iv.low, iv.high) if b is not None]
    if bounds and all(b >= 0 for b in bounds):
        return Interval(0.0, None, True, False)
    return Interval(None, None)


def _witness(iv: Interval, whole: bool) -> float | None:
    """A value inside ``iv`` (a bound where possible); None when ``whole`` and none fits."""
    if whole:
        if iv.low is None:
            high = 0.0 if iv.high is None else iv.high
            x = high if iv.high is not None and iv.high_closed else float(math.ceil(high) - 1)
        else:
            x = float(math.floor(iv.low) + (0 if iv.low_closed else 1))
        return x if iv.contains(x) else None
    if iv.low is not None and iv.low_closed:
        return iv.low
    if iv.high is not None and iv.high_closed:
        return iv.high
    if iv.low is None:
        return 0.0 if iv.high is None else iv.high - 1.0
    if iv.high is None:
        return iv.low + 1.0
    return (iv.low + iv.high) / 2.0


def _intersect(a: Interval, b: Interval) -> Interval:
    if a.low is None or (b.low is not None and b.low > a.low):
        low, low_closed = b.low, b.low_closed
    elif b.low is None or a.low > b.low:
        low, low_closed = a.low, a.low_closed
    else:
        low, low_closed = a.low, a.low_closed and b.low_closed
    if a.high is None or (b.high is not None and b.high < a.high):
        high, high_closed = b.high, b.high_closed
    elif b.high is None or a.high < b.high:
        high, high_closed = a.high, a.high_closed
    else:
        high, high_closed = a.high, a.high_closed and b.high_closed
    return Interval(low, high, low_closed, high_closed)


def find_overlaps(intervals: Sequence[Interval]) -> list[RangeOverlap]:
    """Every pair of intervals that share a value, with a witness (the lowest shared bound)."""
    whole = _whole(intervals)
    domain = _domain(intervals)
    out: list[RangeOverlap] = []
    for i, a in enumerate(intervals):
        for j in range(i + 1, len(intervals)):
            common = _intersect(a, intervals[j])
            if common.is_empty or _intersect(common, domain).is_empty:
                continue
            # Prefer a bound the answers themselves name; fall back to one inside the domain.
            witness = _witness(common, whole)
            if witness is None or not domain.contains(witness):
                common = _intersect(common, domain)
                witness = _witness(common, whole)
            if witness is not None:
                out.append(RangeOverlap(i, j, common, witness))
    return out


def _low_key(iv: Interval) -> tuple[float, int]:
    return (-math.inf if iv.low is None else iv.low, 0 if iv.low_closed else 1)


def find_gaps(intervals: Sequence[Interval]) -> list[RangeGap]:
    """The stretches of the domain no interval covers, each with a witness value."""
    whole = _whole(intervals)
    domain = _domain(intervals)
    order = sorted(range(len(intervals)), key=lambda k: _low_key(intervals[k]))
    gaps: list[RangeGap] = []
    # Everything below ``reach`` is covered, and ``reach`` itself when ``reach_closed``.
    reach = -math.inf if domain.low is None else domain.low
    reach_closed = False
    reach_index: int | None = None
    for k in order:
        iv = intervals[k]
        low = -math.inf if iv.low is None else iv.low
        touching = (
            low < reach or (low == reach and (iv.low_closed or reach_closed)) or low == -math.inf
        )
        if not touching:
            gap = Interval(
                None if reach == -math.inf else reach, low, not reach_closed, not iv.low_closed
            )
            _add_gap(gaps, gap, whole, reach_index, k)
        high = math.inf if iv.high is None else iv.high
        if high > reach or (high == reach and iv.high_closed and not reach_closed):
            reach, reach_closed, reach_index = high, iv.high_closed, k
    if reach != math.inf:
        low_bound = None if reach == -math.inf else reach
        _add_gap(gaps, Interval(low_bound, None, not reach_closed, False), whole, reach_index, None)
    return gaps


def _add_gap(
    gaps: list[RangeGap], gap: Interval, whole: bool, before: int | None, after: int | None
) -> None:
    if gap.is_empty:
        return
    witness = _witness(gap, whole)
    if witness is not None:
        gaps.append(RangeGap(gap, witness, before, after))
