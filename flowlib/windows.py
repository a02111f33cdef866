"""Date logic for flows: which partition or window a run loads, from its scheduled start.

Pure functions. A flow derives its slot from the run's *scheduled* start time (never the wall
clock), so a retry, a late run or a backfill loads exactly the data of its slot, and the legacy
flow and its staggered twin load the same partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive input is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_datetime(moment: datetime) -> datetime:
    """A plain ``datetime`` in UTC (pendulum's subclass converted away)."""
    m = as_utc(moment)
    return datetime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=UTC)


def iso_z(moment: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` and second precision, as the source APIs and state files use."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (``Z`` or an offset) to an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def local_date(moment: datetime, timezone: str = "UTC") -> date:
    """The calendar date of a moment in a time zone."""
    return as_utc(moment).astimezone(ZoneInfo(timezone)).date()


def previous_day(moment: datetime, timezone: str = "UTC") -> date:
    """The last complete day before the moment, in a time zone (daily loads of yesterday)."""
    return local_date(moment, timezone) - timedelta(days=1)


def floor_hour(moment: datetime) -> datetime:
    """The start of the moment's hour in UTC."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """A half-open load window ``(start, end]`` in UTC."""

    start: datetime
    end: datetime

    @property
    def is_empty(self) -> bool:
        """Nothing to load (the watermark is already at or past the end)."""
        return self.start >= self.end


def incremental_window(
    scheduled: datetime,
    watermark: datetime | None,
    grain: timedelta = timedelta(hours=1),
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """The window an incremental run loads.

    ``end`` defaults to the scheduled start floored to the hour (the last complete slot), ``start``
    to the watermark, or one grain before ``end`` when there is none; so a missed run is caught up
    by the next one and two runs of the same slot load the same data.
    """
    window_end = as_utc(end) if end else floor_hour(scheduled)
    if start:
        window_start = as_utc(start)
    elif watermark:
        window_start = as_utc(watermark)
    else:
        window_start = window_end - grain
    return Window(window_start, window_end)
