"""Calendar arithmetic in SQL: local time, business days, offsets in an account's time zone.

Every function here builds a sqlglot expression (DuckDB dialect) to use inside a bigger,
set-based query; nothing runs per row in Python. Inputs and outputs are naive ``TIMESTAMP``
values meaning UTC, as everywhere in the store; ``zone`` is an IANA time-zone name (a column
or a literal), resolved by DuckDB's bundled ICU time zones, daylight saving time included.

Offsets (``Offset.unit``):

- ``hours``: absolute time, ``ts + N hours`` in UTC;
- ``days`` / ``weeks``: calendar days in the zone: take ``ts``'s local date and time, add
  ``N`` (× 7) days to the date, keep the local time of day, convert back to UTC. Across a
  DST change the UTC hour shifts and the local hour stays;
- ``business_days``: Monday–Friday in the zone: take ``ts``'s local date, advance ``N``
  weekdays (the N-th weekday *after* that date, so Saturday + 1 is Monday and Friday + 1 is
  the next Monday), keep the local time of day, convert back to UTC. ``N <= 0`` keeps the
  date (negative amounts do not count backwards).

A local time that does not exist (the hour skipped when clocks spring forward) resolves with
the offset in force before the change, i.e. one hour later on the wall clock (02:30 on
2026-03-08 in New York is 07:30 UTC = 03:30 EDT); a local time that happens twice (the hour
repeated in autumn) resolves to the *second* instant, in standard time (01:30 on 2026-11-01
in New York is 06:30 UTC). Both are DuckDB/ICU's rules and are pinned by tests.
"""

from __future__ import annotations

import duckdb
import sqlglot
from sqlglot import exp

from tierline.errors import EngineError
from tierline.policy.track import Offset, OffsetUnit

__all__ = [
    "OFFSET_UNITS",
    "Operand",
    "add_business_days",
    "business_day_delta",
    "shift",
    "shift_offset",
    "step_days",
    "to_local",
    "to_utc",
    "unknown_zones",
]

OFFSET_UNITS: tuple[OffsetUnit, ...] = ("hours", "days", "business_days", "weeks")

# An SQL operand: a sqlglot expression, SQL text (DuckDB dialect), or an int literal.
Operand = exp.Expression | str | int


def _expr(value: Operand) -> exp.Expression:
    if isinstance(value, exp.Expression):
        return value.copy()
    if isinstance(value, bool):
        raise EngineError(f"a calendar operand must be SQL or an integer, not {value!r}")
    if isinstance(value, int):
        return exp.Literal.number(value)
    parsed = sqlglot.parse_one(value, read="duckdb")
    if not isinstance(parsed, exp.Expression):
        raise EngineError(f"cannot read {value!r} as an SQL expression")
    return parsed


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _paren(value: exp.Expression) -> exp.Expression:
    return value if isinstance(value, exp.Column | exp.Literal | exp.Paren) else exp.paren(value)


# A naive UTC TIMESTAMP and the TIMESTAMPTZ of the same instant share their microseconds
# since the epoch, so the UTC side of a conversion is integer work (make_timestamptz /
# make_timestamp of epoch_us): exact, and about 7x cheaper than ICU's timezone('UTC', …).
# Only the named zone's side goes through ICU.


def to_local(ts: Operand, zone: Operand) -> exp.Expression:
    """The local wall-clock TIMESTAMP in ``zone`` of the UTC instant ``ts``."""
    utc = _call("make_timestamptz", _call("epoch_us", _expr(ts)))
    return _call("timezone", _expr(zone), utc)


def to_utc(local: Operand, zone: Operand) -> exp.Expression:
    """The naive UTC TIMESTAMP of the wall-clock time ``local`` in ``zone``."""
    instant = _call("timezone", _expr(zone), _expr(local))
    return _call("make_timestamp", _call("epoch_us", instant))


def business_day_delta(day: Operand, n: Operand) -> exp.Expression:
    """Calendar days from the DATE ``day`` to the ``n``-th weekday after it (0 when n <= 0).

    A weekend day counts from the Friday before it: with ``w = isodow(day)``, the result is
    ``7·(n // 5) + n % 5 + (2 if min(w, 5) + n % 5 > 5) − max(w − 5, 0)``.
    """
    count = _paren(_expr(n))
    dow = _call("isodow", _expr(day))
    five = exp.Literal.number(5)
    rest = exp.paren(exp.Mod(this=count.copy(), expression=five.copy()))
    weeks = exp.Mul(
        this=exp.Literal.number(7),
        expression=exp.paren(exp.IntDiv(this=count.copy(), expression=five.copy())),
    )
    weekday = exp.func("least", dow.copy(), five.copy())
    jump = (
        exp.Case()
        .when(exp.Add(this=weekday, expression=rest.copy()) > five.copy(), exp.Literal.number(2))
        .else_(exp.Literal.number(0))
    )
    back = exp.func("greatest", exp.Sub(this=dow, expression=five.copy()), exp.Literal.number(0))
    delta = exp.Sub(
        this=exp.Add(this=exp.Add(this=weeks, expression=rest), expression=exp.paren(jump)),
        expression=back,
    )
    zero = exp.Literal.number(0)
    return exp.paren(exp.Case().when(count.copy() <= zero.copy(), zero).else_(delta))


def _local_days(local: exp.Expression, days: exp.Expression) -> exp.Expression:
    return exp.Add(this=local, expression=_call("to_days", days))


def add_business_days(ts: Operand, n: Operand, zone: Operand) -> exp.Expression:
    """``n`` business days (Mon–Fri in ``zone``) after the UTC instant ``ts``, in UTC."""
    local = to_local(ts, zone)
    delta = business_day_delta(exp.cast(local.copy(), "DATE"), n)
    return to_utc(_local_days(local, delta), zone)


def _static_shift(
    ts: exp.Expression,
    n: exp.Expression,
    unit: OffsetUnit,
    zone: exp.Expression,
    local: exp.Expression | None,
) -> exp.Expression:
    if unit == "hours":
        return exp.Add(this=ts, expression=_call("to_hours", n))
    here = local if local is not None else to_local(ts, zone)
    if unit == "days":
        days = n
    elif unit == "weeks":
        days = exp.Mul(this=exp.Literal.number(7), expression=_paren(n))
    else:
        days = business_day_delta(exp.cast(here.copy(), "DATE"), n)
    return to_utc(_local_days(here, days), zone)


def shift(
    ts: Operand,
    n: Operand,
    unit: OffsetUnit | exp.Expression,
    zone: Operand,
    *,
    local: Operand | None = None,
) -> exp.Expression:
    """The UTC instant ``n`` ``unit`` after the UTC instant ``ts`` in ``zone``.

    ``unit`` is an :data:`OFFSET_UNITS` word, or an SQL expression yielding one per row (the
    result is then a CASE; an unknown word gives NULL). ``local`` may pass ``to_local(ts,
    zone)`` already computed by the query, to save a time-zone conversion per row.
    """
    here = _expr(local) if local is not None else None
    at, count, where = _expr(ts), _expr(n), _expr(zone)
    if isinstance(unit, str):
        if unit not in OFFSET_UNITS:
            raise EngineError(f"unknown offset unit {unit!r}; expected one of {OFFSET_UNITS}")
        return _static_shift(at, count, unit, where, here)
    case = exp.Case()
    for word in OFFSET_UNITS:
        branch = _static_shift(
            at.copy(), count.copy(), word, where.copy(), here.copy() if here else None
        )
        case = case.when(unit.copy().eq(exp.Literal.string(word)), branch)
    return exp.paren(case)


def shift_offset(ts: Operand, offset: Offset, zone: Operand) -> exp.Expression:
    """``ts`` moved by a policy :class:`~tierline.policy.track.Offset` in ``zone`` (UTC)."""
    if offset.amount < 0:
        raise EngineError(f"offset {offset} is negative")
    return shift(ts, offset.amount, offset.unit, zone)


def step_days(n: Operand, unit: OffsetUnit | exp.Expression) -> exp.Expression:
    """A lower bound, in days (DOUBLE), of the span ``n`` ``unit`` (business days ≥ days).

    Used to size occurrence series: ``k`` steps of ``n unit`` span at least ``k`` times this,
    minus at most one hour of a DST change.
    """
    count = exp.cast(_expr(n), "DOUBLE")
    factors: dict[OffsetUnit, exp.Expression] = {
        "hours": exp.Div(this=count.copy(), expression=exp.Literal.number(24)),
        "days": count.copy(),
        "business_days": count.copy(),
        "weeks": exp.Mul(this=exp.Literal.number(7), expression=count.copy()),
    }
    if isinstance(unit, str):
        if unit not in factors:
            raise EngineError(f"unknown offset unit {unit!r}; expected one of {OFFSET_UNITS}")
        return factors[unit]
    case = exp.Case()
    for word, value in factors.items():
        case = case.when(unit.copy().eq(exp.Literal.string(word)), value)
    return exp.paren(case)


def unknown_zones(con: duckdb.DuckDBPyConnection, select: str) -> list[str]:
    """The distinct zone names produced by ``select`` (one column) that DuckDB does not know.

    Names compare case-insensitively, as DuckDB's ``timezone()`` does; NULLs are ignored.
    """
    rows = con.execute(
        f"SELECT DISTINCT z FROM ({select}) AS zones(z) WHERE z IS NOT NULL AND lower(z) NOT IN "
        "(SELECT lower(name) FROM pg_timezone_names()) ORDER BY z"
    ).fetchall()
    return [str(row[0]) for row in rows]
