"""When the day's post may go out: the publishing window, in pure functions of the date and the schedule."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from bot.config import ScheduleConfig

Phase = Literal["early", "open", "closed"]


@dataclass(frozen=True, slots=True)
class Window:
    """The stretch of time in which `day`'s post may go out by itself (aware, UTC)."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime

    def phase(self, now: dt.datetime) -> Phase:
        if now < self.start:
            return "early"
        return "open" if now < self.end else "closed"


def window(day: dt.date, schedule: ScheduleConfig) -> Window:
    """From `time` on `day` in the blog's zone until `catch_up` later, but never past midnight.

    Computed in UTC: Python compares and adds aware datetimes that share a tzinfo by wall time,
    which is wrong across a DST change. A `time` in the skipped spring hour resolves to the
    instant zoneinfo gives it (fold=0); one in the repeated autumn hour to its first occurrence.
    """
    zone = schedule.timezone
    start = dt.datetime.combine(day, schedule.time, tzinfo=zone).astimezone(dt.UTC)
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    return Window(day, start, min(start + schedule.catch_up, midnight))


def current_window(now: dt.datetime, schedule: ScheduleConfig) -> Window:
    """The window of the blog's local date at `now`. Earlier days are never looked at again."""
    return window(now.astimezone(schedule.timezone).date(), schedule)
