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


@dataclass(frozen=True, slots=True)
class Release:
    """What readers may see at one moment: no post before it is out ("no spoilers").

    A day's post is out once its day is past, or on its day from the publish time on, or earlier
    if an admin already published it (`sent_today`: today's ledger row is `sent`).
    """

    today: dt.date
    opens: dt.datetime  # today's publish time
    now: dt.datetime
    sent_today: bool = False

    def released(self, day: dt.date) -> bool:
        if day != self.today:
            return day < self.today
        return self.now >= self.opens or self.sent_today

    @property
    def last_day(self) -> dt.date:
        """The newest day readers may see posts of (lists and search stop there)."""
        return self.today if self.released(self.today) else self.today - dt.timedelta(days=1)


def release_at(now: dt.datetime, schedule: ScheduleConfig, *, sent_today: bool = False) -> Release:
    """The release rules at `now`; `sent_today` matters only before the publish time."""
    today = window(now.astimezone(schedule.timezone).date(), schedule)
    return Release(today.day, today.start, now, sent_today)
