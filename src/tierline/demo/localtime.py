"""Local business hours to UTC for the demo book: a per-zone, per-day UTC offset table.

Every timestamp of the book is an ``int64`` count of seconds since the epoch (UTC). Activity
happens on local days, in business-ish hours of the account's time zone; :class:`Clock`
turns (zone, local day, second of day) into UTC seconds, daylight saving time included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY",
    "ZONES",
    "ZONE_WEIGHTS",
    "Array",
    "Clock",
    "business_seconds",
    "shift_weekends",
    "weekday",
]

Array = npt.NDArray[Any]

DAY = 86_400

# A small set of IANA zones and how often a demo account sits in each.
ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
ZONE_WEIGHTS: tuple[float, ...] = (0.25, 0.12, 0.05, 0.15, 0.03, 0.12, 0.08, 0.05, 0.05, 0.04, 0.06)

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Clock:
    """UTC offsets of :data:`ZONES` for each local day from ``first_day`` to the as-of day.

    ``cutoff`` is the as-of instant (midnight UTC starting the as-of date), in epoch seconds;
    nothing in the book happens at or after it.
    """

    first_day: int
    offsets: Array
    cutoff: int
    as_of_day: int

    @classmethod
    def build(cls, as_of: date, days_back: int) -> Clock:
        """The offset table covering ``days_back`` days before ``as_of`` up to a day after it."""
        as_of_day = (as_of - _EPOCH).days
        first = as_of_day - days_back
        n_days = days_back + 3
        table = np.zeros((len(ZONES), n_days), dtype=np.int64)
        for z, name in enumerate(ZONES):
            zone = ZoneInfo(name)
            start = datetime(1970, 1, 1, 12, tzinfo=zone) + timedelta(days=first)
            table[z] = [_offset_seconds(start + timedelta(days=k), zone) for k in range(n_days)]
        return cls(first_day=first, offsets=table, cutoff=as_of_day * DAY, as_of_day=as_of_day)

    def to_utc(self, zone: Array, local_day: Array, second_of_day: Array) -> Array:
        """Epoch seconds (UTC) of a local wall-clock time in ``ZONES[zone]`` on ``local_day``."""
        col = np.clip(local_day - self.first_day, 0, self.offsets.shape[1] - 1)
        offset = self.offsets[zone, col]
        result: Array = local_day.astype(np.int64) * DAY + second_of_day - offset
        return result


def _offset_seconds(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.replace(tzinfo=zone)
    delta = local.utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def weekday(day: Array) -> Array:
    """Day of the week of an epoch day number, Monday = 0 (1970-01-01 was a Thursday)."""
    result: Array = (day + 3) % 7
    return result


def business_seconds(rng: np.random.Generator, n: int) -> Array:
    """Seconds of the local day for ``n`` actions: mostly 8:00–19:00, a few in the evening."""
    core = rng.normal(13.25 * 3600, 2.4 * 3600, n)
    core = np.clip(core, 7.5 * 3600, 19.5 * 3600)
    late = rng.uniform(6 * 3600, 23.5 * 3600, n)
    seconds = np.where(rng.random(n) < 0.92, core, late)
    result: Array = seconds.astype(np.int64)
    return result


def shift_weekends(rng: np.random.Generator, day: Array, keep: float = 0.12) -> Array:
    """Move most weekend days to the Friday before or the Monday after."""
    wd = weekday(day)
    move = (wd >= 5) & (rng.random(day.shape[0]) >= keep)
    shift = np.where(wd == 5, -1, 1)
    result: Array = np.where(move, day + shift, day)
    return result
